"""Tests for probe.metrics: bootstrap intervals, attraction effects, asymmetry, seed aggregation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from probe.metrics import (aggregate_seeds, bootstrap_ci, bootstrap_means, exclusion_counts, summarize,
                           syntactic_onset, syntactic_rates, t_quantile)


def test_bootstrap_ci_on_bernoulli_has_the_normal_width():
    rng = np.random.default_rng(1)
    x = (rng.random(400) < 0.7).astype(float)
    lo, hi = bootstrap_ci(x, n_boot=4000, seed=0)
    se = np.sqrt(x.mean() * (1 - x.mean()) / len(x))
    assert lo < x.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_ci(x, n_boot=500, seed=3) == bootstrap_ci(x, n_boot=500, seed=3)
    draws = [bootstrap_means(x, n_boot=50, rng=np.random.default_rng(s)) for s in (3, 3, 4)]
    assert (draws[0] == draws[1]).all() and (draws[0] != draws[2]).any()


def test_bootstrap_ci_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    for k in range(200):
        x = rng.normal(1.0, 2.0, size=60)
        lo, hi = bootstrap_ci(x, n_boot=500, seed=k)
        hits += lo <= 1.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_binary_and_resampling_bootstraps_agree():
    x = np.array([1.0] * 30 + [0.0] * 20)
    rng = np.random.default_rng(0)
    exact = bootstrap_means(x, n_boot=20000, rng=rng)
    resampled = bootstrap_means(x + 1e-12 * np.arange(50), n_boot=20000, rng=rng)  # forces resampling
    assert exact.mean() == pytest.approx(resampled.mean(), abs=0.005)
    assert exact.std() == pytest.approx(resampled.std(), rel=0.05)


def cell(condition, n, n_correct, *, model="m", seed=0, arch="lstm", construction="pp", margin=1.0,
         n_excluded=0, **labels):
    head = "sg" if condition[0] == "S" else "pl"
    nearest = "sg" if condition[-1] == "S" else "pl"
    rest = condition[1:]
    match = "none" if not rest else "matched" if set(rest) == {condition[0]} else \
        "mismatched" if condition[0] not in rest else "mixed"
    correct = np.array([True] * n_correct + [False] * (n - n_correct))
    seq = correct if nearest == head else ~correct
    rows = pd.DataFrame({
        "id": [f"{condition}{k}" for k in range(n)], "data": "d", "model": model, "arch": arch, "seed": seed,
        "method": "prefix", "construction": construction, "condition": condition, "n_attractors": len(rest),
        "match": match, "head_number": head, "nearest_number": nearest,
        "margin": np.where(correct, margin, -margin), "correct": pd.array(correct, dtype="boolean"),
        "choice_sequential": pd.array(seq, dtype="boolean"), "excluded": False, "exclude_reason": "",
        **labels})
    if n_excluded:
        exc = rows.iloc[:n_excluded].copy()
        exc["excluded"], exc["exclude_reason"], exc["margin"] = True, "oov", np.nan
        exc["correct"] = pd.array([pd.NA] * n_excluded, dtype="boolean")
        exc["id"] = [f"x{condition}{k}" for k in range(n_excluded)]
        rows = pd.concat([rows, exc], ignore_index=True)
    return rows


def hand_frame(**kw):
    return pd.concat([cell("SS", 10, 10, **kw), cell("SP", 10, 5, n_excluded=2, **kw),
                      cell("PP", 10, 8, **kw), cell("PS", 10, 7, **kw)], ignore_index=True)


def test_summary_accuracy_sequential_and_effects():
    s = summarize(hand_frame(), n_boot=300)
    pp = s[s["construction"] == "pp"]

    def get(level, condition, metric):
        row = pp[(pp["level"] == level) & (pp["condition"] == condition) & (pp["metric"] == metric)]
        assert len(row) == 1, (level, condition, metric)
        return row.iloc[0]

    sp = get("condition", "SP", "accuracy")
    assert sp["value"] == pytest.approx(0.5) and sp["n_items"] == 10 and sp["n_excluded"] == 2
    assert sp["ci_low"] <= 0.5 <= sp["ci_high"] and sp["ci_high"] - sp["ci_low"] > 0.2
    assert get("condition", "SP", "sequential_rate")["value"] == pytest.approx(0.5)
    assert get("condition", "PS", "sequential_rate")["value"] == pytest.approx(0.3)
    assert not ((pp["condition"] == "SS") & (pp["metric"] == "sequential_rate")).any()
    assert get("condition", "PS", "margin")["value"] == pytest.approx(0.4)   # 7 x 1 + 3 x -1 over 10
    syn = syntactic_rates(pp[(pp["level"] == "condition") & (pp["condition"] == "PS")]).iloc[0]
    seq = get("condition", "PS", "sequential_rate")
    assert syn["value"] == pytest.approx(0.7) and syn["ci_low"] == pytest.approx(1 - seq["ci_high"])
    assert get("match", "matched", "accuracy")["value"] == pytest.approx(0.9)
    assert get("match", "mismatched", "accuracy")["value"] == pytest.approx(0.6)
    eff = get("effect", "all", "attraction_effect")
    assert eff["value"] == pytest.approx(0.3) and eff["ci_low"] < 0.3 < eff["ci_high"]
    assert get("effect", "sg_head", "attraction_effect")["value"] == pytest.approx(0.5)
    assert get("effect", "pl_head", "attraction_effect")["value"] == pytest.approx(0.1)
    assert get("effect", "sg_head-pl_head", "markedness_asymmetry")["value"] == pytest.approx(0.4)
    # every row reports the model keys and a cell accuracy where it has one
    assert set(s["model"]) == {"m"} and s.loc[s["level"] != "effect", "accuracy"].notna().all()


def test_summary_is_seeded_and_pools_constructions():
    frame = pd.concat([hand_frame(), hand_frame(construction="src")], ignore_index=True)
    a, b = summarize(frame, n_boot=200, seed=1), summarize(frame, n_boot=200, seed=1)
    pd.testing.assert_frame_equal(a, b)
    pooled = a[(a["construction"] == "all") & (a["metric"] == "accuracy") & (a["condition"] == "SP")]
    assert pooled["n_items"].iloc[0] == 20 and pooled["n_excluded"].iloc[0] == 4
    # a cell's interval does not depend on which other cells were summarised
    alone = summarize(hand_frame(), n_boot=200, seed=1)
    key = ["construction", "condition", "level", "metric"]
    merged = alone.merge(a, on=key, suffixes=("", "_both"))
    row = merged[(merged["construction"] == "pp") & (merged["condition"] == "SP") & (merged["metric"] == "accuracy")]
    assert row["ci_low"].iloc[0] == row["ci_low_both"].iloc[0]


def test_label_columns_become_group_keys():
    frame = pd.concat([hand_frame(attractor_rate=0.1), hand_frame(attractor_rate=0.5)], ignore_index=True)
    s = summarize(frame, n_boot=100)
    assert "attractor_rate" in s.columns
    assert set(s["attractor_rate"]) == {0.1, 0.5}


def test_seed_aggregation_t_interval_and_single_seed():
    frames = [pd.concat([cell("SP", 20, k, model=f"m{k}", seed=k), cell("SS", 20, 20, model=f"m{k}", seed=k)])
              for k in (10, 12, 17)]
    s = summarize(pd.concat(frames, ignore_index=True), n_boot=100)
    agg = aggregate_seeds(s)
    row = agg[(agg["level"] == "condition") & (agg["condition"] == "SP") & (agg["metric"] == "accuracy")
              & (agg["construction"] == "pp")].iloc[0]
    vals = np.array([10, 12, 17]) / 20
    half = 4.302652729749462 * vals.std(ddof=1) / np.sqrt(3)   # scipy.stats.t.ppf(0.975, 2)
    assert row["value"] == pytest.approx(vals.mean())
    assert row["ci_low"] == pytest.approx(vals.mean() - half)
    assert vals.mean() + half > 1 and row["ci_high"] == 1.0  # clipped to the range of an accuracy
    assert row["n_seeds"] == 3 and row["n_items"] == 60 and row["ci_method"] == "t over seeds"
    one = aggregate_seeds(summarize(frames[0], n_boot=100))
    r1 = one[(one["condition"] == "SP") & (one["metric"] == "accuracy")].iloc[0]
    assert r1["n_seeds"] == 1 and r1["ci_method"] == "items (1 seed)" and r1["ci_low"] < 0.5 < r1["ci_high"]


def test_exclusion_counts_per_condition():
    exc = exclusion_counts(hand_frame())
    assert exc.to_dict("records") == [{"model": "m", "data": "d", "construction": "pp", "condition": "SP",
                                       "reason": "oov", "n": 2}]


def test_syntactic_onset_finds_the_turning_rate():
    rows = []
    for arch, vals in (("lstm", [0.2, 0.45, 0.8, 0.9]), ("srn", [0.1, 0.2, 0.3, 0.6])):
        for rate, v in zip([0.0, 0.1, 0.2, 0.4], vals):
            # given as sequential rates: the onset reads their complement, the syntactic rate
            rows.append({"arch": arch, "attractor_rate": rate, "metric": "sequential_rate", "construction": "all",
                         "condition": "mismatched", "n_attractors": 1, "level": "match", "value": 1 - v,
                         "ci_low": 1 - v - 0.05, "ci_high": 1 - v + 0.05})
    out = syntactic_onset(pd.DataFrame(rows)).set_index("arch")
    assert out.loc["lstm", "syntactic_from"] == 0.2 and out.loc["lstm", "sequential_until"] == 0.0
    assert out.loc["srn", "syntactic_from"] == 0.4 and out.loc["srn", "sequential_until"] == 0.2


# reference values printed by scipy.stats.t.ppf (scipy is not imported here: it takes seconds)
@pytest.mark.parametrize("df,p,expected", [(1, 0.975, 12.706204736174694), (2, 0.975, 4.302652729749462),
                                           (3, 0.995, 5.840909309733355), (4, 0.975, 2.7764451051977934),
                                           (9, 0.95, 1.833112932656237), (29, 0.975, 2.045229642132703)])
def test_t_quantile_matches_tables(df, p, expected):
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-9)
