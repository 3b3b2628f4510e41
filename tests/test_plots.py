"""Tests for probe.plots under Agg: axes labels, plotted data, files written."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from probe.cli import main
from probe.metrics import aggregate_seeds
from probe.report.plots import (load_learning_curves, plot_asymmetry, plot_attractor_rate, plot_attractors,
                                plot_headline, plot_learning_curves, plot_preference)
from probe.core.style import arch_style, figure_problems, save_figure, suptitle

CONDITIONS = {"pp": ["SS", "SP", "PS", "PP", "SSS", "SPP", "PSS", "PPP"], "src": ["SS", "SP", "PS", "PP"],
              "sent_comp": ["SP", "PS"], "control": ["S", "P"]}


def fake_scores(archs=("lstm", "srn", "3-gram"), seeds=(0, 1), rates=None, n=20, seed=0):
    """Per-item scores where an arch's accuracy on conflict items is known in expectation."""
    from probe.data.records import item_classes

    rng = np.random.default_rng(seed)
    frames = []
    for rate in rates or [None]:
        for arch in archs:
            for s in seeds:
                for con, conds in CONDITIONS.items():
                    for cond in conds:
                        head = "sg" if cond[0] == "S" else "pl"
                        atts = ["sg" if c == "S" else "pl" for c in cond[1:]]
                        # sent_comp: the attractor comes first, the head is the nearest noun
                        nearest = head if con == "sent_comp" or not atts else atts[-1]
                        (match,), (n_mis,) = item_classes([head], [atts], [nearest])
                        p = 0.95 if match != "conflict" else (0.2 if arch == "3-gram" else 0.4 + (rate or 0.4))
                        correct = rng.random(n) < p
                        f = pd.DataFrame({
                            "id": [f"{con}{cond}{k}" for k in range(n)], "data": "d", "model": f"{arch}-s{s}-{rate}",
                            "arch": arch, "seed": s, "method": "prefix", "construction": con, "condition": cond,
                            "n_attractors": len(atts), "match": match, "n_mismatched": n_mis,
                            "head_number": head, "nearest_number": nearest, "distance": 3 if con == "control" else -1,
                            "margin": np.where(correct, 1.0, -1.0), "correct": pd.array(correct, dtype="boolean"),
                            "choice_sequential": pd.array(correct if head == nearest else ~correct, dtype="boolean"),
                            "excluded": False, "exclude_reason": ""})
                        if rate is not None:
                            f["attractor_rate"] = rate
                        frames.append(f)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def seeds_frame():
    return aggregate_seeds(fake_scores())


def pick(seeds, **eq):
    sel = seeds
    for k, v in eq.items():
        sel = sel[sel[k] == v]
    return sel


def test_attractor_figure_plots_the_summary(seeds_frame):
    fig = plot_attractors(seeds_frame)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["srn", "lstm", "3-gram"]   # one panel per cell, neural first
    ax = panels[1]
    assert ax.get_xlabel() == "number of attractors" and "accuracy" in ax.get_ylabel()
    assert "pp" in fig._suptitle.get_text() and "n = 40 items per point, 2 seeds" in fig._suptitle.get_text()
    line = next(l for l in ax.lines if l.get_label() == "conflict")
    want = pick(seeds_frame, arch="lstm", construction="pp", condition="conflict", metric="accuracy",
                level="attractors").sort_values("n_attractors")
    np.testing.assert_allclose(line.get_xdata(), [1, 2])
    np.testing.assert_allclose(line.get_ydata(), want["value"])
    styles = {l.get_label(): l.get_linestyle() for l in ax.lines}
    assert styles["matched"] != styles["conflict"]


def test_preference_figure_bars_are_syntactic_rates(seeds_frame):
    fig = plot_preference(seeds_frame)
    ax = fig.axes[0]
    # sent_comp has no conflict items (its nearest noun is the head): it is not among the bars
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pp", "src", "all"]
    assert "syntactic" in ax.get_ylabel() and ax.get_xlabel() == "construction"
    want = pick(seeds_frame, arch="3-gram", condition="conflict", metric="accuracy", n_attractors=1,
                level="match").set_index("construction")["value"]
    gram = next(c for c in ax.containers if c.get_label() == "3-gram")
    heights = [p.get_height() for p in gram.patches]
    np.testing.assert_allclose(heights, [want["pp"], want["src"], want["all"]])
    assert all(h < 0.5 for h in heights)  # the n-gram is sequential here


def test_asymmetry_figure(seeds_frame):
    fig = plot_asymmetry(seeds_frame)
    ax1, ax2 = fig.axes
    assert [t.get_text() for t in ax1.get_xticklabels()] == ["srn", "lstm", "3-gram"]  # neural archs first
    sp = next(c for c in ax1.containers if c.get_label().startswith("singular head (SP"))
    want = pick(seeds_frame, construction="pp", condition="SP", metric="accuracy", level="condition",
                n_attractors=1).set_index("arch")["value"]
    np.testing.assert_allclose([p.get_height() for p in sp.patches], want[["srn", "lstm", "3-gram"]])
    assert "attraction effect" in ax2.get_ylabel()


def test_headline_figure_distance_and_attractors(seeds_frame):
    fig = plot_headline(seeds_frame)
    axes = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(axes) == 4          # srn and lstm rows; the 3-gram is a grey reference line
    right = axes[3]
    line = next(l for l in right.lines if l.get_label() == "lstm")
    want = pick(seeds_frame, arch="lstm", construction="pp", condition="conflict", metric="accuracy",
                level="attractors").sort_values("n_attractors")
    np.testing.assert_allclose(line.get_ydata(), want["value"])
    left = next(l for l in axes[2].lines if l.get_label() == "lstm")
    dist = pick(seeds_frame, arch="lstm", construction="control", level="distance", metric="accuracy")
    np.testing.assert_allclose(left.get_xdata(), [3]) and np.testing.assert_allclose(left.get_ydata(), dist["value"])
    assert any(l.get_label() == "3-gram" for l in right.lines)


def test_attractor_rate_figure():
    seeds = aggregate_seeds(fake_scores(archs=("lstm", "srn", "unigram"), rates=[0.01, 0.1, 0.5], n=40))
    fig = plot_attractor_rate(seeds)
    ax = next(a for a in fig.axes if a.get_title().startswith("lstm"))
    assert "attractor rate" in ax.get_xlabel() and "syntactic" in fig.axes[0].get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.1", "0.5"]   # the sweep's rates
    line = next(l for l in ax.lines if l.get_label() == "lstm")
    np.testing.assert_allclose(line.get_xdata(), [0.01, 0.1, 0.5])
    want = pick(seeds, arch="lstm", construction="all", condition="conflict", metric="accuracy", n_attractors=1,
                level="match")
    np.testing.assert_allclose(line.get_ydata(), want.sort_values("attractor_rate")["value"])
    assert any(l.get_label() == "unigram" for l in ax.lines)    # the baseline as a grey reference
    assert "no attractor_rate" in plot_attractor_rate(seeds.drop(columns="attractor_rate")).axes[0].texts[0].get_text()


def test_table_and_figure_read_the_same_number(tmp_path):
    """A tiny item set through summaries, the report's headline table and the attractor-rate figure: the
    conflict syntactic rate in the table is the number the figure plots (it once was not)."""
    from probe.report.report import headline_table

    seeds = aggregate_seeds(fake_scores(archs=("gru",), seeds=(0, 1, 2), rates=[0.01, 0.3], n=12))
    table = headline_table(seeds)
    fig = plot_attractor_rate(seeds)
    line = next(l for l in fig.axes[0].lines if l.get_label() == "gru")
    for rate, y in zip(line.get_xdata(), line.get_ydata()):
        cell = table[table["attractor_rate"] == rate]["conflict: syntactic choice rate"].iloc[0]
        assert cell.startswith(f"{y:.3f}")


def write_train_dir(path, arch, seed, steps=(100, 200, 300), corpus=None, held_out=False):
    path.mkdir(parents=True)
    # the layout `probe train` writes: config.json {"train": {...}, "model": {...}, "corpus": DIR}, metrics.jsonl
    # with "train" lines (loss only) between "eval" lines
    (path / "config.json").write_text(json.dumps({"train": {"seed": seed, "arch": arch}, "model": {"arch": arch},
                                                  **({"corpus": str(corpus)} if corpus else {})}))
    lines = []
    for k, s in enumerate(steps):
        lines.append(json.dumps({"kind": "train", "step": s - 10, "loss": 5.0}))
        lines.append(json.dumps({"kind": "eval", "step": s, "valid_ppl": 100.0 / (k + 1),
                                 "agreement_accuracy": 0.5 + 0.1 * k,
                                 **({"agreement": 0.4 + 0.2 * k} if held_out else {})}))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def write_corpus_config(path, rate):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"attractor_rate": rate, "source": "synthetic"}))
    return path


def test_learning_curves(tmp_path):
    write_train_dir(tmp_path / "a", "lstm", 0)
    write_train_dir(tmp_path / "b", "srn", 1)
    (tmp_path / "c").mkdir()  # no metrics: skipped
    curves = load_learning_curves([tmp_path / "a", tmp_path / "b" / "model.pt", tmp_path / "c"])
    assert sorted(curves["run"].unique()) == ["a", "b"] and set(curves["arch"]) == {"lstm", "srn"}
    assert set(curves["seed"]) == {0, 1} and len(curves) == 6 and curves["attractor_rate"].isna().all()
    fig = plot_learning_curves(curves)
    ax1, ax2 = fig.axes                      # no rates: one column, perplexity above agreement
    assert ax1.get_yscale() == "log" and "perplexity" in ax1.get_ylabel() and ax2.get_xlabel() == "training step"
    np.testing.assert_allclose(ax1.lines[0].get_ydata(), [100, 50, 100 / 3])
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), [0.5, 0.6, 0.7])   # older runs: their accuracy
    assert "learning-curve items" in ax2.get_ylabel()


def test_learning_curves_one_column_per_rate_and_the_held_out_agreement(tmp_path):
    """Rate and seed stay apart: a column per corpus attractor rate, a colour per cell, a line per run; the
    bottom row draws the held-out agreement training stops on (metrics.jsonl 'agreement')."""
    low, high = write_corpus_config(tmp_path / "c-low", 0.01), write_corpus_config(tmp_path / "c-high", 0.3)
    dirs = []
    for arch in ("srn", "lstm"):
        for rate, corpus in (("low", low), ("high", high)):
            for seed in (0, 1, 2):
                dirs.append(tmp_path / f"{arch}-{rate}-s{seed}")
                write_train_dir(dirs[-1], arch, seed, corpus=corpus, held_out=True)
    curves = load_learning_curves(dirs)
    assert set(curves["attractor_rate"]) == {0.01, 0.3} and set(curves["agreement_name"]) == {"agreement"}
    fig = plot_learning_curves(curves)
    grid = np.array(fig.axes).reshape(2, 2)
    assert [ax.get_title().splitlines()[0] for ax in grid[0]] == ["corpus attractor rate 0.01",
                                                                 "corpus attractor rate 0.3"]
    runs = [[line for line in ax.lines if len(line.get_xdata()) == 3] for ax in grid[1]]   # not the chance line
    assert [len(r) for r in runs] == [6, 6]                   # 2 cells x 3 seeds per rate
    assert {line.get_color() for line in runs[0]} == {arch_style("srn")[2], arch_style("lstm")[2]}
    np.testing.assert_allclose(grid[1, 0].lines[0].get_ydata(), [0.4, 0.6, 0.8])
    assert "held-out agreement" in grid[1, 0].get_ylabel()
    assert figure_problems(fig) == []


def test_learning_curves_of_a_real_text_corpus_have_no_rate(tmp_path):
    """A text corpus' config.json carries the synthetic-only attractor_rate at its default: not a rate."""
    corpus = tmp_path / "text"
    corpus.mkdir()
    (corpus / "config.json").write_text(json.dumps({"attractor_rate": 0.05, "source": "text"}))
    write_train_dir(tmp_path / "m", "lstm", 0, corpus=corpus, held_out=True)
    curves = load_learning_curves([tmp_path / "m"])
    assert curves["attractor_rate"].isna().all()
    assert "attractor rate" not in plot_learning_curves(curves).axes[0].get_title()


def test_save_figure_and_make_figures(tmp_path, seeds_frame):
    paths = save_figure(plot_attractors(seeds_frame), tmp_path / "figs", "a")
    assert [p.name for p in paths] == ["a.png", "a.pdf"] and all(p.stat().st_size > 1000 for p in paths)
    res = tmp_path / "res"
    res.mkdir()
    seeds = aggregate_seeds(fake_scores(archs=("lstm", "3-gram"), seeds=(0,), rates=[0.1, 0.4]))
    seeds.to_csv(res / "summary_seeds.csv", index=False)
    write_train_dir(tmp_path / "run", "lstm", 0)
    (res / "config.json").write_text(json.dumps({"models": [str(tmp_path / "run")]}))
    assert main(["plot", "--results", str(res), "--formats", "png"]) == 0
    names = sorted(p.name for p in (res / "figures").iterdir())
    assert names == sorted(f"{s}.png" for s in ("attractor_rate", "attractors", "headline", "preference",
                                                 "asymmetry", "learning_curves"))


def test_plot_cli_rejects_a_folder_without_results(tmp_path, capsys):
    assert main(["plot", "--results", str(tmp_path)]) == 2
    assert "summary_seeds.csv" in capsys.readouterr().err
    assert not (tmp_path / "figures").exists()


# --- model paths that survive a move, and figures that are never deleted silently ---------------------

def _item(prefix, good, bad, condition, construction="pp"):
    return {"id": f"{construction}.{condition}.{prefix}.{good}", "construction": construction, "condition": condition,
            "prefix": prefix, "verb_good": good, "verb_bad": bad, "sentence_good": f"{prefix} {good}",
            "sentence_bad": f"{prefix} {bad}", "head_number": "sg" if condition[0] == "S" else "pl",
            "attractor_numbers": ["sg" if c == "S" else "pl" for c in condition[1:]],
            "n_attractors": len(condition) - 1, "nearest_number": "sg" if condition[-1] == "S" else "pl",
            "verb_type": "intransitive"}


def _toy_tree(root, monkeypatch):
    """root/models/lstm (a checkpoint with metrics.jsonl), root/data, and root/res written by `probe evaluate`
    run from root/cli with paths relative to it, as a user would type them."""
    import torch

    from probe.data.corpus import Vocab
    from probe.models.config import ModelConfig
    from probe.models.lm import build_model
    from probe.models.checkpoint import save_checkpoint

    write_train_dir(root / "models" / "lstm", "lstm", 0)
    vocab = Vocab(("<unk>", "<eos>", "the", "dog", "dogs", "of", "cat", "cats", "runs", "run"))
    cfg = ModelConfig(arch="lstm", vocab_size=len(vocab), emb=8, hidden=8, layers=1)
    torch.manual_seed(0)
    save_checkpoint(root / "models" / "lstm" / "model.pt", model=build_model(cfg), model_config=cfg, vocab=vocab,
                    train_config={"seed": 0}, train_state={})
    items = [_item("the dog", "runs", "run", "S", "simple"), _item("the dogs", "run", "runs", "P", "simple"),
             _item("the dog of the cats", "runs", "run", "SP"), _item("the dogs of the cat", "run", "runs", "PS"),
             _item("the dog of the cat", "runs", "run", "SS"), _item("the dogs of the cats", "run", "runs", "PP")]
    (root / "data").mkdir()
    (root / "data" / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (root / "cli").mkdir()
    monkeypatch.chdir(root / "cli")
    assert main(["evaluate", "--model", "../models/lstm", "--data", "../data", "--out", "../res",
                 "--device", "cpu", "--no-figures"]) == 0
    return root / "res"


def test_plot_finds_the_models_from_another_directory_and_after_a_move(tmp_path, monkeypatch, capsys):
    res = _toy_tree(tmp_path / "tree", monkeypatch)
    assert main(["plot", "--results", "../res", "--formats", "png"]) == 0   # where evaluate ran
    assert (res / "figures" / "learning_curves.png").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (res / "figures" / "learning_curves.png").unlink()
    assert main(["plot", "--results", str(res), "--formats", "png"]) == 0
    assert (res / "figures" / "learning_curves.png").is_file()
    # the results folder copied away from the models: found through the absolute path
    import shutil

    shutil.copytree(res, tmp_path / "copy")
    shutil.rmtree(tmp_path / "copy" / "figures")
    assert main(["plot", "--results", str(tmp_path / "copy"), "--formats", "png"]) == 0
    assert (tmp_path / "copy" / "figures" / "learning_curves.png").is_file()
    # results and models moved together: found from the results folder
    shutil.move(tmp_path / "tree", tmp_path / "moved")
    shutil.rmtree(tmp_path / "moved" / "res" / "figures")
    assert main(["plot", "--results", str(tmp_path / "moved" / "res"), "--formats", "png"]) == 0
    assert (tmp_path / "moved" / "res" / "figures" / "learning_curves.png").is_file()
    assert "kept" not in capsys.readouterr().out


def test_a_figure_that_cannot_be_redrawn_is_kept_with_a_message(tmp_path, seeds_frame, capsys):
    res = tmp_path / "res"
    (res / "figures").mkdir(parents=True)
    seeds_frame.to_csv(res / "summary_seeds.csv", index=False)
    (res / "config.json").write_text(json.dumps({"models": ["gone/lstm-s0"]}))
    (res / "figures" / "learning_curves.png").write_bytes(b"drawn before")
    (res / "figures" / "gradients.png").write_bytes(b"an analysis' figure")
    message = ("kept figures/learning_curves.png as it was: no training folder with metrics.jsonl was found "
               "(1 listed in config.json do not exist, e.g. gone/lstm-s0); give the training folders with --train-dir")
    assert main(["plot", "--results", str(res), "--formats", "png"]) == 0
    assert capsys.readouterr().out.splitlines() == [message, f"wrote 4 figures to {res}/figures"]
    assert (res / "figures" / "learning_curves.png").read_bytes() == b"drawn before"
    assert (res / "figures" / "gradients.png").read_bytes() == b"an analysis' figure"
    assert not [p for p in res.iterdir() if p.name.startswith(".figures")]
    # the library reports the same line to its caller
    from probe.report.plots import make_figures

    lines = []
    written = make_figures(res, formats=["png"], log=lines.append)
    assert sorted(p.name for p in written) == ["asymmetry.png", "attractors.png", "headline.png", "preference.png"]
    assert lines == [message]


# --- every figure of a run, readable: no text cut at the edge, no two legend entries alike -------------

@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """The quick preset with two seeds and two corpora per rate (so that the per-seed figure is drawn and marks
    the corpus), every analysis included."""
    from probe.run import load_run_config, run_benchmark

    cfg = load_run_config(preset="quick", overrides={"results_dir": str(tmp_path_factory.mktemp("run")),
                                                     "seeds": [0, 1], "corpus_seeds": [0, 1]})
    return run_benchmark(cfg, log=lambda line: None)


def redraw(results, stem):
    """The Figure behind ``results/figures/<stem>.png``, drawn again from the folder's tables."""
    from probe.analyses import ablation, clipping, depth, diagnose, gradients, number
    from probe.report import plots

    def table(name):
        return pd.read_csv(results / f"{name}.csv", keep_default_na=False, na_values=[""])

    seeds = plots.read_seed_summary(results)
    makers = {
        "attractors": lambda: plots.plot_attractors(seeds), "headline": lambda: plots.plot_headline(seeds),
        "attractor_rate": lambda: plots.plot_attractor_rate(seeds),
        "preference": lambda: plots.plot_preference(seeds), "asymmetry": lambda: plots.plot_asymmetry(seeds),
        "seed_spread": lambda: plots.plot_seed_spread(table("summary"), seeds),
        "learning_curves": lambda: plots.plot_learning_curves(
            plots.load_learning_curves(plots.recorded_train_dirs(results)[0])),
        "clipping": lambda: clipping.plot_clipping(table("clipping_traces"), table("clipping")),
        "depth": lambda: depth.plot_depth(table("depth")),
        "diagnose": lambda: diagnose.plot_diagnose(table("diagnose")),
        "ablation": lambda: ablation.plot_ablation(table("ablation")),
        "gradients": lambda: gradients.plot_gradients(table("gradients")),
        "gradients_items": lambda: gradients.plot_item_gradients(table("gradients_items")),
        "number_prediction": lambda: number.plot_number_prediction(table("number_prediction")),
    }
    import matplotlib

    with matplotlib.rc_context({"font.size": 8}):
        return makers[stem]()


def test_every_figure_of_a_run_is_readable(quick_results):
    stems = sorted(p.stem for p in (quick_results / "figures").glob("*.png"))
    assert {"seed_spread", "learning_curves", "clipping", "depth", "diagnose", "gradients_items"} <= set(stems)
    problems = {stem: figure_problems(redraw(quick_results, stem)) for stem in stems}
    assert {stem: p for stem, p in problems.items() if p} == {}


def test_the_report_shows_every_figure_once_with_a_caption(quick_results):
    import re

    from probe.report.report import FIGURE_CAPTIONS

    report = (quick_results / "report.md").read_text()
    for png in (quick_results / "figures").glob("*.png"):
        embeds = re.findall(r"!\[[^\]]*\]\(figures/" + re.escape(png.name) + r"\)\n\n\*([^*]+)\*", report)
        assert len(embeds) == 1 and report.count(f"](figures/{png.name})") == 1, png.name
        assert embeds[0] == FIGURE_CAPTIONS[png.stem]


def test_figure_problems_finds_cut_text_and_look_alike_legend_entries():
    from matplotlib.figure import Figure

    def figure(title, unigram_ls):
        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.add_subplot(1, 1, 1)
        ax.plot([0, 1], [0, 1], color="0.6", ls="--", marker=".", label="3-gram")
        ax.plot([0, 1], [1, 0], color="0.6", ls=unigram_ls, marker=".", label="unigram")
        ax.legend()
        fig.suptitle(title)
        return fig

    problems = figure_problems(figure("a title far too long for a figure four inches wide, so that it runs past both "
                                      "edges", "--"))
    assert any(p.startswith("text 'a title far too long") and "cut at the figure's edge" in p for p in problems)
    assert [p for p in problems if "look the same" in p] == ["legend of axes 0: '3-gram' and 'unigram' look the same"]
    assert figure_problems(figure("a short title", "--")) == ["legend of axes 0: '3-gram' and 'unigram' look the same"]
    assert figure_problems(figure("a short title", ":")) == []
    fig = figure("", ":")
    fig.axes[0].get_legend().remove()
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside right upper")
    suptitle(fig, "a title wrapped to reach the right edge, where a legend at the top would sit")
    assert figure_problems(fig) == ["the legend of figure overlaps the figure's title"]


def test_seed_spread_shows_each_model_and_the_pooled_interval():
    """A split between seeds stays visible: each model's conflict accuracy is a point, beside the pooled
    estimate and its interval from the seed summary."""
    from probe.metrics import aggregate_seeds
    from probe.report.plots import plot_seed_spread, seed_spread_rows

    scores = fake_scores(archs=("gru", "3-gram"), seeds=(0, 1, 2), rates=[0.01, 0.3], n=20)
    seeds = aggregate_seeds(scores)
    per_model = (scores[scores["match"] == "conflict"].groupby(["model", "arch", "seed", "attractor_rate"])
                 ["correct"].mean().rename("value").reset_index()
                 .assign(construction="all", condition="conflict", n_attractors=1, level="match", metric="accuracy"))
    one, pooled = seed_spread_rows(per_model, seeds)
    assert set(one["arch"]) == {"gru"} and len(one) == 6 and set(pooled["attractor_rate"]) == {0.01, 0.3}
    fig = plot_seed_spread(per_model, seeds)
    ax = fig.axes[0]
    points = np.concatenate([line.get_ydata() for line in ax.lines if line.get_marker() == arch_style("gru")[0]])
    np.testing.assert_allclose(np.sort(points), np.sort(one["value"]))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.3"]
    assert figure_problems(fig) == []
    assert plot_seed_spread(per_model[per_model["seed"] == 0], seeds) is None    # one model per cell: no spread
    # ten corpora per rate (a marker each): every legend entry stays inside the figure
    many = per_model.loc[per_model.index.repeat(4)].reset_index(drop=True)
    many["corpus"] = [k % 10 for k in range(len(many))]
    assert figure_problems(plot_seed_spread(many, seeds)) == []


def test_interval_notes_name_the_corpus_draws_where_the_seeds_are_nested_in_them():
    from probe.metrics import aggregate_seeds
    from probe.report.plots import _ci_note

    scores = fake_scores(archs=("gru",), seeds=(0, 1, 2, 3), rates=[0.3], n=20)
    assert _ci_note(aggregate_seeds(scores)) == "bands: 95% CI over seeds and items"
    nested = aggregate_seeds(scores.assign(corpus=(scores["seed"] >= 2).astype(int)))
    assert _ci_note(nested) == "bands: 95% CI over corpora, seeds and items"
    assert _ci_note(aggregate_seeds(scores[scores["seed"] == 0])) == "bands: 95% CI over items"
