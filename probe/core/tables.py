"""Markdown tables and numbers with intervals: shared by the analyses and the report (both import them from here)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd


def fmt_ci(value: float, lo: float, hi: float, digits: int = 3) -> str:
    """'0.812 [0.780, 0.840]' ('-' for a missing value, no interval when it is missing)."""
    if value is None or not np.isfinite(value):
        return "-"
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def code_tokens(text: str) -> str:
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
