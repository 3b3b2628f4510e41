"""Where the prefix trie's time goes: GFLOP/s of its depth steps against one-thread sgemm at the same shapes.

probe's evaluator runs the benchmark's prefixes as a trie (``probe.scoring.neural.LMScorer``): one recurrent
step per depth over all the nodes at that depth, W_d of them, so each layer's step is a [W_d, H] x [H, 4H]
product (an LSTM; 3H for a GRU) plus the gates' element-wise work, the parents' states gathered, and the
softmax layer at the nodes where prefixes end. This script times, on one thread, (a) the whole prefix
scoring of --items items, (b) each depth's recurrent step alone, and (c) torch.mm at every [W_d, H] x
[H, 4H] shape the trie uses and at a large square, and prints per depth: the width, the step's GFLOP/s, the
bare product's GFLOP/s at that shape, and their ratio, then the totals. Where the bare product at a trie
shape is already far below the square's, the shape is too skinny for the BLAS kernel; where the step is far
below its bare product, the per-step work around the product (gather, gates, dispatch) costs the time.

    python bench/trie_profile.py [--items 3000] [--arch lstm] [--hidden 200] [--layers 2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from probe.core.environment import cpu_model
from probe.data.build import BuildConfig, build_items
from probe.data.corpus import EOS, UNK, Vocab
from probe.data.items import prepare_items
from probe.models.config import ModelConfig
from probe.models.lm import build_model
from probe.scoring.base import build_prefix_trie, pad_right
from probe.scoring.items import score_items
from probe.scoring.neural import LMScorer


def gemm_rate(m: int, k: int, n: int, *, min_time: float = 0.05) -> float:
    """GFLOP/s of torch.mm([m, k], [k, n]) on this thread (best of 3 rounds of at least ``min_time`` s)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    best = 0.0
    for _ in range(3):
        reps, t0 = 0, time.process_time()
        while reps < 3 or time.process_time() - t0 < min_time:
            torch.mm(a, b, out=out)
            reps += 1
        best = max(best, 2 * m * k * n * reps / (time.process_time() - t0) / 1e9)
    return best


def timed(fn, min_time: float = 0.02) -> float:
    """CPU seconds per call of ``fn`` (at least 3 calls and ``min_time``)."""
    reps, t0 = 0, time.process_time()
    while reps < 3 or time.process_time() - t0 < min_time:
        fn()
        reps += 1
    return (time.process_time() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--arch", default="lstm")
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--layers", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rows = build_items(BuildConfig(size=a.items, seed=0))
    words = sorted({w for r in rows for w in r["sentence_good"].split() + r["sentence_bad"].split()})
    vocab = Vocab((UNK, EOS, *words))
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=a.arch, vocab_size=len(vocab), emb=a.hidden, hidden=a.hidden,
                                    layers=a.layers)).eval()
    items = prepare_items(rows)
    scorer = LMScorer(model, vocab)
    score_items(scorer, items)                          # warm-up: allocator, oneDNN primitives
    t0 = time.process_time()
    score_items(scorer, items)
    whole = time.process_time() - t0

    prefixes = [vocab.encode([EOS, *p.split()]) for p in sorted(set(items["prefix"]))]
    ids, lengths = pad_right(prefixes, pad=-1)
    trie = build_prefix_trie(ids[np.lexsort(ids.T[::-1])], lengths[np.lexsort(ids.T[::-1])])
    gates = {"lstm": 4, "gru": 3, "srn": 1}[a.arch]
    H = a.hidden
    print(f"cpu: {cpu_model()}, one thread; {a.arch} {a.layers}x{H}; {len(items)} items, {len(prefixes)} distinct "
          f"prefixes, {sum(map(len, trie.tokens))} trie nodes over {len(trie.tokens)} depths")
    print(f"whole prefix scoring: {whole:.3f} s CPU")
    print(f"{'depth':>5} {'width':>6} {'step ms':>8} {'step GFLOP/s':>13} {'mm GFLOP/s':>11} {'step/mm':>8} "
          f"{'gather ms':>10} {'products ms':>12} {'rest ms':>8}")
    table = model.encoder.input_table()
    state, flops_all, time_all = None, 0.0, 0.0
    parts = {"gather": 0.0, "products": 0.0}
    from probe.models.recurrent import select_state

    with torch.no_grad():
        for d, (tok, par) in enumerate(zip(trie.tokens, trie.parents)):
            W = len(tok)
            state_before = state
            t0 = time.process_time()
            reps = 0
            while reps < 3 or time.process_time() - t0 < 0.02:
                s = select_state(state, torch.as_tensor(par)) if d else None
                hidden, new_state = model.encoder.step(torch.as_tensor(tok), s, table)
                reps += 1
            step = (time.process_time() - t0) / reps
            state = new_state
            # per layer: the recurrent product, and above the first layer the input product too
            n_products = 2 * a.layers - 1
            flops = 2 * W * H * gates * H * n_products
            mm = gemm_rate(W, H, gates * H)
            gather = timed(lambda: select_state(state_before, torch.as_tensor(par))) if d else 0.0
            products = n_products * 2 * W * H * gates * H / (mm * 1e9)
            flops_all += flops
            time_all += step
            parts["gather"] += gather
            parts["products"] += products
            print(f"{d:5d} {W:6d} {step * 1e3:8.3f} {flops / step / 1e9:13.2f} {mm:11.2f} "
                  f"{flops / step / 1e9 / mm:8.2f} {gather * 1e3:10.3f} {products * 1e3:12.3f} "
                  f"{(step - gather - products) * 1e3:8.3f}")
    rest = time_all - parts["gather"] - parts["products"]
    print(f"of the steps' {time_all * 1e3:.1f} ms: products (at the bare torch.mm rate of their shapes) "
          f"{parts['products'] * 1e3:.1f} ms, gathering the parents' states {parts['gather'] * 1e3:.1f} ms, the "
          f"rest (gates, element-wise work, dispatch) {rest * 1e3:.1f} ms")
    square = gemm_rate(1024, 1024, 1024)
    print(f"all depths: {flops_all / time_all / 1e9:.2f} GFLOP/s in the steps ({time_all:.3f} s of the "
          f"{whole:.3f} s); torch.mm 1024^3 on this thread: {square:.2f} GFLOP/s (steps / square = "
          f"{flops_all / time_all / 1e9 / square:.2f})")


if __name__ == "__main__":
    main()
