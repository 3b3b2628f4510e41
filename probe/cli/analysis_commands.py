"""The analyses' commands: number, diagnose, gradients, clipping, depth, and the generic analyze."""
from __future__ import annotations

import argparse

from probe.core.errors import ProbeError
from probe.cli.common import SUMMARIES, _nonneg_int, _positive_int, command


@command
def _add_number(sub: argparse._SubParsersAction) -> None:
    from probe.analyses.number import NumberAnalysisConfig

    d = NumberAnalysisConfig()
    p = sub.add_parser(
        "number", help=SUMMARIES["number"],
        description="For each language model given, train a unidirectional and a bidirectional number classifier of "
                    "the same size on the prefixes of the corpus' sentences (predict the verb's number from the words "
                    "before it), and compare accuracy by number of attractors with the language model's own choice "
                    "on the same test items. Writes OUT/number_prediction.csv, number_prediction.json, "
                    "figures/number_prediction.{png,pdf} and the classifiers under OUT/work/number/. "
                    "(One classifier alone: `probe train --objective number`.)")
    p.add_argument("--model", action="append", required=True, metavar="DIR",
                   help="a language model's training folder or model.pt (all trained on --corpus); repeat")
    p.add_argument("--corpus", required=True, metavar="DIR", help="the synthetic corpus folder the models were trained on")
    p.add_argument("--items", required=True, metavar="DIR", help="test items (their test split, or all items)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder (files are replaced one by one)")
    p.add_argument("--sentences", type=_positive_int, default=d.n_sentences,
                   help=f"corpus training sentences the classifiers read (default {d.n_sentences})")
    p.add_argument("--epochs", type=_positive_int, default=d.epochs, help=f"classifier epochs (default {d.epochs})")
    p.add_argument("--directions", nargs="+", choices=("uni", "bi"), default=list(d.directions),
                   help="classifier encoders (default: uni bi)")
    p.add_argument("--constructions", nargs="+", metavar="NAME", default=list(d.constructions),
                   help=f"test constructions (default: {' '.join(d.constructions)})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    def run(a: argparse.Namespace) -> int:
        import dataclasses
        import math

        from probe.analyses.base import AnalysisInputs, describe_models
        from probe.analyses.number import read_corpus_config, run as run_number

        rate = float(read_corpus_config(a.corpus).get("attractor_rate", math.nan))
        models = describe_models(a.model, attractor_rate=rate)
        cfg = dataclasses.replace(d, attractor_rate=rate, max_seeds=len(models), n_sentences=a.sentences,
                                  epochs=a.epochs, directions=tuple(a.directions),
                                  constructions=tuple(a.constructions))
        res = run_number(AnalysisInputs(models=tuple(models), corpus_dirs={rate: a.corpus}, items=a.items, out=a.out,
                                        progress=not a.no_progress), cfg)
        print(res["markdown"])
        print(f"wrote {len(res['files'])} files to {a.out} in {res['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    from probe.analyses.diagnose import DiagnoseConfig

    d = DiagnoseConfig()
    p = sub.add_parser(
        "diagnose", help=SUMMARIES["diagnose"],
        description="Cache every layer's hidden (and LSTM cell) states over each item's prefix in one batched pass per "
                    "model, then fit cross-validated logistic-regression probes (scikit-learn) decoding the head's "
                    "number at the head, each attractor and the word before the verb, with a control task (a random "
                    "bit per head lemma) and selectivity (Hewitt & Liang 2019). Then zero the --ablate units most "
                    "predictive of number at every step and compare agreement accuracy with random units zeroed "
                    "(Lakretz et al. 2019). Writes OUT/diagnose.csv, ablation.csv, diagnose.json and "
                    "figures/{diagnose,ablation}.{png,pdf}.")
    p.add_argument("--model", action="append", required=True, metavar="DIR",
                   help="a language model's training folder or model.pt; repeat for several")
    p.add_argument("--items", required=True, metavar="DIR", help="item dataset (probe build folder or .jsonl)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder (files are replaced one by one)")
    p.add_argument("--ablate", type=_nonneg_int, default=d.ablate,
                   help=f"number units zeroed in the ablation (0: none; default {d.ablate})")
    p.add_argument("--random-draws", type=_nonneg_int, default=d.random_draws,
                   help=f"random unit sets zeroed for comparison (default {d.random_draws})")
    p.add_argument("--max-items", type=_positive_int, default=d.max_items,
                   help=f"items per model, a seeded sample (default {d.max_items})")
    p.add_argument("--folds", type=_positive_int, default=d.folds, help=f"cross-validation folds (default {d.folds})")
    p.add_argument("--constructions", nargs="+", metavar="NAME", default=list(d.constructions),
                   help=f"constructions probed (default: {' '.join(d.constructions)})")
    p.add_argument("--along", action="store_true", help="also probe at every offset from the head")
    p.add_argument("--seed", type=int, default=d.seed, help="item sample, folds, control labels, random units")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    def run(a: argparse.Namespace) -> int:
        import dataclasses

        from probe.analyses.base import AnalysisInputs, describe_models
        from probe.analyses.diagnose import check_diagnose_config, run as run_diagnose

        cfg = dataclasses.replace(d, max_seeds=len(a.model), ablate=a.ablate, random_draws=a.random_draws,
                                  max_items=a.max_items, folds=a.folds, constructions=tuple(a.constructions),
                                  along=a.along, seed=a.seed)
        check_diagnose_config(cfg)
        res = run_diagnose(AnalysisInputs(models=tuple(describe_models(a.model)), items=a.items, out=a.out,
                                          progress=not a.no_progress), cfg)
        print(res["markdown"])
        print(f"wrote {len(res['files'])} files to {a.out} in {res['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_gradients(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gradients", help=SUMMARIES["gradients"],
        description="Measure the mean norm of dJ(t)/dh(t-l), l = 0..L, for fresh models of every --variants cell "
                    "(at initialisation) and for every --model (trained), from one backward pass per batch of "
                    "corpus windows; fit an exponential decay per cell; with --items, the gradient of each "
                    "item's verb margin w.r.t. the head and attractor nouns. Writes OUT/gradients.csv, "
                    "gradients_fit.csv, gradients_sim.csv, gradients_items.csv, gradients.json and "
                    "OUT/figures/gradients*.png/pdf (other files in OUT are left alone).")
    p.add_argument("--model", action="append", default=[], metavar="DIR",
                   help="a trained model (training folder or model.pt); repeat for several")
    p.add_argument("--corpus", metavar="DIR", help="corpus folder for the windows (default: the trained models' "
                   "corpus from their config.json; without any: random tokens)")
    p.add_argument("--items", metavar="DIR", help="agreement items for the item gradients (needs --model)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder")
    p.add_argument("--size", choices=("full", "small", "quick"), default="full",
                   help="analysis size preset (default full); the options below override it")
    p.add_argument("--max-distance", type=_positive_int, help="largest distance L (default 60)")
    p.add_argument("--sequences", type=_positive_int, help="windows per model (default 512)")
    p.add_argument("--variants", nargs="+", metavar="SPEC",
                   help="fresh cells at init, as arch[:nonlinearity=relu|forget_bias=X] "
                        "(default: srn gru lstm lstm:forget_bias=1)")
    p.add_argument("--n-items", type=_nonneg_int, help="items sampled for the item gradients (default 2000)")
    p.add_argument("--seed", type=int, help="seed for windows, item sample and fresh models (default 0)")

    def run(a: argparse.Namespace) -> int:
        import dataclasses

        from probe.analyses.gradients import PRESETS, gradients_analysis

        given = {"max_distance": a.max_distance, "n_sequences": a.sequences, "n_items": a.n_items, "seed": a.seed,
                 "variants": tuple(a.variants) if a.variants else None}
        cfg = dataclasses.replace(PRESETS[a.size], **{k: v for k, v in given.items() if v is not None})
        if a.items and not a.model:
            raise ProbeError("--items needs at least one trained --model (item gradients use trained models)")
        result = gradients_analysis(model_dirs=a.model, corpus=a.corpus, items=a.items, out=a.out, config=cfg,
                                    progress=True)
        print(result["markdown"])
        print(f"wrote {len(result['files'])} files to {a.out} in {result['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_clipping(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clipping", help=SUMMARIES["clipping"],
        description="Train the same small language model per cell at a deliberately large learning rate with "
                    "gradient-norm clipping off (0) and at each --clips threshold; count non-finite (skipped) and "
                    "clipped steps, and report the final validation perplexity and agreement accuracy. Runs that "
                    "stop after too many non-finite steps are recorded as 'stopped'. Writes OUT/clipping.csv, "
                    "clipping_traces.csv, clipping.json and OUT/figures/clipping.png/pdf.")
    p.add_argument("--corpus", required=True, metavar="DIR", help="corpus folder written by `probe corpus`")
    p.add_argument("--items", metavar="DIR", help="agreement items for the accuracy (default: none)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder")
    p.add_argument("--size", choices=("full", "small", "quick"), default="full",
                   help="analysis size preset (default full); the options below override it")
    p.add_argument("--archs", nargs="+", metavar="SPEC",
                   help="cells as arch[:nonlinearity=relu|forget_bias=X] (default: srn srn:nonlinearity=relu lstm)")
    p.add_argument("--clips", nargs="+", type=float, metavar="NORM", help="thresholds, 0 = off (default 0 0.25 1 5)")
    p.add_argument("--lr", type=float, help="learning rate for every run (default 5)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="optimizer (default sgd)")
    p.add_argument("--steps", type=_positive_int, help="updates per run (default 300)")
    p.add_argument("--hidden", type=_positive_int, help="units (and embedding size) per model (default 64)")
    p.add_argument("--seed", type=int, help="seed (default 0)")

    def run(a: argparse.Namespace) -> int:
        import dataclasses

        from probe.analyses.clipping import PRESETS, clipping_analysis

        given = {"archs": tuple(a.archs) if a.archs else None, "clips": tuple(a.clips) if a.clips else None,
                 "lr": a.lr, "optimizer": a.optimizer, "max_steps": a.steps, "hidden": a.hidden,
                 "emb": a.hidden, "seed": a.seed}
        cfg = dataclasses.replace(PRESETS[a.size], **{k: v for k, v in given.items() if v is not None})
        result = clipping_analysis(corpus=a.corpus, items=a.items, out=a.out, config=cfg, progress=True)
        print(result["markdown"])
        print(f"wrote {len(result['files'])} files to {a.out} in {result['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_depth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "depth", help=SUMMARIES["depth"],
        description="Train one model per cell x --layers x skip connection (none, residual, dense, highway; a "
                    "single layer has none) on a corpus until validation stops improving, then report agreement "
                    "accuracy (conflict vs matched items with 1+ attractors) and gradient norms from J(t) to the "
                    "input and the first layer, at distance 0 and --distance, at initialisation and after "
                    "training. Writes OUT/depth.csv, depth.json and OUT/figures/depth.png/pdf.")
    p.add_argument("--corpus", required=True, metavar="DIR", help="corpus folder written by `probe corpus`")
    p.add_argument("--items", metavar="DIR", help="agreement items for the accuracies (default: none)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder")
    p.add_argument("--size", choices=("full", "small", "quick"), default="full",
                   help="analysis size preset (default full); the options below override it")
    p.add_argument("--archs", nargs="+", metavar="SPEC", help="cells (default: srn gru lstm)")
    p.add_argument("--layers", nargs="+", type=_positive_int, metavar="N", help="depths (default 1 2 4 6)")
    p.add_argument("--skips", nargs="+", choices=("none", "residual", "dense", "highway"),
                   help="skip connections to compare (default: all four)")
    p.add_argument("--steps", type=_positive_int,
                   help="a fixed number of updates per model instead of training to convergence")
    p.add_argument("--workers", type=_positive_int, default=1, help="training processes (default 1)")
    p.add_argument("--hidden", type=_positive_int, help="units (and embedding size) per layer (default 64)")
    p.add_argument("--distance", type=_positive_int, help="distance for the gradient norms (default 10)")
    p.add_argument("--seed", type=int, help="seed (default 0)")

    def run(a: argparse.Namespace) -> int:
        import dataclasses

        from probe.analyses.depth import PRESETS, depth_analysis

        given = {"archs": tuple(a.archs) if a.archs else None, "layers": tuple(a.layers) if a.layers else None,
                 "skips": tuple(a.skips) if a.skips else None, "max_steps": a.steps,
                 "stop_after": 0 if a.steps else None, "hidden": a.hidden, "emb": a.hidden, "distance": a.distance,
                 "seed": a.seed}
        cfg = dataclasses.replace(PRESETS[a.size], **{k: v for k, v in given.items() if v is not None})
        result = depth_analysis(corpus=a.corpus, items=a.items, out=a.out, config=cfg, progress=True,
                                workers=a.workers)
        print(result["markdown"])
        print(f"wrote {len(result['files'])} files to {a.out} in {result['seconds']:.1f} s")
        return 0

    p.set_defaults(func=run)


@command
def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help=SUMMARIES["analyze"], add_help=False,
        description="Run a registered analysis (probe.analyses: gradients, clipping, depth, number, diagnose, or "
                    "one a user registered) on trained models, corpora and items, with a size preset; every field "
                    "of the analysis' config is a flag that overrides the preset. `probe analyze NAME --help` "
                    "lists them.")

    def run(a: argparse.Namespace) -> int:
        from probe.analyses.base import AnalysisInputs, describe_models, get_analysis, load_analyses
        from probe.cli.options import add_config_options, apply_options

        if not a.name:
            print(f"usage: probe analyze NAME [options] (NAME --help lists them); NAME: {', '.join(load_analyses())}")
            if a.rest and a.rest[0] in ("-h", "--help"):
                raise SystemExit(0)     # as argparse's own --help does
            return 2
        analysis = get_analysis(a.name)
        q = argparse.ArgumentParser(prog=f"probe analyze {a.name}", description=analysis.title)
        q.add_argument("--model", action="append", default=[], metavar="DIR",
                       help="a trained model (training folder or model.pt); repeat for several")
        q.add_argument("--corpus", action="append", default=[], metavar="DIR",
                       help="the models' corpus folder(s) (`probe corpus`); the attractor rate is read from each")
        q.add_argument("--items", metavar="DIR", help="the benchmark items (`probe build` folder or .jsonl)")
        q.add_argument("--out", required=True, metavar="DIR", help="results folder (files are replaced one by one)")
        q.add_argument("--preset", choices=tuple(analysis.presets), default="full",
                       help="size preset (default full); the options below override it")
        q.add_argument("--workers", type=_positive_int, default=1, help="training processes (default 1)")
        q.add_argument("--no-progress", action="store_true", help="no progress bars")
        preset = analysis.preset("full")
        names = add_config_options(q.add_argument_group(f"{a.name} options ({analysis.config.__name__})"),
                                   analysis.config, defaults=preset)
        b = q.parse_args(a.rest)
        cfg = apply_options(analysis.preset(b.preset), b, names)
        corpus_dirs = {}
        for folder in b.corpus:
            from probe.analyses.number import read_corpus_config

            corpus_dirs[float(read_corpus_config(folder).get("attractor_rate", 0.0))] = folder
        models = describe_models(b.model) if b.model else []
        inputs = AnalysisInputs(models=tuple(models), corpus_dirs=corpus_dirs, items=b.items, out=b.out,
                                workers=b.workers, progress=not b.no_progress)
        result = analysis.run(inputs, cfg)
        print(result.get("markdown", ""))
        print(f"wrote {len(result.get('files', []))} files to {b.out} in {result.get('seconds', 0):.1f} s")
        return 0

    p.set_defaults(func=run)
