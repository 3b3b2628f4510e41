"""Install probe: `pip install -e .` (add `[test]` for the test tools, `[cluster]` to train on Slurm)."""
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="probe",
    version="0.1.0",
    description="Do neural language models learn syntax or word order? Subject-verb agreement benchmark "
                "for RNN/LSTM/GRU language models.",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["probe", "probe.*"]),
    package_data={"probe": ["resources/*.tsv", "resources/*.json"]},
    install_requires=[
        # torch: any 2.x release from 2.1 on; on a machine without torch, install the build you want
        # first (the README's commands install 2.13.0, the CPU build on our CI machines).
        "torch>=2.1",
        "datasets>=2.16",
        "spacy>=3.5",
        "scikit-learn>=1.2",
        "matplotlib>=3.7",   # figure legends placed "outside", Legend.legend_handles
        "numpy>=1.23",
        "pandas>=1.5",      # tables for metrics and plots (already a dependency of datasets)
        "tqdm>=4.60",       # progress bars (already a dependency of datasets)
        "pyyaml>=6.0",      # YAML run configs (already a dependency of datasets)
    ],
    extras_require={
        # transformers for tests/test_hf.py (a tiny GPT-2 built offline; the tests skip without it): on top
        # of torch and datasets, pip added 141 MB in 55 s (transformers 129 MB, tokenizers, safetensors)
        # submitit for tests/test_jobs.py's Slurm tests (they also need a reachable Slurm; they skip without one);
        # lm-eval and minicons for tests/test_export.py's cross-checks (the [lmeval] extra: +170 MB, 28 s)
        "test": ["pytest>=7", "transformers>=4.36", "submitit>=1.5", "lm-eval>=0.4.13,<0.5", "minicons>=0.3.39"],
        # probe run --executor slurm: jobs go to Slurm through submitit (pure Python: a 76 kB wheel + cloudpickle)
        "cluster": ["submitit>=1.5"],
        "hf": ["transformers>=4.36"],
        # the field's harnesses, for `probe export lm-eval` and tests/test_export.py's cross-checks (they skip
        # without them): on top of [test], pip added 170 MB in 28 s (lm-eval 0.4.13, minicons 0.3.39, accelerate,
        # evaluate, sacrebleu, nltk, ...); the cross-checks ran with these versions
        "lmeval": ["lm-eval>=0.4.13,<0.5", "minicons>=0.3.39", "transformers>=4.36"],
        # spaCy's lemma tables: probe validate then also checks that the two verb forms share a lemma and
        # that a singular head's bad verb is no past tense of another verb (lexicon checks use them too)
        "validate": ["spacy-lookups-data>=1.0"],
    },
    entry_points={"console_scripts": ["probe=probe.cli:main"]},
)
