"""Tests for probe.report.overview: the real-English overview reads the same numbers as the per-item scores."""
import numpy as np
import pandas as pd

from probe.report.overview import overview_table, pooled_accuracy, published_suites


def _scores(correct: dict) -> pd.DataFrame:
    """{(arch, seed): [bool per item]} -> score rows over two constructions (items 0-2: a, 3-: b)."""
    rows = []
    for (arch, seed), values in correct.items():
        for i, c in enumerate(values):
            rows.append({"model": f"{arch}-s{seed}", "arch": arch, "seed": seed, "id": f"i{i}",
                         "construction": "a" if i < 3 else "b", "correct": c, "excluded": i == 5, "match": "conflict"})
    return pd.DataFrame(rows)


def test_pooled_accuracy_is_the_item_weighted_mean_over_seeds():
    s = _scores({("lstm", 0): [1, 1, 0, 1, 0, 1], ("lstm", 1): [1, 0, 0, 1, 1, 0]})
    value, low, high, n = pooled_accuracy(s, "lstm")
    kept = s[~s["excluded"]]
    assert n == 5 and np.isclose(value, kept["correct"].mean()) and low <= value <= high


def test_table_rows_and_published_suites():
    s = _scores({("srn", 0): [1, 0, 1, 0, 1, 1], ("3-gram", 0): [0, 0, 0, 0, 0, 0]})
    suites = pd.DataFrame([{"arch": "srn", "suite": "number_orc", "metric": "item", "value": 0.0, "ci_low": 0.0,
                            "ci_high": 0.2, "n_items": 15, "n_excluded": 4}])
    table = overview_table({"set": s}, suites=suites, published={"number_orc": "x"})
    assert table["test set"].tolist() == ["set", "SyntaxGym number_orc (item criterion)"]
    assert table.loc[0, "srn"].startswith("0.600") and table.loc[0, "3-gram"].startswith("0.000")
    assert table.loc[0, "gru"] == "-" and table.loc[0, "coverage"] == "5/6 (83%)"
    assert table.loc[1, "coverage"] == "15/19 items" and table.loc[1, "published"] == "x"
    pub = published_suites()
    assert set(pub) == {"number_orc", "number_prep"} and "GPT-2" in pub["number_prep"]


def test_two_models_with_one_seed_are_refused():
    s = _scores({("lstm", 0): [1, 1, 0, 1, 0, 1]})
    other = s.assign(model="lstm-other")
    import pytest

    with pytest.raises(ValueError, match="several models share a seed"):
        pooled_accuracy(pd.concat([s, other]), "lstm")


def test_attraction_effect_rows_subtract_conflict_from_matched_of_the_same_sets():
    from probe.report.overview import pooled_effect

    matched = _scores({("lstm", 0): [1, 1, 1, 1, 1, 1], ("lstm", 1): [1, 1, 1, 1, 0, 1]}).assign(match="matched")
    conflict = _scores({("lstm", 0): [0, 1, 0, 0, 1, 0], ("lstm", 1): [0, 0, 0, 1, 0, 0]})
    value, low, high, n = pooled_effect(matched, conflict, "lstm")
    kept = lambda f: f[~f["excluded"]]["correct"].mean()      # noqa: E731
    assert n == 10 and np.isclose(value, kept(matched) - kept(conflict)) and low <= value <= high
    table = overview_table({"set": conflict}, effects={"set: effect": (matched, conflict)},
                           rules={"set": "fully in vocabulary"})
    assert table["test set"].tolist() == ["set", "set: effect"]
    assert table.loc[1, "lstm"].startswith(f"{value:.3f}") and table.loc[0, "kept when"] == "fully in vocabulary"
    # a seed only one class has is left out, and the rest are paired seed by seed, not by row position
    extra = _scores({("lstm", 2): [0, 0, 0, 0, 0, 0]}).assign(match="matched")
    again = pooled_effect(pd.concat([extra, matched]), conflict, "lstm")
    assert np.allclose(again, (value, low, high, n))


def test_real_english_is_placed_on_the_synthetic_axis():
    from probe.report.axis import axis_markdown, plot_real_on_synthetic

    def seeds(rows):
        return pd.DataFrame([{"arch": a, "attractor_rate": r, "construction": "all", "level": "match",
                              "metric": "accuracy", "condition": "conflict", "n_attractors": 1, "value": v,
                              "ci_low": v - 0.05, "ci_high": min(v + 0.05, 1.0), "n_seeds": 3} for a, r, v in rows])

    synthetic = seeds([("lstm", 0.01, 0.3), ("lstm", 0.05, 0.55), ("lstm", 0.3, 0.95)])
    real = seeds([("lstm", None, 0.3)]).drop(columns="attractor_rate")
    rates = {"ptb": {"dependencies": 1000, "attractor_rate": (0.11, 0.10, 0.12), "noun_rate": (0.2, 0.19, 0.21)}}
    counts = pd.DataFrame({"attractor_rate": [0.01, 0.3], "conflict_dependencies": [90, 3000]})
    text = axis_markdown(synthetic, real, rates, counts, corpus="ptb", synthetic_name="seeds")
    # lstm: sequential at 0.01, undecided at 0.05, syntactic from 0.3: ptb's 0.11 lies below that first syntactic rate
    assert "below its first syntactic rate 0.3 (turns)" in text and "about 110 (0.110 of its 1,000" in text
    assert "0.300 [0.250, 0.350]" in text and "held 90 dependencies" in text
    fig = plot_real_on_synthetic(synthetic, real, rates["ptb"]["attractor_rate"], corpus="ptb", synthetic_name="s")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["lstm (s)", "lstm (ptb)"]
    from probe.core.style import FIGURE_RC

    # drawn under the run's figure settings, as every other figure: its axis labels are not matplotlib's default 10 pt
    assert fig.axes[0].xaxis.label.get_fontsize() == FIGURE_RC["font.size"]


def test_the_axis_section_says_whether_the_synthetic_prediction_holds():
    from probe.report.axis import prediction_text

    counts = pd.DataFrame({"attractor_rate": [0.01, 0.3], "conflict_dependencies": [300, 9000]})
    failed = "\n".join(prediction_text([("lstm", 0.01, "sequential")], counts, attracted=2000, corpus="ptb"))
    assert "For lstm, ptb lies above" in failed and "does not predict this corpus" in failed
    assert "lstm: sequential" in failed
    held = "\n".join(prediction_text([("gru", 0.01, "syntactic")], counts, attracted=2000, corpus="ptb"))
    assert "the synthetic axis predicts this corpus" in held
    # fewer attracted dependencies than the synthetic corpora held at that rate: no prediction either way
    assert prediction_text([("gru", 0.3, "sequential")], counts, attracted=2000, corpus="ptb") == []


def test_seeds_trained_on_several_corpora_are_nested_in_them():
    """Two corpora whose models differ by corpus: the interval counts the corpus draw as a random factor (the
    same per-seed values without the corpus labels give a narrower interval), and the value is the same."""
    rng = np.random.default_rng(0)
    correct = {("lstm", s): (rng.random(40) < (0.9 if s < 1000 else 0.5)).astype(int).tolist()
               for s in (0, 1, 2, 1000, 1001, 1002)}
    flat = _scores(correct)
    nested = flat.assign(corpus=(flat["seed"] >= 1000).astype(int))
    v, lo, hi, n = pooled_accuracy(nested, "lstm")
    v0, lo0, hi0, n0 = pooled_accuracy(flat, "lstm")
    assert np.isclose(v, v0) and n == n0 and hi - lo > hi0 - lo0
    from probe.report.overview import overview_markdown, pooled_effect

    matched = nested.assign(match="matched", correct=1)
    e = pooled_effect(matched, nested, "lstm")
    e0 = pooled_effect(matched.drop(columns="corpus"), flat, "lstm")
    assert np.isclose(e[0], e0[0]) and e[2] - e[1] > e0[2] - e0[1]
    # a baseline has one model per corpus, all with seed 0: a row each, varying by corpus alone (no refusal)
    gram = _scores({("3-gram", 0): [1, 0, 1, 0, 1, 1]})
    gram = pd.concat([gram.assign(corpus=0, model="3-gram-c0"), gram.assign(corpus=1, model="3-gram-c1")])
    value, low, high, n = pooled_accuracy(gram, "3-gram")
    assert np.isclose(value, 0.6) and n == 5
    table = overview_table({"set": pd.concat([nested, gram])})
    assert table.loc[0, "3-gram"].startswith("0.600")
    assert "nested in the corpora" in overview_markdown(table, corpora=True)
    assert "nested in the corpora" not in overview_markdown(table)


def test_a_sweeps_overview_reads_the_suites_at_the_benchmarks_rate(tmp_path):
    """Benchmark rows and suite rows of one overview come from the same corpus: the sweep's highest rate."""
    from probe.run import PRESETS
    from probe.run.published import overview_section

    rows = []
    for rate, ok in ((0.1, 0), (0.3, 1)):
        s = _scores({("lstm", 0): [ok] * 12, ("lstm", 1): [ok] * 12}).assign(attractor_rate=rate)
        rows.append(s.assign(model=s["model"] + f"-r{rate}"))
    (tmp_path / "eval").mkdir()
    pd.concat(rows).to_parquet(tmp_path / "eval" / "scores.parquet")
    suites = pd.DataFrame([{"arch": "lstm", "attractor_rate": rate, "suite": "number_orc", "metric": "item",
                            "value": v, "ci_low": v, "ci_high": v, "n_items": 15, "n_excluded": 0}
                           for rate, v in ((0.1, 0.1), (0.3, 0.9))])
    text = overview_section(PRESETS["quick"], tmp_path, {}, suites, root=tmp_path)
    values = pd.read_csv(tmp_path / "overview.csv").set_index("test set")["value"]
    assert values["probe benchmark: conflict (attractor nearest the verb)"] == 1.0
    assert values["SyntaxGym number_orc (item criterion)"] == 0.9 and "0.900" in text
