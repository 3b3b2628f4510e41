"""Items/s of probe's batched scoring vs scoring the same items one sentence at a time, same model, one run.

    python bench/eval_speed.py [--items 3000] [--arch lstm] [--hidden 200] [--threads 1]

Builds a random LM (probe.models) and items (probe.data.build) in-process. The plain baseline runs the model
once per sentence (good and bad members separately, batch of 1) and sums the token log-probs, as a
per-sentence scoring loop would; probe's evaluator scores the same items with its default prefix method
(identical prefixes once; recurrent models run the prefixes as a trie, so shared heads are computed once)
and with the batched sentence method.
Both sentence-level scorers must agree to 1e-4 before any speed is printed.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from probe.data.build import BuildConfig, build_items
from probe.data.corpus import EOS, UNK, Vocab
from probe.scoring.neural import LMScorer
from probe.scoring.base import build_prefix_trie, pad_right
from probe.scoring.items import score_items
from probe.data.items import prepare_items
from probe.models.config import ModelConfig
from probe.models.lm import build_model


def one_at_a_time(model, vocab: Vocab, items) -> np.ndarray:
    """log P(sentence_good), log P(sentence_bad) per item, one forward pass per sentence -> [N, 2]."""
    out = np.zeros((len(items), 2))
    with torch.no_grad():
        for i, (good, bad) in enumerate(zip(items["sentence_good"], items["sentence_bad"])):
            for j, sent in enumerate((good, bad)):
                ids = torch.tensor([vocab.encode([EOS, *sent.split(), EOS])])
                logp = torch.log_softmax(model(ids).logits[0, :-1], dim=-1)
                out[i, j] = logp.gather(-1, ids[0, 1:, None]).sum().item()
    return out


def timed(fn, repeats: int):
    """(result, median wall time over ``repeats`` runs): one run alone swings by 10-20% on a shared CPU."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=3000, help="items to score (default 3000)")
    ap.add_argument("--arch", default="lstm", help="srn | gru | lstm | transformer (default lstm)")
    ap.add_argument("--hidden", type=int, default=200, help="embedding and hidden size (default 200)")
    ap.add_argument("--layers", type=int, default=2, help="layers (default 2)")
    ap.add_argument("--batch-size", type=int, default=256, help="probe's batch size (default 256)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per scorer; medians are printed (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rows = build_items(BuildConfig(size=a.items, seed=a.seed))
    words = sorted({w for r in rows for s in (r["sentence_good"], r["sentence_bad"]) for w in s.split()})
    vocab = Vocab((UNK, EOS, *words))
    model = build_model(ModelConfig(arch=a.arch, vocab_size=len(vocab), emb=a.hidden, hidden=a.hidden,
                                    layers=a.layers, heads=4)).eval()
    items = prepare_items(rows)
    scorer = LMScorer(model, vocab, batch_size=a.batch_size)
    score_items(scorer, items.iloc[:64], method="prefix")  # warm-up (allocator, kernels)

    plain, t_plain = timed(lambda: one_at_a_time(model, vocab, items), a.repeats)
    prefix, t_prefix = timed(lambda: score_items(scorer, items, method="prefix"), a.repeats)
    sent, t_sent = timed(lambda: score_items(scorer, items, method="sentence"), a.repeats)
    err = np.abs(sent[["logp_good", "logp_bad"]].to_numpy() - plain).max()
    if err > 1e-4:
        raise SystemExit(f"batched and one-at-a-time sentence scores differ by {err:.2e}; not timing a wrong result")
    n = len(items)
    print(f"model: {a.arch}, {a.layers} x {a.hidden}, vocab {len(vocab)}, {sum(p.numel() for p in model.parameters()):,} "
          f"parameters; {n} items ({items['prefix'].nunique()} unique prefixes); torch threads {a.threads}; "
          f"batch size {a.batch_size}; median of {a.repeats} runs")
    print(f"one sentence at a time (2 passes/item):  {n / t_plain:9.1f} items/s  ({t_plain:.2f} s)")
    print(f"probe evaluate, sentence method:         {n / t_sent:9.1f} items/s  ({t_sent:.2f} s)  "
          f"x{t_plain / t_sent:.1f}  (max |diff| {err:.1e})")
    print(f"probe evaluate, prefix method (default): {n / t_prefix:9.1f} items/s  ({t_prefix:.2f} s)  "
          f"x{t_plain / t_prefix:.1f}")
    seqs = [vocab.encode([EOS, *p.split()]) for p in items["prefix"].unique()]
    tokens = sum(map(len, seqs))
    nodes = build_prefix_trie(*pad_right(seqs)).n_nodes
    print(f"unique prefixes hold {tokens:,} tokens; their trie has {nodes:,} nodes ({tokens / nodes:.2f}x fewer "
          "model steps per layer for recurrent models)")
    same = (prefix["correct"] == (plain[:, 0] > plain[:, 1])).mean()
    print(f"prefix vs sentence decisions agree on {same:.1%} of items (they differ where the words after "
          "the verb change the sentence score)")


if __name__ == "__main__":
    main()
