"""The per-cell learning-rate pilot behind configs/ptb.json: PTB validation perplexity after a fixed budget per lr.

Trains each cell (2x200, embeddings 200, dropout 0.3, adaptive softmax with the cutoffs `probe train` chooses,
plain SGD, clip 0.25, the sentence state convention with --batch-size sentences a batch, as configs/ptb.json
trains) at each learning rate for --tokens training tokens from the same initial weights, and prints the
validation perplexity (all of PTB's valid split, each sentence from a zero state) and the seconds it took.
An lr whose perplexity is still above the unigram's (about 700) has stalled. Needs
../shared/external/ptb_mikolov; builds its corpus with `probe corpus` once into --out.

    python bench/lr_pilot.py [--tokens 500000] [--lrs 1 4 20 40] [--cells srn gru lstm] [--out /tmp/probe-lr-pilot]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from probe.core.environment import cpu_model

PTB = Path(__file__).resolve().parents[1].parent / "shared" / "external" / "ptb_mikolov"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=500_000, help="training tokens per (cell, lr)")
    ap.add_argument("--lrs", type=float, nargs="+", default=[1.0, 4.0, 20.0, 40.0])
    ap.add_argument("--cells", nargs="+", default=["srn", "gru", "lstm"])
    ap.add_argument("--batch-size", type=int, default=32, help="sentences a batch (configs/ptb.json's)")
    ap.add_argument("--out", default="/tmp/probe-lr-pilot")
    a = ap.parse_args()
    from probe.data.corpus import CorpusConfig, build_corpus
    from probe.train import TrainConfig, train

    if not (PTB / "ptb.train.txt.gz").is_file():
        raise SystemExit(f"PTB not found at {PTB}")
    torch.set_num_threads(1)
    out = Path(a.out)
    corpus = out / "corpus"
    if not corpus.is_dir():
        files = {split: (str(PTB / f"ptb.{split}.txt.gz"),) for split in ("train", "valid", "test")}
        build_corpus(CorpusConfig(source="text", train_files=files["train"], valid_files=files["valid"],
                                  test_files=files["test"], tokenizer="whitespace", exclude_benchmark=False), corpus)
    print(f"cpu: {cpu_model()}, one thread; 2x200 cells, adaptive softmax, SGD, clip 0.25, dropout 0.3, "
          f"{a.batch_size} sentences a batch; {a.tokens:,} training tokens per run")
    print(f"{'cell':5s} {'lr':>6s} {'valid ppl':>10s} {'seconds':>8s}")
    for cell in a.cells:
        for lr in a.lrs:
            cfg = TrainConfig(arch=cell, layers=2, hidden=200, emb=200, dropout=0.3, softmax="adaptive",
                              optimizer="sgd", lr=lr, clip=0.25, batch_size=a.batch_size, state="sentence",
                              epochs=100, max_steps=max(1, a.tokens // (a.batch_size * 22)), log_every=10**6,
                              eval_every=10**9, seed=0, device="cpu")
            t0 = time.perf_counter()
            s = train(cfg, corpus_dir=corpus, out=out / f"{cell}-{lr:g}", overwrite=True, progress=False)
            print(f"{cell:5s} {lr:6g} {s['last_valid_ppl']:10.1f} {time.perf_counter() - t0:8.0f}  ({s['tokens']:,} tokens)",
                  flush=True)


if __name__ == "__main__":
    main()
