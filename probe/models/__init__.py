"""Models: the cell table, recurrent stacks, the transformer, the language model, checkpoints, the classifier.

The names most code needs are importable from here (``from probe.models import ModelConfig, build_model``);
everything else lives in its submodule.
"""
from probe.models.cells import CELLS, Cell, get_cell, recurrent_cells, register_cell
from probe.models.config import ModelConfig, archs, check_model_config
from probe.models.lm import LanguageModel, build_model, count_parameters
from probe.models.checkpoint import Checkpoint, load_checkpoint, read_checkpoint, save_checkpoint
from probe.models.classifier import ClassifierConfig, NumberClassifier

__all__ = ["CELLS", "Cell", "Checkpoint", "ClassifierConfig", "LanguageModel", "ModelConfig", "NumberClassifier",
           "archs", "build_model", "check_model_config", "count_parameters", "get_cell", "load_checkpoint",
           "read_checkpoint", "recurrent_cells", "register_cell", "save_checkpoint"]
