"""Shared looks and writers for figures and tables: one style per architecture (marker, line, colour, readable in
black and white), log axes with one label style, numbers in tables, atomic figure files. The analyses
and the report layer both use them, so they live below both."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from probe.core.io import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure


# arch -> (marker, line style, colour); unknown archs cycle through EXTRA_STYLES
ARCH_STYLES = {
    "srn": ("o", "-", "#1b9e77"),
    "gru": ("s", "--", "#d95f02"),
    "lstm": ("^", "-.", "#7570b3"),
    "transformer": ("D", ":", "#e7298a"),
    "unigram": ("+", (0, (1, 1)), "#666666"),
}


EXTRA_STYLES = [("v", (0, (3, 1, 1, 1)), "#66a61e"), ("x", (0, (5, 2)), "#444444"),
                ("P", (0, (1, 2)), "#a6761d"), ("*", (0, (4, 1, 1, 1, 1, 1)), "#e6ab02")]


HATCHES = ["", "//", "..", "xx", "\\\\", "oo", "--", "++"]


ARCH_ORDER = ("srn", "gru", "lstm", "transformer")


def arch_order(archs: Iterable[str]) -> list[str]:
    """Neural archs in the usual order first, then baselines and others alphabetically."""
    archs = list(dict.fromkeys(archs))
    return [a for a in ARCH_ORDER if a in archs] + sorted(a for a in archs if a not in ARCH_ORDER)


def arch_style(arch: str, archs: Sequence[str] = ()) -> tuple:
    """(marker, linestyle, colour) for ``arch``; n-grams and others get a stable extra style."""
    if arch in ARCH_STYLES:
        return ARCH_STYLES[arch]
    others = [a for a in arch_order(archs or [arch]) if a not in ARCH_STYLES]
    k = others.index(arch) if arch in others else 0
    return EXTRA_STYLES[k % len(EXTRA_STYLES)]


def figure_bytes(fig, fmt: str) -> bytes:
    """A matplotlib Figure rendered as ``fmt`` (150 dpi; PDFs without a creation date, so reruns are identical)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    return buf.getvalue()


def save_figure(fig: "Figure", folder: str | os.PathLike, stem: str,
                formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write ``folder/stem.<fmt>`` for each format (150 dpi PNG), each file atomically (other stages share the
    folder); returns the paths. The layout is computed once and then frozen, so the second format does not
    pay for it again.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    paths = []
    for fmt in formats:
        path = Path(folder) / f"{stem}.{fmt}"
        write_bytes_atomic(path, figure_bytes(fig, fmt))
        paths.append(path)
    return paths


def fmt_num(x: float, digits: int = 2) -> str:
    """A number for the report: scientific below 1e-3 or above 1e5, else fixed; 'n/a' for NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e6:
        return f"{x:.{digits - 1}e}"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{x:.{max(digits, 3)}g}"


def log_label(v: float) -> str:
    """One style for every log-axis tick: '0.01', '1', '1000' from 1e-3 to 1e4, else '1e8', '1e-6', '3e20'."""
    if 1e-3 <= v <= 1e4:
        return f"{v:g}"
    mantissa, exponent = f"{v:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def log_axis(ax, axis: str = "y") -> None:
    """A log-scale axis with plain labels ('1e-06'): mathtext tick labels cost seconds per figure here."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(LogLocator(numticks=9))
    target.set_major_formatter(FuncFormatter(lambda v, _: log_label(v)))
    target.set_minor_formatter(NullFormatter())
