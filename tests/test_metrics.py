"""Tests for probe.metrics: bootstrap intervals, attraction effects, asymmetry, seed aggregation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from probe.metrics import (aggregate_seeds, bootstrap_ci, bootstrap_means, crossed_interval, exclusion_counts,
                           summarize, syntactic_onset, syntactic_rates, t_quantile, turning_point)
from probe.data.records import item_classes


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


def simulate(rng, S, N, sd_seed, sd_item, base):
    """A seeds x items table of 0/1 scores: P(correct) = sigmoid(logit(base) + seed effect + item effect)."""
    logit = np.log(base / (1 - base)) + rng.normal(0, sd_seed, (S, 1)) + rng.normal(0, sd_item, (1, N))
    return (rng.random((S, N)) < 1 / (1 + np.exp(-logit))).astype(float)


def true_mean(rng, sd_seed, sd_item, base, n=3000):
    logit = np.log(base / (1 - base)) + rng.normal(0, sd_seed, (n, 1)) + rng.normal(0, sd_item, (1, n))
    return float((1 / (1 + np.exp(-logit))).mean())


@pytest.mark.parametrize("sd_seed,sd_item", [(0.0, 2.0), (0.3, 1.0), (0.6, 0.5)])
def test_crossed_intervals_cover_the_true_mean(sd_seed, sd_item):
    """3 training seeds x 200 items with known seed and item variance (item-dominated, mixed, seed-dominated):
    the 95% interval covers the population mean in 92-98% of 400 replicates. The t-interval over seed means
    alone (what summary_seeds.csv used to report) misses where items matter, the item interval of one seed
    where seeds matter."""
    rng = np.random.default_rng(int(10 * sd_seed + 100 * sd_item))
    truth = true_mean(rng, sd_seed, sd_item, 0.7)
    hits, hits_seed_t, hits_items = 0, 0, 0
    for _ in range(400):
        table = simulate(rng, 3, 200, sd_seed, sd_item, 0.7)
        _, lo, hi = crossed_interval([table], [1.0])
        hits += lo <= truth <= hi
        m = table.mean(axis=1)
        half = t_quantile(0.975, 2) * m.std(ddof=1) / np.sqrt(3)
        hits_seed_t += abs(m.mean() - truth) <= half
        _, lo1, hi1 = crossed_interval([table[:1]], [1.0])
        hits_items += lo1 <= truth <= hi1
    assert 0.92 <= hits / 400 <= 0.98
    if sd_item >= 2.0:
        assert hits_seed_t / 400 < 0.92
    if sd_seed >= 0.6:
        assert hits_items / 400 < 0.92


def test_crossed_interval_of_a_difference_covers():
    """An attraction effect (matched - conflict on disjoint items, the same seeds) is covered as well."""
    rng = np.random.default_rng(7)
    truth = true_mean(rng, 0.5, 1.0, 0.9) - true_mean(rng, 0.5, 1.0, 0.6)
    hits = 0
    for _ in range(400):
        shared = rng.normal(0, 0.5, (3, 1))          # a seed's skill moves both cells
        logit = lambda base, n: np.log(base / (1 - base)) + shared + rng.normal(0, 1.0, (1, n))  # noqa: E731
        a = (rng.random((3, 150)) < 1 / (1 + np.exp(-logit(0.9, 150)))).astype(float)
        b = (rng.random((3, 150)) < 1 / (1 + np.exp(-logit(0.6, 150)))).astype(float)
        _, lo, hi = crossed_interval([a, b], [1.0, -1.0])
        hits += lo <= truth <= hi
    assert 0.92 <= hits / 400 <= 0.99


def test_crossed_interval_edge_cases():
    v, lo, hi = crossed_interval([np.ones((3, 80))], [1.0])      # all right: not proof of exactly 1
    assert v == 1.0 and 0.95 < lo < 0.98 and hi > 1.0
    v, lo, hi = crossed_interval([np.array([[1.0, 0.0, 1.0, 1.0]])], [1.0])     # one seed: t over items
    half = t_quantile(0.975, 3) * np.std([1, 0, 1, 1], ddof=1) / 2
    assert (v, lo, hi) == pytest.approx((0.75, 0.75 - half, 0.75 + half))
    assert np.isnan(crossed_interval([np.ones((3, 1))], [1.0])[1])                # one item: no interval
    assert np.isnan(crossed_interval([np.ones((3, 0))], [1.0])[0])


def cell(condition, n, n_correct, *, model="m", seed=0, arch="lstm", construction="pp", margin=1.0,
         n_excluded=0, nearest=None, distance=3, **labels):
    """n scored items of one condition (n_correct of them right), plus n_excluded unscored ones."""
    head = "sg" if condition[0] == "S" else "pl"
    atts = ["sg" if c == "S" else "pl" for c in condition[1:]]
    nearest = nearest or ("sg" if condition[-1] == "S" else "pl")
    classes, mismatched = item_classes([head], [atts], [nearest])
    correct = np.array([True] * n_correct + [False] * (n - n_correct))
    seq = correct if nearest == head else ~correct
    rows = pd.DataFrame({
        "id": [f"{construction}{condition}{nearest}{k}" for k in range(n)], "data": "d", "model": model, "arch": arch,
        "seed": seed, "method": "prefix", "construction": construction, "condition": condition,
        "n_attractors": len(atts), "match": classes[0], "n_mismatched": mismatched[0], "head_number": head,
        "nearest_number": nearest, "distance": distance,
        "margin": np.where(correct, margin, -margin), "correct": pd.array(correct, dtype="boolean"),
        "choice_sequential": pd.array(seq, dtype="boolean"), "excluded": False, "exclude_reason": "",
        **labels})
    if n_excluded:
        exc = rows.iloc[:n_excluded].copy()
        exc["excluded"], exc["exclude_reason"], exc["margin"] = True, "oov", np.nan
        exc["correct"] = pd.array([pd.NA] * n_excluded, dtype="boolean")
        exc["id"] = [f"x{construction}{condition}{k}" for k in range(n_excluded)]
        rows = pd.concat([rows, exc], ignore_index=True)
    return rows


def hand_frame(**kw):
    return pd.concat([cell("SS", 10, 10, **kw), cell("SP", 10, 5, n_excluded=2, **kw),
                      cell("PP", 10, 8, **kw), cell("PS", 10, 7, **kw)], ignore_index=True)


def get(frame, level, condition, metric, construction="pp", n_attractors=None, distance=None):
    sel = frame[(frame["level"] == level) & (frame["condition"] == condition) & (frame["metric"] == metric)
                & (frame["construction"] == construction)]
    if n_attractors is not None:
        sel = sel[sel["n_attractors"] == n_attractors]
    if distance is not None:
        sel = sel[sel["distance"] == distance]
    assert len(sel) == 1, (level, condition, metric, len(sel))
    return sel.iloc[0]


def test_item_classes():
    classes, mismatched = item_classes(
        ["sg", "sg", "sg", "sg", "pl", "sg", ""], [[], ["sg"], ["pl"], ["pl"], ["pl", "sg"], ["pl", "sg"], ["pl"]],
        ["sg", "sg", "pl", "sg", "sg", "", "pl"])
    assert classes == ["none", "matched", "conflict", "mismatched_no_conflict", "conflict", "unknown", "unknown"]
    assert mismatched == [0, 0, 1, 1, 1, 1, -1]


def test_summary_accuracy_classes_and_effects():
    s = summarize(hand_frame())
    sp = get(s, "condition", "SP", "accuracy")
    assert sp["value"] == pytest.approx(0.5) and sp["n_items"] == 10 and sp["n_excluded"] == 2
    half = t_quantile(0.975, 9) * np.sqrt(0.5 * 0.5 * 10 / 9) / np.sqrt(10)   # t over the 10 items
    assert (sp["ci_low"], sp["ci_high"]) == pytest.approx((0.5 - half, 0.5 + half))
    assert get(s, "condition", "PS", "margin")["value"] == pytest.approx(0.4)   # 7 x 1 + 3 x -1 over 10
    # SP and PS items: the nearest noun is the attractor, so they are conflict items
    assert get(s, "match", "matched", "accuracy")["value"] == pytest.approx(0.9)
    assert get(s, "match", "conflict", "accuracy")["value"] == pytest.approx(0.6)
    syn = syntactic_rates(s[(s["construction"] == "pp")]).iloc[0]
    assert syn["metric"] == "syntactic_rate" and syn["value"] == pytest.approx(0.6)
    eff = get(s, "effect", "all", "attraction_effect")
    assert eff["value"] == pytest.approx(0.3) and eff["ci_low"] < 0.3 < eff["ci_high"]
    assert get(s, "effect", "sg_head", "attraction_effect")["value"] == pytest.approx(0.5)
    assert get(s, "effect", "pl_head", "attraction_effect")["value"] == pytest.approx(0.1)
    assert get(s, "effect", "sg_head-pl_head", "markedness_asymmetry")["value"] == pytest.approx(0.4)
    assert set(s["model"]) == {"m"} and s.loc[s["level"] != "effect", "accuracy"].notna().all()


def test_conflict_is_never_pooled_with_mismatched_items_whose_nearest_noun_agrees():
    """An attractor before the head (sent_comp, within_orc) leaves the nearest noun agreeing with the head:
    such items form their own class, and the conflict accuracy is the conflict items' alone."""
    frame = pd.concat([cell("SP", 20, 2, construction="pp"),                       # nearest = attractor
                       cell("SP", 20, 18, construction="sent_comp", nearest="sg"),  # nearest = head
                       cell("SS", 20, 20, construction="pp")], ignore_index=True)
    s = summarize(frame)
    assert get(s, "match", "conflict", "accuracy", construction="all")["value"] == pytest.approx(0.1)
    other = get(s, "match", "mismatched_no_conflict", "accuracy", construction="all")
    assert other["value"] == pytest.approx(0.9) and other["n_items"] == 20
    assert get(s, "effect", "all", "attraction_effect", construction="all")["value"] == pytest.approx(0.9)


def test_linzen_levels_and_distance():
    """level attractors counts items whose attractors all have one number; level distance reads items
    without attractors by head-verb distance."""
    frame = pd.concat([cell("SPP", 10, 3), cell("SSP", 10, 9), cell("SSS", 10, 10), cell("SP", 10, 6),
                       cell("S", 10, 9, construction="control", distance=3),
                       cell("P", 10, 7, construction="control", distance=9)], ignore_index=True)
    s = summarize(frame)
    assert get(s, "attractors", "conflict", "accuracy", n_attractors=2)["value"] == pytest.approx(0.3)  # SPP only
    assert get(s, "match", "conflict", "accuracy", n_attractors=2)["value"] == pytest.approx(0.3)       # SSP is mixed
    assert get(s, "attractors", "matched", "accuracy", n_attractors=2)["value"] == pytest.approx(1.0)
    assert get(s, "distance", "none", "accuracy", construction="control", distance=9)["value"] == pytest.approx(0.7)


def test_mixed_attractor_patterns_count_only_in_their_condition():
    """SSP (conflict) and SPS (no conflict) mix the attractors' numbers, a configuration the grammar never
    produces: they keep their condition cells but stay out of every pool (overall, match, effect, 'all',
    named pools), so the pooled conflict cell at k=2 is SPP's alone."""
    frame = pd.concat([cell("SPP", 10, 3), cell("SSP", 10, 9), cell("SPS", 10, 8), cell("SSS", 10, 10),
                       cell("SP", 10, 6, construction="src")], ignore_index=True)
    s = summarize(frame, pools={"pooled": ("pp", "src")})
    assert get(s, "condition", "SSP", "accuracy", n_attractors=2)["value"] == pytest.approx(0.9)
    assert get(s, "condition", "SPS", "accuracy", n_attractors=2)["value"] == pytest.approx(0.8)
    for con in ("pp", "all", "pooled"):
        assert get(s, "match", "conflict", "accuracy", n_attractors=2, construction=con)["n_items"] == 10
        assert not len(s[(s["construction"] == con) & (s["level"] == "match")
                         & (s["condition"] == "mismatched_no_conflict")])
        assert get(s, "effect", "all", "attraction_effect", n_attractors=2, construction=con)["value"] \
            == pytest.approx(0.7)
    assert get(s, "overall", "all", "accuracy", construction="pp")["n_items"] == 20
    assert get(s, "overall", "all", "accuracy", construction="all")["n_items"] == 30


def test_summary_is_deterministic_and_pools_constructions():
    frame = pd.concat([hand_frame(), hand_frame(construction="src")], ignore_index=True)
    a, b = summarize(frame), summarize(frame)
    pd.testing.assert_frame_equal(a, b)
    pooled = get(a, "condition", "SP", "accuracy", construction="all")
    assert pooled["n_items"] == 20 and pooled["n_excluded"] == 4


def test_label_columns_become_group_keys():
    frame = pd.concat([hand_frame(attractor_rate=0.1), hand_frame(attractor_rate=0.5)], ignore_index=True)
    s = summarize(frame)
    assert "attractor_rate" in s.columns
    assert set(s["attractor_rate"]) == {0.1, 0.5}


def test_seed_aggregation_crosses_seeds_and_items():
    """Pooled over 3 seeds that scored the same items: the value is the mean over seeds, the interval is
    crossed_interval on the seeds x items table, and it is wider than the t-interval over seed means when
    the seeds agree but the items vary."""
    rng = np.random.default_rng(0)
    table = (rng.random((3, 40)) < 0.6).astype(float)
    table[1] = table[0]
    table[2] = table[0]                          # identical seeds: all variance is between items
    frames = []
    for k in range(3):
        f = cell("SP", 40, 0, model=f"m{k}", seed=k)
        f["correct"] = pd.array(table[k].astype(bool), dtype="boolean")
        f["margin"] = np.where(table[k] > 0, 1.0, -1.0)
        frames += [f, cell("SS", 40, 40, model=f"m{k}", seed=k)]
    agg = aggregate_seeds(pd.concat(frames, ignore_index=True))
    row = get(agg, "condition", "SP", "accuracy")
    v, lo, hi = crossed_interval([table], [1.0])
    assert (row["value"], row["ci_low"], row["ci_high"]) == pytest.approx((v, lo, hi))
    assert row["ci_high"] - row["ci_low"] > 0.2 and row["sd"] == pytest.approx(0.0)      # the seed t-interval would be [v, v]
    assert row["n_seeds"] == 3 and row["n_items"] == 40 and row["ci_method"] == "seeds x items (crossed)"
    one = aggregate_seeds(frames[0])
    r1 = get(one, "condition", "SP", "accuracy")
    assert r1["n_seeds"] == 1 and r1["ci_method"] == "items (1 seed)" and r1["ci_low"] < table[0].mean() < r1["ci_high"]


def test_seed_aggregation_pairs_items():
    """An item one seed did not score leaves the pooled cell (items are paired across seeds) and is counted."""
    a, b = cell("SP", 10, 5, model="a", seed=0), cell("SP", 10, 5, model="b", seed=1, n_excluded=0)
    b.loc[0, ["excluded", "exclude_reason"]] = [True, "tie"]
    b["correct"] = b["correct"].astype("boolean")
    b.loc[0, "correct"] = pd.NA
    row = get(aggregate_seeds(pd.concat([a, b], ignore_index=True)), "condition", "SP", "accuracy")
    assert row["n_items"] == 9 and row["n_excluded"] == 1


def test_exclusion_counts_per_condition():
    exc = exclusion_counts(hand_frame())
    assert exc.to_dict("records") == [{"model": "m", "data": "d", "construction": "pp", "condition": "SP",
                                       "reason": "oov", "n": 2}]


def test_turning_point_rule():
    assert turning_point([0.01, 0.03, 0.1, 0.3], ["sequential", "sequential", "undecided", "syntactic"]) == \
        ("turns", 0.03, 0.3)
    assert turning_point([0.01, 0.1, 0.3], ["sequential", "syntactic", "syntactic"]) == ("turns", 0.01, 0.1)
    # a lone sequential point among undecided ones (the unigram at one rate) is no transition
    assert turning_point([0.01, 0.03, 0.1], ["undecided", "sequential", "undecided"])[0] == "no clean transition"
    assert turning_point([0.01, 0.1], ["syntactic", "sequential"])[0] == "no clean transition"
    assert turning_point([0.01, 0.1], ["syntactic", "syntactic"])[0] == "syntactic throughout"
    assert turning_point([0.01, 0.1], ["undecided", "undecided"])[0] == "undecided throughout"
    verdict, last_seq, first_syn = turning_point([0.01, 0.05, 0.3], ["undecided", "syntactic", "syntactic"])
    assert verdict == "syntactic from 0.05" and np.isnan(last_seq) and first_syn == 0.05
    assert turning_point([0.01, 0.05, 0.3], ["sequential", "undecided", "undecided"])[0] == "sequential up to 0.01"
    assert turning_point([0.01, 0.05], ["sequential", "sequential"])[0] == "sequential throughout"


def test_syntactic_onset_reads_conflict_items():
    rows = []
    for arch, vals in (("lstm", [0.2, 0.45, 0.8, 0.9]), ("unigram", [0.5, 0.4, 0.5, 0.5])):
        for rate, v in zip([0.0, 0.1, 0.2, 0.4], vals):
            rows.append({"arch": arch, "attractor_rate": rate, "metric": "accuracy", "construction": "all",
                         "condition": "conflict", "n_attractors": 1, "level": "match", "value": v,
                         "ci_low": v - 0.05, "ci_high": v + 0.05})
    out = syntactic_onset(pd.DataFrame(rows)).set_index("arch")
    assert out.loc["lstm", "verdict"] == "turns"
    assert out.loc["lstm", "sequential_until"] == 0.0 and out.loc["lstm", "syntactic_from"] == 0.2
    assert out.loc["unigram", "verdict"] == "no clean transition"
    assert out.loc["lstm", "verdicts"].startswith("0: sequential, 0.1: ~")


# reference values printed by scipy.stats.t.ppf (scipy is not imported here: it takes seconds)
@pytest.mark.parametrize("df,p,expected", [(1, 0.975, 12.706204736174694), (2, 0.975, 4.302652729749462),
                                           (3, 0.995, 5.840909309733355), (4, 0.975, 2.7764451051977934),
                                           (9, 0.95, 1.833112932656237), (29, 0.975, 2.045229642132703)])
def test_t_quantile_matches_tables(df, p, expected):
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-9)


def test_wilson_interval():
    from probe.metrics import wilson_interval

    assert wilson_interval(0, 19)[2] == pytest.approx(0.1682, abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.5, 0.2366, 0.7634), abs=1e-4)
    assert all(np.isnan(x) for x in wilson_interval(0, 0))
