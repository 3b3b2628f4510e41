"""Build speed: items/s of `probe build --size N` (whole process, as a user runs it) vs a plain baseline.

The baseline is the simplest correct generator one would write first: one `random.choice` per slot and
`json.dumps` per item, single process, for the same cells. Both numbers come from this run.

    python bench/build_speed.py               # 1,000,000 items (the issue's target: whole process < 60 s)
    python bench/build_speed.py --size 200000
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def plain_baseline(n: int) -> float:
    """Seconds for a straightforward generator of n 'pp'-style items with json.dumps, written to a file."""
    from probe.data.lexicon import load_lexicon

    lex = load_lexicon()
    rng = random.Random(0)
    nouns, verbs, preps = list(lex.animate_nouns), list(lex.intransitive_verbs), list(lex.preps)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w") as fh:
        for _ in range(n):
            hn, an = rng.choice(["sg", "pl"]), rng.choice(["sg", "pl"])
            head, attr, verb = rng.choice(nouns), rng.choice(nouns), rng.choice(verbs)
            prefix = f"the {head.form(hn)} {rng.choice(preps)} the {attr.form(an)}"
            good, bad = verb.form(hn), verb.form("pl" if hn == "sg" else "sg")
            fh.write(json.dumps({"prefix": prefix, "verb_good": good, "verb_bad": bad,
                                 "sentence_good": f"{prefix} {good}", "sentence_bad": f"{prefix} {bad}",
                                 "condition": ("S" if hn == "sg" else "P") + ("S" if an == "sg" else "P")}) + "\n")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--baseline-size", type=int, default=200_000, help="items for the plain baseline")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "agr"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "probe", "build", "--size", str(a.size), "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL, env={**os.environ, "TQDM_DISABLE": "1",
                                                                   "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"})
        secs = time.perf_counter() - t0
        n_lines = sum(1 for _ in open(out / "items.jsonl", "rb"))
    base = plain_baseline(a.baseline_size)
    probe_rate, base_rate = n_lines / secs, a.baseline_size / base
    print(f"cpus: {os.cpu_count()}")
    print(f"probe build --size {a.size}: {secs:.1f} s whole process, {probe_rate:,.0f} items/s "
          f"(all fields, dedup, HF dataset + JSONL + card)")
    print(f"plain baseline (random.choice + json.dumps, 6 fields, no dedup): {base_rate:,.0f} items/s")
    print(f"ratio probe/plain: {probe_rate / base_rate:.2f}x")


if __name__ == "__main__":
    main()
