"""The state-convention sensitivity check of ``probe run``: the headline under the other convention.

probe trains every model on sentences that each start from a zero state and scores every item from that
state (``TrainConfig.state = 'sentence'``). The other convention, one token stream with the state carried
across sentences (pytorch/examples' word_language_model; Gulordava et al. 2018 and Marvin & Linzen 2018
trained so), must then score items after preceding text, as Gulordava et al.'s evaluation does (their
script keeps the state across the test sentences). For the first ``RunConfig.sensitivity_seeds``
(corpus, seed) replicates each cell is also trained that way and scored after ``sensitivity_contexts``
stretches of its corpus' valid split (margins averaged), and from a zero state too (a state such a model
never saw: what scoring stream-trained models like sentence-trained ones would report). The table sets the three side by side on
the pooled conflict items with one attractor, for the same seeds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from probe.core.io import write_text_atomic
from probe.run.config import RunConfig, stream_pairs

CONVENTIONS = (("sentence", "trained on sentences, scored from a zero state (probe)"),
               ("stream-warm", "trained on a stream, scored after corpus text"),
               ("stream-cold", "trained on a stream, scored from a zero state"))
CONTEXT_TOKENS = 200   # tokens of corpus text before each item (whole sentences)


def _conflict_rows(scores: pd.DataFrame, pool: tuple[str, ...], level: float = 0.95) -> pd.DataFrame:
    """Per arch x rate x convention: the pooled syntactic choice rate on conflict items with one attractor."""
    from probe.evaluate import POOL
    from probe.metrics import aggregate_seeds

    seeds = aggregate_seeds(scores, level=level, pools={POOL: pool} if pool else None)
    construction = POOL if pool else "all"
    sel = seeds[(seeds["construction"] == construction) & (seeds["level"] == "match") & (seeds["metric"] == "accuracy")
                & (seeds["condition"] == "conflict") & (seeds["n_attractors"] == 1)]
    keep = [c for c in ("arch", "attractor_rate", "convention") if c in sel.columns]
    return sel[keep + ["value", "ci_low", "ci_high", "n_seeds", "n_items"]].reset_index(drop=True)


def state_sensitivity(cfg: RunConfig, *, work: Path, root: Path, models: list[Path], pool: tuple, labels: dict,
                      log: Callable[[str], None] = print) -> str:
    """Score the sensitivity models (their folders ``models``) warm and cold, set them beside the main models of
    the same seeds, write ``root/state_sensitivity.csv`` and return the report section ('' without models)."""
    from probe.core.tables import fmt_ci, markdown_table
    from probe.data.corpus import load_corpus
    from probe.data.items import read_items
    from probe.models.checkpoint import load_checkpoint
    from probe.scoring.items import corpus_contexts, score_after_contexts, score_items
    from probe.scoring.neural import LMScorer

    if not models:
        return ""
    items = read_items(work / "benchmark")
    frames = []
    for folder in models:
        ckpt = load_checkpoint(folder)
        corpus = load_corpus(ckpt_corpus(folder))
        contexts = corpus_contexts(corpus.splits["valid"], ckpt.vocab.eos_id, cfg.sensitivity_contexts, CONTEXT_TOKENS)
        info = {"model": folder.name, "arch": ckpt.model_config.arch, "seed": int(ckpt.train_config.get("seed", 0)),
                "path": str(folder)}
        warm = score_after_contexts(ckpt.model, ckpt.vocab, items, contexts)
        cold = score_items(LMScorer(ckpt.model, ckpt.vocab, info=info), items)
        for frame, convention in ((warm, "stream-warm"), (cold, "stream-cold")):
            frame = frame.assign(model=folder.name, arch=info["arch"], seed=info["seed"], convention=convention)
            for key, value in labels.get(str(folder), {}).items():
                frame[key] = value
            frames.append(frame)
    main = pd.read_parquet(work / "eval" / "scores.parquet")
    sentence_models = {Path(m).name.removesuffix("-stream") for m in map(str, models)}
    main = main[main["model"].isin(sentence_models)].assign(convention="sentence")
    scores = pd.concat([main] + frames, ignore_index=True)
    table = _conflict_rows(scores, tuple(pool))
    write_text_atomic(root / "state_sensitivity.csv", table.to_csv(index=False))
    log(f"state sensitivity: {len(models)} stream-trained models scored after corpus text and from a zero state")
    keys = [c for c in ("arch", "attractor_rate") if c in table.columns]
    cells = [fmt_ci(v, lo, hi) for v, lo, hi in zip(table["value"], table["ci_low"], table["ci_high"])]
    wide = table.assign(cell=cells)
    wide = wide.pivot_table(index=keys, columns="convention", values="cell", aggfunc="first").reset_index()
    wide = wide[keys + [c for c, _ in CONVENTIONS if c in wide.columns]]
    wide = wide.rename(columns=dict(CONVENTIONS))

    pairs = stream_pairs(cfg)
    seeds = ", ".join(f"corpus {c} seed {s}" if len(cfg.corpus_seeds) > 1 else str(s) for c, s in pairs)
    return ("Syntactic choice rate on the pooled conflict items (one attractor) of the same training seeds "
            f"({seeds}) under each state convention: probe's (every training sentence and every item from a zero "
            "state after `<eos>`), the other one (one carried token stream in training; items scored after "
            f"{cfg.sensitivity_contexts} stretches of about {CONTEXT_TOKENS} tokens of the corpus' valid split, "
            "margins averaged), and stream-trained models scored from a zero state, a state they never saw. "
            "`state_sensitivity.csv` holds the rows.\n\n" + markdown_table(wide))


def ckpt_corpus(folder: Path) -> str:
    """The corpus folder a training run recorded in its config.json."""
    import json

    return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))["corpus"]
