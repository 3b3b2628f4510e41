"""report.md for a results folder: summary tables, figures, the exact commands and the environment.

Every number in the report is read from the folder's summary files (summary_seeds.csv, summary.json,
config.json); nothing is computed from scores here or typed by hand.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .config import write_text_atomic

FIGURE_CAPTIONS = {
    "attractor_rate": "Syntactic choice rate (items whose nearest noun differs from the head) vs the corpus "
                      "attractor rate, per architecture (95% CI bands).",
    "attractors": "Accuracy vs number of attractors (solid: mismatched, dashed: matched; 95% CI bands).",
    "preference": "Syntactic (head) vs sequential (nearest noun) choices per construction, mismatched items.",
    "asymmetry": "Markedness asymmetry: SP vs PS accuracy and the attraction effect per head number.",
    "learning_curves": "Validation perplexity and agreement accuracy during training.",
}


def fmt_ci(value: float, lo: float, hi: float, digits: int = 3) -> str:
    """'0.812 [0.780, 0.840]' ('-' for a missing value, no interval when it is missing)."""
    if value is None or not np.isfinite(value):
        return "-"
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _code_tokens(text: str) -> str:
    """Wrap special tokens such as <eos> in backticks, so markdown does not read them as HTML tags."""
    return re.sub(r"(?<!`)(<\w+>)(?!`)", r"`\1`", str(text))


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table (no dependency on tabulate); numbers as they are formatted in the frame."""
    if not len(frame):
        return "_(no rows)_\n"
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("" if (isinstance(v, float) and np.isnan(v)) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _with_ci(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([fmt_ci(v, lo, hi) for v, lo, hi in zip(frame["value"], frame["ci_low"], frame["ci_high"])],
                     index=frame.index, dtype=object)


def _group_keys(seeds: pd.DataFrame) -> list[str]:
    from .plots import group_keys

    return group_keys(seeds)


def headline_table(seeds: pd.DataFrame, *, n_attractors: int = 1) -> pd.DataFrame:
    """Per arch (x labels): accuracy on matched and mismatched items with n attractors, pooled constructions."""
    cons = set(seeds["construction"])
    construction = "all" if "all" in cons else sorted(cons)[0]
    sel = seeds[(seeds["construction"] == construction) & (seeds["level"] == "match")
                & (seeds["n_attractors"] == n_attractors) & (seeds["metric"] == "accuracy")]
    keys = ["arch"] + _group_keys(seeds)
    rows = []
    for vals, g in sel.groupby(keys, sort=True, dropna=False):
        vals = vals if isinstance(vals, tuple) else (vals,)
        row = dict(zip(keys, vals))
        for cond in ("matched", "mismatched"):
            r = g[g["condition"] == cond]
            row[f"{cond} accuracy [95% CI]"] = fmt_ci(*r[["value", "ci_low", "ci_high"]].iloc[0]) if len(r) else "-"
        same = seeds[(seeds["construction"] == construction) & (seeds["n_attractors"] == n_attractors)]
        for k, v in zip(keys, vals):
            same = same[same[k] == v]
        seq = same[(same["metric"] == "sequential_rate") & (same["level"] == "match")
                   & (same["condition"] == "mismatched")]
        row["sequential choice rate (mismatched)"] = fmt_ci(*seq[["value", "ci_low", "ci_high"]].iloc[0]) \
            if len(seq) else "-"
        eff = same[(same["metric"] == "attraction_effect") & (same["condition"] == "all")]
        row["attraction effect"] = fmt_ci(*eff[["value", "ci_low", "ci_high"]].iloc[0]) if len(eff) else "-"
        row["seeds"] = int(g["n_seeds"].max())
        row["items (all seeds)"] = int(g["n_items"].sum())
        rows.append(row)
    from .plots import arch_order

    out = pd.DataFrame(rows)
    if len(out):
        rank = {a: i for i, a in enumerate(arch_order(out["arch"]))}
        out = out.sort_values(["arch"] + keys[1:], key=lambda c: c.map(rank) if c.name == "arch" else c, kind="stable")
    return out


def condition_table(seeds: pd.DataFrame) -> pd.DataFrame:
    """Accuracy [CI] per construction x condition (rows) and arch (columns), condition-level cells."""
    sel = seeds[(seeds["level"] == "condition") & (seeds["metric"] == "accuracy") & (seeds["construction"] != "all")]
    if not len(sel):
        return pd.DataFrame()
    keys = _group_keys(seeds)
    sel = sel.assign(cell=_with_ci(sel))
    index = keys + ["construction", "condition"]
    wide = sel.pivot_table(index=index, columns="arch", values="cell", aggfunc="first")
    n = sel.groupby(index)["n_items"].max().rename("items (all seeds, max per arch)")
    wide = wide.join(n).reset_index()
    from .plots import arch_order

    archs = arch_order(sel["arch"])
    return wide[index + archs + ["items (all seeds, max per arch)"]]


def effect_table(seeds: pd.DataFrame, *, n_attractors: int = 1) -> pd.DataFrame:
    """Attraction effects (all, sg head, pl head) and the markedness asymmetry per arch x construction."""
    sel = seeds[(seeds["level"] == "effect") & (seeds["n_attractors"] == n_attractors)]
    if not len(sel):
        return pd.DataFrame()
    keys = ["arch"] + _group_keys(seeds) + ["construction"]
    sel = sel.assign(cell=_with_ci(sel), col=sel["metric"] + " " + sel["condition"])
    wide = sel.pivot_table(index=keys, columns="col", values="cell", aggfunc="first").reset_index()
    order = ["attraction_effect all", "attraction_effect sg_head", "attraction_effect pl_head",
             "markedness_asymmetry sg_head-pl_head"]
    return wide[keys + [c for c in order if c in wide.columns]]


def exclusion_table(summary_json: dict) -> pd.DataFrame:
    """Excluded items per data x construction x condition x reason, summed over models (from summary.json)."""
    exc = pd.DataFrame(summary_json.get("excluded", []))
    if not len(exc):
        return pd.DataFrame()
    return exc.groupby(["data", "construction", "condition", "reason"], sort=True)["n"].sum().reset_index()


def git_commit(path: str | os.PathLike | None = None) -> str:
    """'<sha>' or '<sha> (uncommitted changes)' for the repository holding ``path``; 'unknown' outside git."""
    cwd = str(path or Path(__file__).resolve().parents[1])
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + (" (uncommitted changes)" if dirty else "")


def environment_facts() -> dict:
    """Versions, CPU/GPU, threads, date and git commit of the machine writing the report."""
    import importlib.metadata as md

    facts = {"date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
             "python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("torch", "datasets", "spacy", "numpy", "pandas", "matplotlib"):
        try:
            facts[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            facts[pkg] = "not installed"
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts["cpu"] = f"{cpu} ({usable} usable cores)"
    try:
        import torch

        facts["torch threads"] = str(torch.get_num_threads())
        facts["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:
        facts["gpu"] = "unknown"
    facts["git commit"] = git_commit()
    return facts


def write_report(results_dir: str | os.PathLike, *, title: str = "probe results", commands: Sequence[str] = (),
                 sections: Mapping[str, str] | None = None, intro: str = "", n_attractors: int = 1) -> Path:
    """Write ``results_dir/report.md`` from its summary files and figures; returns the path.

    ``commands``: the exact commands that produced the folder (shown verbatim). ``sections``: extra
    markdown sections (heading -> text) placed after the headline table, e.g. why the default sizes
    were chosen. Figures are those in ``results_dir/figures`` (PNG shown, PDF linked).
    """
    res = Path(results_dir)
    from .plots import read_seed_summary

    seeds = read_seed_summary(res)
    summary_json = json.loads((res / "summary.json").read_text()) if (res / "summary.json").is_file() else {}
    config = json.loads((res / "config.json").read_text()) if (res / "config.json").is_file() else {}
    out = [f"# {title}", ""]
    if intro:
        out += [intro.strip(), ""]
    method = summary_json.get("method", config.get("method", "?"))
    out += [f"Scoring method: **{method}**"
            + (f" (final `<eos>` {'included' if summary_json.get('final_eos', True) else 'not included'})"
               if method == "sentence" else " (log P(verb | `<eos>` prefix))")
            + f"; intervals: {int(100 * float(summary_json.get('ci_level', 0.95)))}% "
            "(bootstrap over items within a model; t-interval over training seeds where there are several).", ""]
    if commands:
        out += ["## Commands", "", "```sh", *commands, "```", ""]
    out += [f"## Headline: agreement with {n_attractors} attractor", "",
            "Accuracy = share of items where the model prefers the verb agreeing with the head. Mismatched "
            "items have attractors of the other number; there a sequential (nearest-noun) model scores below 0.5.",
            "", markdown_table(headline_table(seeds, n_attractors=n_attractors))]
    for heading, text in (sections or {}).items():
        out += [f"## {heading}", "", text.strip(), ""]
    if "attractor_rate" in seeds.columns:
        from .metrics import syntactic_onset

        onset = syntactic_onset(seeds, n_attractors=n_attractors)
        out += ["## Where agreement turns syntactic", "",
                "Per architecture, on items whose nearest noun differs from the head in number (all "
                f"constructions, {n_attractors} attractor): the largest corpus attractor rate at which the "
                "syntactic choice rate is reliably below chance (sequential agreement), and the rate from which it "
                "stays reliably above chance (syntactic agreement); '-' where that never happens in the sweep.", "",
                markdown_table(onset.astype(object).where(onset.notna(), "-").rename(columns={"sequential_until": "sequential up to rate",
                                                                 "syntactic_from": "syntactic from rate",
                                                                 "n_points": "rates tried"}))]
    out += ["## Attraction effects and markedness asymmetry", "",
            "attraction_effect = accuracy(matched) - accuracy(mismatched); per head number (sg_head: SS vs SP; "
            "pl_head: PP vs PS); markedness_asymmetry = effect(sg head) - effect(pl head), positive when plural "
            "attractors disrupt singular heads more than the reverse (as in humans).", "",
            markdown_table(effect_table(seeds, n_attractors=n_attractors)),
            "## Accuracy per construction and condition", "",
            "Condition codes: S/P per noun, head first (SP = singular head, plural attractor).", "",
            markdown_table(condition_table(seeds))]
    exc = exclusion_table(summary_json)
    out += ["## Excluded items", ""]
    if len(exc):
        out += ["Items not scored (out-of-vocabulary words, or a pair the vocabulary cannot tell apart), summed over "
                "models:", "", markdown_table(exc)]
    else:
        out += [f"None: all {summary_json.get('n_scores', 'the')} item scores are in the models' vocabularies.", ""]
    figs = sorted((res / "figures").glob("*.png")) if (res / "figures").is_dir() else []
    if figs:
        out += ["## Figures", ""]
        for png in figs:
            stem = png.stem.split("__")[0]
            caption = FIGURE_CAPTIONS.get(stem, png.stem)
            extra = png.stem[len(stem):].lstrip("_").replace("_", " ")
            pdf = png.with_suffix(".pdf")
            out += [f"![{png.stem}](figures/{png.name})", "",
                    f"*{caption}{' (' + extra + ')' if extra else ''}*"
                    + (f" [PDF](figures/{pdf.name})" if pdf.is_file() else ""), ""]
    conventions = config.get("conventions", {})
    if conventions:
        out += ["## Scoring conventions", "", *[f"- **{k}**: {_code_tokens(v)}" for k, v in conventions.items()], ""]
    models = config.get("models_info", [])
    if models:
        out += ["## Models", "", markdown_table(pd.DataFrame(models)[[c for c in ("model", "arch", "seed", "vocab_size",
                                                                                  "path") if c in models[0]]])]
    out += ["## Environment", "", *[f"- {k}: {v}" for k, v in environment_facts().items()], ""]
    path = res / "report.md"
    write_text_atomic(path, "\n".join(out).rstrip() + "\n")
    return path
