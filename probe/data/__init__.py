"""Data: the lexicon and grammar, constructions and built items, item folders and schemas, corpora, importers."""
