"""The one-command benchmark (``probe run``), in the order it runs: config, restartable stages, published
test sets, the report, and ``run_benchmark`` chaining them all (``probe.run.benchmark``)."""
from probe.run.config import PRESETS, ExtraData, RunConfig, load_run_config, train_config
from probe.run.published import critical_in_vocab, score_extra_data
from probe.run.benchmark import run_analyses, run_benchmark  # isort: skip (it imports the modules above)

__all__ = ["PRESETS", "ExtraData", "RunConfig", "critical_in_vocab", "load_run_config", "run_analyses",
           "run_benchmark", "score_extra_data", "train_config"]
