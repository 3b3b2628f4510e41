"""Number prediction vs the language-model objective (Linzen et al. 2016), by number of attractors.

For each language model, uni- and bidirectional number classifiers (``probe.train_number``) of its size are
trained on the prefixes of its corpus' sentences and compared with the language model's own choice on the same
test items: accuracy by number of attractors, per item class, with bootstrap intervals over items
(``number_prediction.csv``, ``number_prediction.json``, ``figures/number_prediction.{png,pdf}``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
import os
from pathlib import Path
import time

import pandas as pd

from probe.analyses.base import (
    Analysis, AnalysisInputs, corpus_for, one_thread, register_analysis, select_models, train_models, write_outputs
)
from probe.core.config import CheckedConfig, config_to_dict, nest_keys
from probe.core.errors import ProbeError
from probe.jobs import TrainJob
from probe.train_number import (
    NumberConfig, grammar_examples, homogeneous_class, item_correctness, item_examples, load_number_checkpoint,
    load_test_items, read_corpus_config, save_examples
)

STEM = "number_prediction"
# Linzen, Dupoux & Goldberg (2016), supervised number prediction with an LSTM on Wikipedia: accuracy with
# 0-4 attractors. Published numbers, not ours.
LINZEN_2016_SUPERVISED = {0: 0.993, 1: 0.953, 2: 0.902, 3: 0.843, 4: 0.786}


# ---------------------------------------------------------------------------------------------------
# The analysis: classifiers vs the language-model objective, by number of attractors


# How every classifier trains (its cell, sizes, direction and seed follow the language model it is compared with)
TRAIN = NumberConfig(n_sentences=20_000, epochs=3, batch_size=64, lr=3e-3, pooling="final")


@dataclass(frozen=True)
class NumberAnalysisConfig(CheckedConfig):
    """Options of ``probe number``: what it trains and compares (classifier sizes follow each language model's)."""

    attractor_rate: float | None = None          # the corpus whose models are compared (None: the largest rate)
    max_seeds: int = 3                           # training seeds per arch (the run's first ones)
    directions: tuple[str, ...] = ("uni", "bi")  # classifier encoders
    train: NumberConfig = TRAIN                  # how each classifier trains (Adam; arch, bidirectional, layers,
                                                 #   hidden, emb, nonlinearity and seed: per model)
    constructions: tuple[str, ...] = ("simple", "pp")  # test items: attractors in PPs, as Linzen's figure
    n_boot: int = 1000                           # bootstrap resamples for item CIs
    seed: int = 0                                # bootstrap seed

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """Configs written before ``train`` held the classifiers' training options had them at the top level."""
        return nest_keys(data, cls, "train")


# Inside `probe run` (about 40 s of 2 CPU cores): fewer sentences, so a larger step (measured: with 8,000
# sentences x 3 epochs, lr 1e-2 reached 0.95-1.0 on 1-4 mismatched attractors where lr 3e-3 stayed at 0.2-0.7).
SMALL_NUMBER = NumberAnalysisConfig(max_seeds=1, train=replace(TRAIN, n_sentences=6_000, epochs=3, lr=1e-2),
                                    n_boot=200)
# The quick preset's toy sizes (a few seconds once torch and matplotlib are imported): a smoke test, not a result.
QUICK_NUMBER = NumberAnalysisConfig(max_seeds=1, train=replace(TRAIN, n_sentences=1_000, epochs=2, lr=1e-2),
                                    n_boot=100)
PRESETS = {"full": NumberAnalysisConfig(), "small": SMALL_NUMBER, "quick": QUICK_NUMBER}


def _accuracy_rows(res: pd.DataFrame, keys: dict, *, n_boot: int, seed: int) -> list[dict]:
    """Accuracy with a bootstrap CI per (n_attractors, match) cell of per-item correctness ``res``."""
    from probe.metrics import bootstrap_ci

    rows = []
    for (k, match), g in res.groupby(["n_attractors", "match"], sort=True):
        v = g["correct"].to_numpy(dtype=float)
        lo, hi = bootstrap_ci(v, n_boot=n_boot, seed=seed)
        rows.append({**keys, "n_attractors": int(k), "match": match, "n_items": int(len(v)),
                     "accuracy": float(v.mean()), "ci_low": lo, "ci_high": hi})
    return rows


def run(inputs: AnalysisInputs, cfg: NumberAnalysisConfig) -> dict:
    """Train uni-/bidirectional number classifiers and compare them with the LMs, by number of attractors.

    ``models``: [{"path", "arch", "attractor_rate", "seed"}] (training folders); ``corpus_dirs``:
    {attractor_rate: corpus folder}; ``items``: the benchmark (its test split, or all items).
    For each recurrent arch and seed at one attractor rate, classifiers with the language model's
    emb/hidden/layers are trained on the prefixes of that corpus' sentences (``out/work/number/``).
    Writes ``out/number_prediction.csv`` (objective, arch, seed, attractor_rate, n_attractors, match,
    n_items, accuracy, ci_low, ci_high), ``out/number_prediction.json`` and
    ``out/figures/number_prediction.{png,pdf}``. Returns {"files", "markdown", "seconds", "accuracy"}.
    """
    models, corpus_dirs, items, out = list(inputs.models), dict(inputs.corpus_dirs), inputs.items, inputs.out
    t0 = time.perf_counter()
    bad = [d for d in cfg.directions if d not in ("uni", "bi")]
    if bad or not cfg.directions:
        raise ProbeError(f"number directions must be uni and/or bi, got {list(cfg.directions)}")
    rate, chosen = select_models(models, cfg.attractor_rate, max_seeds=cfg.max_seeds)
    corpus = corpus_for(corpus_dirs, rate)
    if corpus is None:
        raise ProbeError(f"no corpus folder for the models' attractor rate {rate}; give the corpus they were "
                         "trained on (--corpus DIR)")
    read_corpus_config(corpus)
    test = load_test_items(items, constructions=cfg.constructions)
    with one_thread():
        rows, summaries, facts = _compare_objectives(chosen, corpus, test, cfg, out=Path(out), rate=rate,
                                                     inputs=inputs)
        table = pd.DataFrame(rows, columns=["objective", "arch", "seed", "attractor_rate", "n_attractors", "match",
                                            "n_items", "accuracy", "ci_low", "ci_high"])
        fig = plot_number_prediction(table)
    md = number_markdown(table, facts=facts, config=cfg, rate=rate)
    seconds = round(time.perf_counter() - t0, 2)
    info = {"config": config_to_dict(cfg), "attractor_rate": rate, "corpus": str(corpus), "items": str(items),
            "training_data": facts, "classifiers": summaries,
            "published_linzen_2016_supervised": LINZEN_2016_SUPERVISED, "seconds": seconds}
    files = write_outputs(out, tables={STEM: table}, figures={STEM: fig}, records={STEM: info})
    headline = (table[table["match"].isin(["none", "conflict"])]
                .groupby(["objective", "arch", "n_attractors"])["accuracy"].mean())
    return {"files": files, "markdown": md, "seconds": seconds,
            "accuracy": {f"{o}/{a}/{k}": float(v) for (o, a, k), v in headline.items()}}


def _compare_objectives(chosen: list[dict], corpus: str | os.PathLike, test: pd.DataFrame, cfg: NumberAnalysisConfig,
                        *, out: Path, rate: float, inputs: AnalysisInputs) -> tuple[list[dict], list[dict], dict]:
    """Score each LM on the test items and train + test its uni/bi classifiers -> (rows, summaries, data facts).
    The classifiers train as jobs on ``inputs.executor`` (one thread each), from examples the driver computes
    once per vocabulary and writes beside them (``out/work/number/``)."""
    from probe.models.checkpoint import load_checkpoint
    from probe.scoring.items import score_items
    from probe.scoring.neural import LMScorer

    lm_rows: list[list[dict]] = []
    examples_cache: dict = {}
    exclude = set(test["prefix"].astype(str))
    work = out / "work" / "number"
    jobs, per_model = [], []
    for m in chosen:
        ckpt = load_checkpoint(m["path"])
        vocab, mc, arch, seed = ckpt.vocab, ckpt.model_config, m["arch"], int(m.get("seed", 0) or 0)
        key = {"arch": arch, "seed": seed, "attractor_rate": rate}
        data, in_vocab = item_examples(test, vocab)
        kept = test[in_vocab].reset_index(drop=True)
        scorer = LMScorer(ckpt.model, vocab, info={"model": Path(m["path"]).name, "arch": arch, "seed": seed,
                                                   "path": str(m["path"])})
        scores = score_items(scorer, kept)
        scored = ~scores["excluded"].to_numpy()
        lm = pd.DataFrame({"n_attractors": kept["n_attractors"].to_numpy()[scored],
                           "match": homogeneous_class(kept)[scored],
                           "correct": scores["correct"].to_numpy()[scored].astype(bool)})
        lm_rows.append(_accuracy_rows(lm, {"objective": "lm", **key}, n_boot=cfg.n_boot, seed=cfg.seed))
        if vocab.itos not in examples_cache:
            examples = grammar_examples(corpus, vocab, n_sentences=cfg.train.n_sentences,
                                        valid_fraction=cfg.train.valid_fraction, seed=0, exclude_prefixes=exclude)
            path = save_examples(work / f"examples-{len(examples_cache)}.npz", examples)
            examples_cache[vocab.itos] = (path, examples[2])
        folders = []
        for direction in cfg.directions:
            ncfg = replace(cfg.train, arch=arch, bidirectional=direction == "bi", layers=mc.layers, hidden=mc.hidden,
                           emb=mc.emb, nonlinearity=mc.nonlinearity, seed=seed)
            folders.append((direction, work / f"{arch}-{direction}-r{rate:g}-s{seed}"))
            jobs.append(TrainJob(config=config_to_dict(ncfg), corpus=str(corpus), out=str(folders[-1][1]),
                                 examples=str(examples_cache[vocab.itos][0]), threads=1, kind="number"))
        per_model.append((key, data, in_vocab, folders))
    summaries = train_models(inputs, jobs, what="number")
    rows: list[dict] = []
    for lm_part, (key, data, in_vocab, folders) in zip(lm_rows, per_model):
        rows += lm_part
        for direction, folder in folders:
            model = load_number_checkpoint(folder).model
            res = item_correctness(model, test, data)[in_vocab]
            rows += _accuracy_rows(res, {"objective": f"number-{direction}", **key}, n_boot=cfg.n_boot,
                                   seed=cfg.seed)
    facts = next(iter(examples_cache.values()))[1] if examples_cache else {}
    return rows, summaries, facts


# ---------------------------------------------------------------------------------------------------
# Figure and report section


OBJECTIVE_STYLES = {"number-uni": "-", "number-bi": "--", "lm": ":"}


def plot_number_prediction(table: pd.DataFrame):
    """Accuracy vs number of attractors: mismatched (left) and matched (right) panels, each starting at the
    0-attractor items; one line per objective x arch (arch: marker, objective: line style), mean over seeds."""
    from matplotlib.figure import Figure

    from probe.core.style import arch_order, arch_style, figure_style

    with figure_style():
        fig = Figure(figsize=(9.0, 4.0), layout="constrained")
        if not len(table):
            ax = fig.add_subplot(1, 1, 1)
            ax.text(0.5, 0.5, "no test items", ha="center", va="center")
            ax.set_axis_off()
            return fig
        agg = table.groupby(["objective", "arch", "n_attractors", "match"], as_index=False).agg(
            accuracy=("accuracy", "mean"), n_items=("n_items", "sum"), n_seeds=("seed", "nunique"))
        archs = arch_order(agg["arch"])
        for i, match in enumerate(("conflict", "matched")):
            ax = fig.add_subplot(1, 2, i + 1)
            sub = agg[agg["match"].isin(["none", match])]
            for obj in ("number-bi", "number-uni", "lm"):
                for arch in archs:
                    d = sub[(sub["objective"] == obj) & (sub["arch"] == arch)].sort_values("n_attractors")
                    if not len(d):
                        continue
                    marker, _, colour = arch_style(arch, archs)
                    ax.plot(d["n_attractors"], d["accuracy"], ls=OBJECTIVE_STYLES.get(obj, "-"), marker=marker,
                            color=colour, mfc="white" if obj == "lm" else colour, label=f"{obj} {arch}")
            if match == "conflict":
                ks = sorted(LINZEN_2016_SUPERVISED)
                ax.plot(ks, [LINZEN_2016_SUPERVISED[k] for k in ks], color="black", lw=0.8, ls=(0, (1, 1)),
                        marker="x", label="Linzen+ 2016 supervised LSTM\n(published, Wikipedia)")
            ax.axhline(0.5, color="0.5", lw=0.8, ls=":", zorder=0)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xticks(sorted(sub["n_attractors"].unique()))
            ax.set_xlabel("number of attractors")
            ax.set_ylabel("accuracy (predicts the head's number)")
            per = sub.groupby(["objective", "arch", "n_attractors"])["n_items"].sum()
            n = f"{int(per.min())}" if per.min() == per.max() else f"{int(per.min())}-{int(per.max())}"
            ax.set_title(f"{match} attractors (0: no attractor)\nn = {n} item scores per point", fontsize=9)
        handles, labels = fig.axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=7, loc="outside right center", frameon=False)
        fig.suptitle("Number prediction: supervised classifiers (solid: unidirectional, dashed: bidirectional)\n"
                     "vs the language-model objective (dotted, open markers); mean over seeds", fontsize=9)
    return fig


def number_markdown(table: pd.DataFrame, *, facts: dict, config: NumberAnalysisConfig, rate: float) -> str:
    """The report section: accuracy by attractors (mismatched) per objective x arch, Linzen's numbers beside."""
    from probe.core.tables import markdown_table

    sub = table[table["match"].isin(["none", "conflict"])]
    if not len(sub):
        return "No test items with 0 or mismatched attractors.\n"
    agg = sub.groupby(["objective", "arch", "n_attractors"]).agg(acc=("accuracy", "mean"), n=("n_items", "sum"))
    ks = sorted(sub["n_attractors"].unique())
    order = {"number-bi": 0, "number-uni": 1, "lm": 2}
    lines = []
    for (obj, arch) in sorted({(o, a) for o, a, _ in agg.index}, key=lambda t: (order.get(t[0], 9), t[1])):
        row = {"objective": obj, "arch": arch}
        for k in ks:
            v = agg.loc[(obj, arch, k)] if (obj, arch, k) in agg.index else None
            row[f"{k} attr."] = f"{v['acc']:.3f} (n={int(v['n'])})" if v is not None else ""
        lines.append(row)
    lines.append({"objective": "published: Linzen et al. 2016, supervised", "arch": "lstm",
                  **{f"{k} attr.": f"{LINZEN_2016_SUPERVISED[k]:.3f}" if k in LINZEN_2016_SUPERVISED else ""
                     for k in ks}})
    n_seeds = table.groupby(["objective", "arch"])["seed"].nunique().max()
    text = (f"Classifiers read `<eos>` + the prefix and predict the verb's number; the language models (same "
            f"emb/hidden/layers, trained on the same corpus, attractor rate {rate:g}) choose between the two verb "
            f"forms. Classifier training data: {facts.get('examples_train', '?')} dependencies from "
            f"{facts.get('sentences', '?')} of the corpus' training sentences "
            f"({100 * facts.get('train_attracted_share', float('nan')):.1f}% cross a noun of the other number), "
            f"{config.train.epochs} epochs. Test: the benchmark's {', '.join(config.constructions) or 'all'} items; "
            f"accuracy on items whose attractors all differ from the head (0 = no attractor), mean over "
            f"{n_seeds} seed(s), n = item scores. The last row is Linzen et al. (2016)'s published supervised "
            "LSTM on Wikipedia (0-4 attractors: "
            + "/".join(f"{v:.3f}" for _, v in sorted(LINZEN_2016_SUPERVISED.items()))
            + "): a different corpus and test set, shown only as a reference shape.\n\n")
    return text + markdown_table(pd.DataFrame(lines))


ANALYSIS = register_analysis(Analysis("number", "Number prediction: supervised vs language model", NumberAnalysisConfig,
                                      PRESETS, run, needs=("models", "corpus_dirs", "items")))
