"""A results folder's findings in machine-readable form (claims.json), and the check of a run against them.

Every finding a report states is a claim: a statement, the value it rests on with its interval and the
number of seeds behind it, and the rows of the folder's own files it comes from. Two kinds:

  value    a number with its interval (accuracy on the pooled conflict items of one cell and rate, a depth
           variant's conflict accuracy over seeds, a sensitivity row, ...): another run reproduces it when its
           own value for the same rows lies inside this interval;
  verdict  a qualitative reading of intervals (a cell is syntactic / sequential / undecided at a rate; where a
           cell turns; what lowers agreement, distance or attractors; a depth variant stalls): another run
           reproduces it when it reads the same.

``check_claims`` sets a run's claims beside a reference folder's; ``probe run`` ends with that verdict, over
every claim of the committed reference, naming the CPU it ran on.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from probe.core.io import write_text_atomic
from probe.metrics import interval_verdict

CLAIMS = "claims.json"


def _value(claim_id: str, statement: str, row: Any, source: str, rows: dict, **extra) -> dict:
    return {"id": claim_id, "kind": "value", "statement": statement, "value": float(row["value"]),
            "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
            "n_seeds": int(row["n_seeds"]) if "n_seeds" in row and pd.notna(row["n_seeds"]) else None,
            "source": source, "rows": rows, **extra}


def _verdict(claim_id: str, statement: str, verdict: str, source: str, rows: dict, **extra) -> dict:
    return {"id": claim_id, "kind": "verdict", "statement": statement, "verdict": verdict, "source": source,
            "rows": rows, **extra}


def _rate_label(rate: Any) -> str:
    return "" if rate is None or (isinstance(rate, float) and math.isnan(rate)) else f" at attractor rate {rate:g}"


def headline_claims(seeds: pd.DataFrame) -> list[dict]:
    """Per cell (and rate): matched, conflict and mismatched-without-conflict accuracy with one attractor on the
    headline's constructions, and the conflict row's verdict against chance."""
    from probe.report.report import HEADLINE_CLASSES, headline_constructions

    pooled, frames = headline_constructions(seeds)
    keys = ["arch"] + (["attractor_rate"] if "attractor_rate" in seeds.columns else [])
    out = []
    for cls, title in HEADLINE_CLASSES:
        con = pooled if cls == "mismatched_no_conflict" else frames
        sel = seeds[(seeds["construction"] == con) & (seeds["level"] == "match") & (seeds["metric"] == "accuracy")
                    & (seeds["condition"] == cls) & (seeds["n_attractors"] == 1)]
        for _, r in sel.iterrows():
            if pd.isna(r["value"]):
                continue
            rate = r.get("attractor_rate")
            where = {k: (None if pd.isna(r[k]) else r[k]) for k in keys}
            rows = {**where, "construction": con, "level": "match", "condition": cls, "n_attractors": 1,
                    "metric": "accuracy"}
            cid = f"headline/{cls}/{r['arch']}" + (f"/r{rate:g}" if rate is not None and pd.notna(rate) else "")
            out.append(_value(cid, f"{r['arch']}{_rate_label(rate)}: {title}", r, "summary_seeds.csv", rows))
            if cls == "conflict":
                v = interval_verdict(r["ci_low"], r["ci_high"])
                out.append(_verdict(cid + "/verdict", f"{r['arch']}{_rate_label(rate)} is {v} on conflict items",
                                    v, "summary_seeds.csv", rows, n_seeds=int(r["n_seeds"])))
    return out


def construction_claims(seeds: pd.DataFrame) -> list[dict]:
    """Per construction of the headline's pool, cell and rate: the syntactic choice rate on its conflict items
    with one attractor (what the pooled rate is made of), with the verdict against chance."""
    from probe.report.report import headline_constructions

    pooled, frames = headline_constructions(seeds)
    if pooled == frames == "all" or pooled not in set(seeds["construction"]):
        return []
    members = set(seeds.loc[seeds["construction"] != pooled, "construction"]) - {"all", pooled, frames}
    sel = seeds[seeds["construction"].isin(members) & (seeds["level"] == "match") & (seeds["metric"] == "accuracy")
                & (seeds["condition"] == "conflict") & (seeds["n_attractors"] == 1)]
    out = []
    for _, r in sel.iterrows():
        if pd.isna(r["value"]):
            continue
        rate = r.get("attractor_rate")
        tag = f"/r{rate:g}" if rate is not None and pd.notna(rate) else ""
        rows = {"arch": r["arch"], **({"attractor_rate": rate} if tag else {}), "construction": r["construction"],
                "level": "match", "condition": "conflict", "n_attractors": 1, "metric": "accuracy"}
        cid = f"construction/{r['construction']}/{r['arch']}{tag}"
        out.append(_value(cid, f"{r['arch']}{_rate_label(rate)}, {r['construction']}: conflict accuracy", r,
                          "summary_seeds.csv", rows))
    return out


def _n_seeds(seeds: pd.DataFrame, arch: str, rate: Any = None) -> int | None:
    """The fewest models (training seeds) behind any conflict row of ``arch`` (at ``rate``, when given)."""
    sel = seeds[(seeds["arch"] == arch) & (seeds["level"] == "match") & (seeds["condition"] == "conflict")]
    if rate is not None and not (isinstance(rate, float) and math.isnan(rate)) and "attractor_rate" in sel.columns:
        sel = sel[sel["attractor_rate"] == rate]
    n = sel["n_seeds"].dropna() if "n_seeds" in sel.columns else pd.Series(dtype=float)
    return int(n.min()) if len(n) else None


def turning_point_claims(seeds: pd.DataFrame) -> list[dict]:
    """Per cell: where it turns from sequential to syntactic along the attractor rate (the report's rule)."""
    from probe.metrics import syntactic_onset
    from probe.report.report import headline_constructions

    if "attractor_rate" not in seeds.columns or seeds["attractor_rate"].nunique() < 2:
        return []
    frames = headline_constructions(seeds)[1]
    onset = syntactic_onset(seeds, construction=frames)
    return [_verdict(f"turning_point/{r['arch']}", f"{r['arch']} along the attractor rate: {r['verdict']}",
                     r["verdict"], "summary_seeds.csv", {"arch": r["arch"], "construction": frames,
                                                         "level": "match", "condition": "conflict"},
                     per_rate=r["verdicts"], n_seeds=_n_seeds(seeds, r["arch"])) for _, r in onset.iterrows()]


def distance_claims(seeds: pd.DataFrame) -> list[dict]:
    """Per neural cell and rate: what lowers the syntactic choice rate, distance or attractors."""
    from probe.report.report import distance_vs_attraction

    table = distance_vs_attraction(seeds)
    out = []
    for _, r in table.iterrows():
        rate = r.get("attractor_rate")
        cid = f"distance_or_attraction/{r['arch']}" + (f"/r{rate:g}" if rate is not None and pd.notna(rate) else "")
        out.append(_verdict(cid, f"{r['arch']}{_rate_label(rate)}: what lowers agreement: {r['what lowers it']}",
                            r["what lowers it"], "summary_seeds.csv",
                            {"arch": r["arch"], "attractor_rate": None if rate is None or pd.isna(rate) else rate},
                            n_seeds=_n_seeds(seeds, r["arch"], rate)))
    return out


def depth_claims(root: Path) -> list[dict]:
    """Per depth variant: conflict accuracy over its seeds (with a t-interval) and whether it trains."""
    f = root / "depth.csv"
    if not f.is_file():
        return []
    from probe.analyses.depth import seed_summary

    table = pd.read_csv(f)
    agg = seed_summary(table)
    trained = table[table["state"] == "trained"]
    out = []
    for _, r in agg.iterrows():
        name = f"{r['arch']} {r['layers']} layer(s), skip {r['skip']}"
        cid = f"depth/{r['arch']}/L{r['layers']}/{r['skip']}"
        rows = {"arch": r["arch"], "layers": int(r["layers"]), "skip": r["skip"]}
        if pd.notna(r["acc_conflict"]):
            row = {"value": r["acc_conflict"], "ci_low": r["acc_conflict_low"], "ci_high": r["acc_conflict_high"],
                   "n_seeds": r["seeds"]}
            # one seed: no interval over seeds (NaN), which check_claims reports as 'no interval'
            out.append(_value(cid + "/acc_conflict", f"{name}: conflict accuracy", row, "depth.csv", rows,
                              per_seed=r["acc_conflict_seeds"]))
        trains = ("stalls" if r["stalled"] == r["seeds"] else "trains" if r["stalled"] == 0 else
                  f"stalls in {r['stalled']} of {r['seeds']} seeds")
        out.append(_verdict(cid + "/trains", f"{name} {trains}", trains, "depth.csv", rows, n_seeds=int(r["seeds"])))
        per_seed = _seed_verdicts(trained[(trained["arch"] == r["arch"]) & (trained["variant"] == r["variant"])
                                          & (trained["layers"] == r["layers"]) & (trained["skip"] == r["skip"])])
        if per_seed:
            counts = {v: per_seed.count(v) for v in ("syntactic", "undecided", "sequential") if v in per_seed}
            agrees = (f"{per_seed[0]} in every seed" if len(counts) == 1 else "splits between seeds ("
                      + ", ".join(f"{n} {v}" for v, n in counts.items()) + ")")
            out.append(_verdict(cid + "/agreement", f"{name}: each seed's conflict accuracy against chance: {agrees}",
                                agrees, "depth.csv", rows, n_seeds=len(per_seed)))
    return out


def _seed_verdicts(rows: pd.DataFrame) -> list[str]:
    """Per trained model (row of depth.csv): its conflict accuracy's verdict against chance, read from the 95%
    Wilson interval over its conflict items (``interval_verdict``)."""
    from probe.core.stats import wilson_interval

    out = []
    for acc, n in zip(rows["acc_conflict"], rows.get("n_conflict", pd.Series(index=rows.index, dtype=float))):
        if pd.notna(acc) and pd.notna(n) and n > 0:
            _, low, high = wilson_interval(acc * n, int(n))
            out.append(interval_verdict(low, high))
    return out


def sensitivity_claims(root: Path) -> list[dict]:
    """Per cell, rate and state convention: the pooled conflict accuracy (state_sensitivity.csv)."""
    f = root / "state_sensitivity.csv"
    if not f.is_file():
        return []
    out = []
    for _, r in pd.read_csv(f).iterrows():
        rate = r.get("attractor_rate")
        cid = f"sensitivity/{r['convention']}/{r['arch']}" + (f"/r{rate:g}" if pd.notna(rate) else "")
        rows = {"arch": r["arch"], "convention": r["convention"],
                **({"attractor_rate": rate} if pd.notna(rate) else {})}
        out.append(_value(cid, f"{r['arch']}{_rate_label(rate)}, {r['convention']}: conflict accuracy", r,
                          "state_sensitivity.csv", rows))
    return out


def overview_claims(root: Path) -> list[dict]:
    """Per test set and model of the real-English overview: its accuracy or attraction effect (overview.csv)."""
    from probe.report.overview import OVERVIEW_CSV

    f = root / OVERVIEW_CSV
    if not f.is_file():
        return []
    return [_value(f"overview/{r['test set']}/{r['arch']}", f"{r['arch']}: {r['test set']}", r, OVERVIEW_CSV,
                   {"test set": r["test set"], "arch": r["arch"]}) for _, r in pd.read_csv(f).iterrows()]


def rate_claims(root: Path) -> list[dict]:
    """Per real-text corpus: the share of its subject-verb dependencies crossing a noun of the other number
    (attractor_rates.csv, all constructions)."""
    f = root / "attractor_rates.csv"
    if not f.is_file():
        return []
    rows = pd.read_csv(f)
    rows = rows[(rows["construction"] == "all") & (rows["metric"] == "attractor_rate")]
    return [_value(f"attractor_rate/{r['corpus']}", f"{r['corpus']}: share of subject-verb dependencies crossing a "
                   "noun of the other number", r, "attractor_rates.csv",
                   {"corpus": r["corpus"], "construction": "all", "metric": "attractor_rate"})
            for _, r in rows.iterrows()]


def collect_claims(root: str | Path) -> list[dict]:
    """Every claim a results folder's report states, read from its own files."""
    from probe.report.plots import read_seed_summary

    root = Path(root)
    seeds = read_seed_summary(root)
    return (headline_claims(seeds) + construction_claims(seeds) + turning_point_claims(seeds) + distance_claims(seeds)
            + depth_claims(root) + sensitivity_claims(root) + overview_claims(root) + rate_claims(root))


def write_claims(root: str | Path) -> list[dict]:
    """Write ``root/claims.json`` (every claim of the folder) and return the claims."""
    claims = collect_claims(root)
    write_text_atomic(Path(root) / CLAIMS, json.dumps({"claims": claims}, indent=1, default=_plain) + "\n")
    return claims


def _plain(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else str(x)


def read_claims(root: str | Path) -> list[dict] | None:
    """The claims of a folder (its claims.json), or None when it has none."""
    f = Path(root) / CLAIMS
    if not f.is_file():
        return None
    return json.loads(f.read_text(encoding="utf-8"))["claims"]


def check_claims(new: list[dict], reference: list[dict]) -> pd.DataFrame:
    """One row per reference claim: this run's value or verdict, and whether it holds (a value inside the
    reference's interval; the same verdict); 'missing' where this run has no such claim."""
    mine = {c["id"]: c for c in new}
    rows = []
    for ref in reference:
        got = mine.get(ref["id"])
        if ref["kind"] == "value":
            lo, hi = ref.get("ci_low"), ref.get("ci_high")
            usable = lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi))
            holds = (None if got is None or not usable else
                     bool(lo - 1e-12 <= got["value"] <= hi + 1e-12))
            rows.append({"claim": ref["statement"], "id": ref["id"], "kind": "value",
                         "reference": f"{ref['value']:.3f} [{lo:.3f}, {hi:.3f}]" if usable else f"{ref['value']:.3f}",
                         "this run": "missing" if got is None else f"{got['value']:.3f}",
                         "holds": "missing" if got is None else "no interval" if holds is None else
                         "yes" if holds else "no"})
        else:
            holds = None if got is None else got["verdict"] == ref["verdict"]
            rows.append({"claim": ref["statement"], "id": ref["id"], "kind": "verdict", "reference": ref["verdict"],
                         "this run": "missing" if got is None else got["verdict"],
                         "holds": "missing" if got is None else "yes" if holds else "no"})
    return pd.DataFrame(rows, columns=["claim", "id", "kind", "reference", "this run", "holds"])
