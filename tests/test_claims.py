"""claims.json: a folder's findings as values and verdicts, and the check of one run's claims against another's."""
import json

import pandas as pd

from probe.report.claims import check_claims, collect_claims, read_claims, write_claims


def seed_rows(values: dict) -> pd.DataFrame:
    """A summary_seeds.csv of one cell at two rates: {(class, rate): (value, low, high)}."""
    rows = []
    for (cls, rate), (v, lo, hi) in values.items():
        con = "pooled" if cls == "mismatched_no_conflict" else "pooled_conflict"
        rows.append({"arch": "lstm", "method": "prefix", "data": "bench", "attractor_rate": rate, "construction": con,
                     "condition": cls, "n_attractors": 1, "distance": -1, "level": "match", "metric": "accuracy",
                     "value": v, "ci_low": lo, "ci_high": hi, "sd": 0.1, "n_seeds": 10, "n_items": 400,
                     "n_excluded": 0, "accuracy": v, "ci_method": "seeds x items (crossed)"})
    return pd.DataFrame(rows)


REFERENCE = {("conflict", 0.01): (0.40, 0.30, 0.48), ("conflict", 0.3): (0.90, 0.85, 0.95),
             ("matched", 0.01): (0.99, 0.97, 1.0), ("matched", 0.3): (0.99, 0.97, 1.0),
             ("mismatched_no_conflict", 0.01): (0.95, 0.9, 1.0), ("mismatched_no_conflict", 0.3): (0.97, 0.9, 1.0)}


def test_claims_are_values_and_verdicts_read_from_the_folder(tmp_path):
    seed_rows(REFERENCE).to_csv(tmp_path / "summary_seeds.csv", index=False)
    claims = write_claims(tmp_path)
    ids = {c["id"]: c for c in claims}
    assert ids["headline/conflict/lstm/r0.01"]["value"] == 0.40 and ids["headline/conflict/lstm/r0.01"]["n_seeds"] == 10
    assert ids["headline/conflict/lstm/r0.01/verdict"]["verdict"] == "sequential"
    assert ids["headline/conflict/lstm/r0.3/verdict"]["verdict"] == "syntactic"
    assert ids["turning_point/lstm"]["verdict"] == "turns" and ids["turning_point/lstm"]["n_seeds"] == 10
    assert read_claims(tmp_path) == json.loads(json.dumps(claims))
    assert collect_claims(tmp_path) == claims


def test_a_run_is_checked_claim_by_claim(tmp_path):
    ref, new = tmp_path / "ref", tmp_path / "new"
    ref.mkdir(), new.mkdir()
    seed_rows(REFERENCE).to_csv(ref / "summary_seeds.csv", index=False)
    moved = {**REFERENCE, ("conflict", 0.01): (0.55, 0.52, 0.58)}       # outside the interval, and now syntactic
    seed_rows(moved).to_csv(new / "summary_seeds.csv", index=False)
    table = check_claims(write_claims(new), write_claims(ref))
    failed = table[table["holds"] != "yes"]
    assert set(failed["id"]) == {"headline/conflict/lstm/r0.01", "headline/conflict/lstm/r0.01/verdict",
                                 "turning_point/lstm"}
    assert (table["holds"] == "yes").sum() == len(table) - 3
    alone = check_claims([], write_claims(ref))
    assert (alone["holds"] == "missing").all()


def test_the_real_english_overview_and_the_measured_rates_are_claims(tmp_path):
    seed_rows(REFERENCE).to_csv(tmp_path / "summary_seeds.csv", index=False)
    pd.DataFrame([{"test set": "BLiMP: conflict", "arch": "lstm", "value": 0.13, "ci_low": 0.1, "ci_high": 0.16,
                   "n_items": 530}]).to_csv(tmp_path / "overview.csv", index=False)
    pd.DataFrame([{"corpus": "PTB train", "construction": "all", "metric": "attractor_rate", "value": 0.114,
                   "ci_low": 0.109, "ci_high": 0.119, "n_dependencies": 16810},
                  {"corpus": "PTB train", "construction": "pp", "metric": "attractor_rate", "value": 0.45,
                   "ci_low": 0.43, "ci_high": 0.47, "n_dependencies": 2754}]).to_csv(tmp_path / "attractor_rates.csv",
                                                                                       index=False)
    ids = {c["id"]: c for c in write_claims(tmp_path)}
    blimp = ids["overview/BLiMP: conflict/lstm"]
    assert blimp["value"] == 0.13 and blimp["ci_high"] == 0.16
    assert ids["attractor_rate/PTB train"]["value"] == 0.114
    assert not [i for i in ids if i.startswith("attractor_rate/") and i != "attractor_rate/PTB train"]


def test_a_depth_variant_whose_seeds_split_says_so(tmp_path):
    """Each seed's conflict accuracy is read against chance through its own items' interval: 0.53 of 226 items
    is undecided, 0.97 syntactic; a variant whose seeds disagree is a split, not a mean."""
    rows = []
    for skip, accs in (("dense", (0.45, 0.53, 0.97, 1.0, 1.0)), ("residual", (1.0, 0.99, 1.0, 1.0, 1.0))):
        for seed, acc in enumerate(accs):
            rows.append({"arch": "lstm", "variant": "default", "layers": 4, "skip": skip, "seed": seed,
                         "state": "trained", "status": "converged", "valid_ppl_ratio": 1.05, "acc_conflict": acc,
                         "n_conflict": 226, "acc_matched": 1.0})
    pd.DataFrame(rows).to_csv(tmp_path / "depth.csv", index=False)
    seed_rows(REFERENCE).to_csv(tmp_path / "summary_seeds.csv", index=False)
    ids = {c["id"]: c for c in write_claims(tmp_path)}
    assert ids["depth/lstm/L4/dense/agreement"]["verdict"] == "splits between seeds (3 syntactic, 2 undecided)"
    assert ids["depth/lstm/L4/residual/agreement"]["verdict"] == "syntactic in every seed"
    assert ids["depth/lstm/L4/dense/agreement"]["n_seeds"] == 5
