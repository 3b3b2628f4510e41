"""Number-unit ablation (Lakretz et al. 2019) for the diagnose analysis: rank units, zero them inside the recurrence.

The items are split in two seeded halves (``probe.analyses.diagnose``). On the first, every unit is ranked by
how well it alone separates the head's number at the word before the verb (``rank_units``: the
midpoint-of-class-means rule). On the second, agreement accuracy is measured with the top units zeroed and with
random units of the same layers zeroed (``ablation_accuracy``): ``AblatedLM`` runs an ablated layer step by step
and sets the units' h (and LSTM c) to 0 after each step.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from probe.core.errors import ProbeError
from probe.models.cells import as_tuple, from_tuple, get_cell


def unit_accuracies(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How well each unit alone separates the classes: X [N, H], y [N] in {0, 1} -> accuracy [H].

    The rule: threshold at the midpoint of the two class means, on the side the means say.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    if y.all() or not y.any():
        return np.full(X.shape[1], np.nan)
    mu0, mu1 = X[~y].mean(0), X[y].mean(0)
    pred = (X > (mu0 + mu1) / 2) == (mu1 > mu0)
    return (pred == y[:, None]).mean(0)


class AblatedLM(nn.Module):
    """A recurrent LanguageModel with some units zeroed at every step: forward(ids, state=None,
    return_states=False) -> ModelOutput, like the model it wraps.

    ``units``: {layer: unit indices}. An ablated layer runs step by step through its own one-step
    recurrence (``RecurrentLayer.step``); after each step the units' h (and LSTM c) are set to 0, so they feed
    neither the recurrence, nor the next layer, nor the softmax. Other layers run as usual.
    """

    def __init__(self, model: nn.Module, units: dict[int, Sequence[int]]):
        super().__init__()
        from probe.models.recurrent import RecurrentEncoder

        if not isinstance(getattr(model, "encoder", None), RecurrentEncoder):
            raise ProbeError("unit ablation needs a recurrent model (srn, gru, lstm), not a transformer")
        n_layers, hidden = len(model.encoder.layers), model.encoder.config.hidden
        for layer, us in units.items():
            if not 0 <= layer < n_layers or any(not 0 <= u < hidden for u in us):
                raise ProbeError(f"cannot ablate layer {layer} units {list(us)}: the model has {n_layers} layer(s) "
                                 f"of {hidden} units")
        self.model = model
        self.units = {int(k): sorted(int(u) for u in v) for k, v in units.items() if len(v)}
        for layer, us in self.units.items():
            keep = torch.ones(hidden)
            keep[us] = 0.0
            self.register_buffer(f"keep{layer}", keep, persistent=False)

    @staticmethod
    def _stepwise(layer, x: torch.Tensor, state: Any, keep: torch.Tensor) -> tuple[torch.Tensor, Any, Any]:
        """x [T, B, I] -> (h [T, B, H], final state, LSTM c [T, B, H] or None), units zeroed every step.

        One input matmul for all steps, then the layer's own one-step recurrence (``RecurrentLayer.step``).
        """
        spec = layer.spec
        memory = spec.state.index(spec.memory)
        st = None if state is None else from_tuple(spec, tuple(s * keep for s in as_tuple(state)))
        hs, ms = [], []
        for xw_t in layer.project(x).unbind(0):
            st = from_tuple(spec, tuple(s * keep for s in as_tuple(layer.step(xw_t, st))))
            hs.append(as_tuple(st)[0])
            ms.append(as_tuple(st)[memory])
        return torch.stack(hs), st, (torch.stack(ms) if memory else None)

    def forward(self, ids: torch.Tensor, state: Any = None, return_states: bool = False):
        """ids [B, T] -> ModelOutput(logits [B, T, V], state, states {(layer, kind): [B, T, H]} or None)."""
        from probe.models.config import ModelOutput

        runs = {i: functools.partial(self._stepwise, keep=getattr(self, f"keep{i}")) for i in self.units}
        enc = self.model.encoder(ids, state, return_states, layer_runs=runs)
        return ModelOutput(self.model.head(enc.hidden), enc.state, enc.states)


def rank_units(states: Mapping[tuple[int, str], np.ndarray], before_verb: np.ndarray, labels: np.ndarray,
               rows: np.ndarray, arch: str) -> list[tuple]:
    """(layer, unit, single-unit accuracy) for every unit, best first, from ``states`` {(layer, kind): [N, T, H]}
    at the word before the verb on ``rows`` (the cell's memory: LSTM c; else h)."""
    kind = get_cell(arch).memory
    ranked = []
    for (layer, k), values in states.items():
        if k != kind or not len(rows):
            continue
        acc = unit_accuracies(values[rows, before_verb[rows]], labels[rows])
        ranked += [(int(layer), int(u), float(a)) for u, a in enumerate(acc)]
    ranked.sort(key=lambda t: (-np.nan_to_num(t[2], nan=-1.0), t[0], t[1]))
    return ranked


def units_dict(pairs: Sequence[tuple[int, int]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for layer, u in pairs:
        out.setdefault(int(layer), []).append(int(u))
    return out


def units_text(units: dict[int, list[int]]) -> str:
    return " ".join(f"{layer}:{u}" for layer in sorted(units) for u in sorted(units[layer])) or "-"


def ablation_accuracy(model: nn.Module, vocab, items: pd.DataFrame, units: dict[int, list[int]], *,
                      batch_size: int = 256) -> pd.DataFrame:
    """Per-item agreement correctness (prefix method) with ``units`` zeroed -> frame (match, correct), scored items."""
    from probe.scoring.items import score_items
    from probe.scoring.neural import LMScorer

    wrapped = AblatedLM(model, units).eval() if units else model
    scores = score_items(LMScorer(wrapped, vocab, batch_size=batch_size), items)
    scored = ~scores["excluded"].to_numpy()
    return pd.DataFrame({"match": items["match"].to_numpy()[scored],
                         "correct": scores["correct"].to_numpy()[scored].astype(bool)})


def ablation_summary(abl: pd.DataFrame, match: str = "conflict") -> pd.DataFrame:
    """Per arch: intact, number-unit and random-unit accuracy (mean over seeds; random: mean and the 2.5-97.5%
    range over draws and seeds) on ``match`` items."""
    cols = ["arch", "match", "intact", "number_units", "random_mean", "random_low", "random_high", "n_items", "units"]
    if not len(abl):
        return pd.DataFrame(columns=cols)
    sub = abl[abl["match"] == match]
    if not len(sub):
        sub, match = abl[abl["match"] == "all"], "all"
    rows = []
    for arch, g in sub.groupby("arch", sort=False):
        rnd = g.loc[g["ablation"] == "random", "accuracy"].to_numpy()
        rows.append({"arch": arch, "match": match,
                     "intact": float(g.loc[g["ablation"] == "none", "accuracy"].mean()),
                     "number_units": float(g.loc[g["ablation"] == "number", "accuracy"].mean()),
                     "random_mean": float(rnd.mean()) if len(rnd) else float("nan"),
                     "random_low": float(np.quantile(rnd, 0.025)) if len(rnd) else float("nan"),
                     "random_high": float(np.quantile(rnd, 0.975)) if len(rnd) else float("nan"),
                     "n_items": int(g.loc[g["ablation"] == "none", "n_items"].sum()),
                     "units": "; ".join(g.loc[g["ablation"] == "number", "units"].unique())})
    return pd.DataFrame(rows, columns=cols)


def plot_ablation(abl: pd.DataFrame):
    """Agreement accuracy with number units zeroed vs random units zeroed (bars with 95% intervals), per arch;
    panels: all items, items with mismatched attractors."""
    from matplotlib.figure import Figure

    from probe.core.style import arch_order, figure_style, suptitle

    with figure_style():
        fig = Figure(figsize=(8.0, 3.6), layout="constrained")
        matches = [m for m in ("all", "conflict") if m in set(abl["match"])]
        styles = {"intact": ("white", ""), "number_units": ("0.3", "//"), "random": ("0.75", "..")}
        for i, match in enumerate(matches):
            ax = fig.add_subplot(1, len(matches), i + 1)
            s = ablation_summary(abl, match)
            archs = arch_order(s["arch"])
            s = s.set_index("arch").reindex(archs)
            x = np.arange(len(archs))
            for k, (name, col) in enumerate((("intact", "intact"), ("number_units", "number_units"),
                                             ("random", "random_mean"))):
                v = s[col].to_numpy(dtype=float)
                err = None
                if name == "random":
                    err = np.clip([v - s["random_low"].to_numpy(dtype=float),
                                   s["random_high"].to_numpy(dtype=float) - v], 0, None)   # rounding below 0
                colour, hatch = styles[name]
                ax.bar(x - 0.27 + 0.27 * k, v, width=0.27, color=colour, hatch=hatch, edgecolor="black", lw=0.6,
                       yerr=err, capsize=2, label={"intact": "intact", "number_units": "number units zeroed",
                                                   "random": "random units zeroed (95% range)"}[name])
            ax.set_xticks(x)
            ax.set_xticklabels(archs)
            ax.axhline(0.5, color="0.5", lw=0.8, ls=":", zorder=0)
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("agreement accuracy")
            n = int(s["n_items"].min()) if len(s) else 0
            ax.set_title(f"{match} items (n >= {n} per bar)", fontsize=9)
        if fig.axes:
            fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=7,
                       frameon=False)
        k = int(abl.loc[abl["ablation"] == "number", "k"].max()) if (abl["ablation"] == "number").any() else 0
        suptitle(fig, f"Ablation: the {k} units most predictive of the head's number zeroed vs {k} random units")
    return fig
