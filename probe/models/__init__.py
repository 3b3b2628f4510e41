"""Models: the cell table, recurrent stacks, the transformer, the language model, checkpoints, the classifier."""
