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


def is_baseline(arch: str) -> bool:
    """True for the count-based reference models (the unigram and the n-gram baselines, arch 'unigram' or
    'N-gram'); every other arch (a registered cell, the transformer, a hub model) is a neural model."""
    return arch == "unigram" or str(arch).endswith("-gram")


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


REFERENCE_GREY = "0.5"


def reference_style(arch: str, archs: Sequence[str] = ()) -> tuple:
    """(marker, linestyle, colour) of a baseline drawn for reference beside a neural cell: grey, with the
    baseline's own marker and line style, so that two baselines (3-gram, unigram) stay apart."""
    marker, ls, _ = arch_style(arch, archs)
    return marker, ls, REFERENCE_GREY


# attractor rates of a sweep, highest first: solid, then ever shorter dashes (darker = higher as well)
RATE_DASHES = ["-", (0, (5, 2)), (0, (2, 1.5)), (0, (1, 1)), (0, (6, 2, 1, 2))]


def rate_styles(n: int) -> list[tuple[float, object]]:
    """(shade, line style) for ``n`` attractor rates, lowest first: shades from 0.55 (lighter, never pale)
    to 1.0 (the cell's own colour), the highest rate solid and lower ones dashed ever more finely."""
    shades = [1.0] if n <= 1 else [0.55 + 0.45 * k / (n - 1) for k in range(n)]
    return [(shades[k], RATE_DASHES[(n - 1 - k) % len(RATE_DASHES)]) for k in range(n)]


def shade(colour, amount: float) -> tuple:
    """``colour`` mixed with white: amount 1 = the colour itself, smaller = lighter."""
    from matplotlib.colors import to_rgb

    return tuple(1 - amount * (1 - c) for c in to_rgb(colour))


def suptitle(fig: "Figure", *lines: str, fontsize: float = 9, width: int | None = None) -> None:
    """A figure title, each line wrapped to the figure's width (``width``: characters per line; default: what
    fits at ``fontsize``), so that no title runs past the canvas' edges."""
    import textwrap

    if width is None:
        width = max(30, int(fig.get_figwidth() * 72 / (0.56 * fontsize)) - 4)
    fig.suptitle("\n".join(w for line in lines if line for w in textwrap.wrap(line, width)), fontsize=fontsize)


# the settings every figure is drawn and rendered under (tick labels made while rendering follow them too)
FIGURE_RC = {"font.size": 8}


def figure_style():
    """A context manager that draws what is made inside it under FIGURE_RC (the same settings as rendering)."""
    import matplotlib

    return matplotlib.rc_context(FIGURE_RC)


def figure_bytes(fig, fmt: str) -> bytes:
    """A matplotlib Figure rendered as ``fmt`` under FIGURE_RC (150 dpi; PDFs without a creation date, so reruns
    are identical)."""
    import io

    buf = io.BytesIO()
    with figure_style():
        fig.savefig(buf, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    return buf.getvalue()


def save_figure(fig: "Figure", folder: str | os.PathLike, stem: str,
                formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write ``folder/stem.<fmt>`` for each format (150 dpi PNG), each file atomically (other stages share the
    folder); returns the paths. The layout is computed once and then frozen, so the second format does not
    pay for it again.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    with figure_style():
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
    from matplotlib.ticker import FuncFormatter, LogLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(LogLocator(numticks=9))
    target.set_major_formatter(FuncFormatter(lambda v, _: log_label(v)))

    def minor(v: float, _) -> str:
        # an axis spanning under two decades shows one or two major labels: label 2x and 5x as well
        lo, hi = sorted(target.get_view_interval())
        if lo <= 0 or hi / lo >= 100:
            return ""
        lead = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6)
        return log_label(v) if lead in (2.0, 5.0) else ""

    target.set_minor_formatter(FuncFormatter(minor))


def _legend_key(handle) -> tuple:
    """What a legend entry looks like: colour, marker (and its fill), line style; hatch for patches."""
    from matplotlib.colors import to_hex
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def hexed(c):
        try:
            return to_hex(c, keep_alpha=False)
        except (ValueError, TypeError):
            return str(c)

    if isinstance(handle, Line2D):
        ls = handle.get_linestyle()
        if ls in ("None", "none", " ", ""):
            ls = "none"
        else:   # the dash pattern itself: '--' and (0, (3.7, 1.6)) look the same
            ls = tuple(round(float(v), 1) for v in (handle._unscaled_dash_pattern[1] or ()))
        marker = handle.get_marker()
        marker = "none" if marker in (None, "None", "none", "", " ") else str(marker)
        fill = hexed(handle.get_markerfacecolor()) if marker != "none" else ""
        return ("line", hexed(handle.get_color()), marker, fill, ls)
    if isinstance(handle, Patch):
        return ("patch", hexed(handle.get_facecolor()), handle.get_hatch() or "", hexed(handle.get_edgecolor()))
    colour = getattr(handle, "get_facecolor", lambda: None)()
    colour = colour[0] if colour is not None and len(colour) and hasattr(colour[0], "__len__") else colour
    return (type(handle).__name__, hexed(colour) if colour is not None else "")


def figure_problems(fig: "Figure", *, tolerance: float = 1.0) -> list[str]:
    """What makes a figure hard to read, found mechanically (after a draw under FIGURE_RC): text cut at the
    canvas' edge (a visible text artist, or an axis with the tick labels it draws, whose tight box leaves the
    figure), a legend over the figure's title, and legend entries that look the same (two entries of one
    legend with the same colour, marker, fill and line style). Returns one line per problem."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    with figure_style():
        canvas.draw()
    renderer = canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    problems = []

    def outside(box) -> bool:
        return box is not None and (box.x0 < -tolerance or box.y0 < -tolerance or box.x1 > width + tolerance
                                    or box.y1 > height + tolerance)

    # tick labels: an axis' tight box holds the labels it draws (ticks outside its view keep stale positions)
    tick_texts = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.majorTicks + axis.minorTicks:
                tick_texts.update({id(tick.label1), id(tick.label2)})
            if ax.axison and ax.get_visible() and axis.get_visible() and outside(axis.get_tightbbox(renderer)):
                name = f"{'x' if axis is ax.xaxis else 'y'} axis of {ax.get_title() or 'a panel'!r}"
                problems.append(f"tick labels of the {name} are cut at the figure's edge")
    for text in fig.findobj(Text):
        if id(text) in tick_texts or not text.get_visible() or not text.get_text().strip():
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        box = text.get_window_extent(renderer)
        if outside(box):
            problems.append(f"text {text.get_text()[:60]!r} is cut at the figure's edge "
                            f"({box.x0:.0f}..{box.x1:.0f} x {box.y0:.0f}..{box.y1:.0f} of {width:.0f} x {height:.0f})")
    legends = [(ax.get_title() or f"axes {i}", ax.get_legend()) for i, ax in enumerate(fig.axes)]
    legends += [("figure", leg) for leg in fig.legends]
    title = fig._suptitle if fig._suptitle is not None and fig._suptitle.get_text() else None
    for where, leg in legends:
        if leg is None:
            continue
        if title is not None and leg.get_window_extent(renderer).overlaps(title.get_window_extent(renderer)):
            problems.append(f"the legend of {where} overlaps the figure's title")
        seen: dict = {}
        for handle, label in zip(leg.legend_handles, leg.get_texts()):
            key = _legend_key(handle)
            if key in seen:
                problems.append(f"legend of {where}: {seen[key]!r} and {label.get_text()!r} look the same")
            seen.setdefault(key, label.get_text())
    return problems
