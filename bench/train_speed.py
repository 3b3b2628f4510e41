"""Training tokens/s of `probe train`'s step vs a plain hand-written nn.RNN/nn.GRU/nn.LSTM LM loop, one run.

    python bench/train_speed.py [--sizes 1x64 2x200] [--vocab 120 10000] [--threads 1] [--device cpu]
    python bench/train_speed.py --adaptive [--adaptive-tokens 200000]   # the V=10k adaptive-softmax case only
    python bench/train_speed.py --states [--time-major]   # sentence batches (the default state convention) vs stream

Both sides train the same shape (embedding = hidden size, LAYERSxHIDDEN, batch 64, BPTT 35, plain SGD,
gradient clipping at 0.25, hidden state carried and detached across segments) on the same random token
stream. The plain loop is what pytorch/examples' word_language_model does: Embedding -> nn.X(layers) ->
Linear, but batch-first, as probe's inputs are ([B, T] in, [B, T, V] out); word_language_model runs
time-major throughout, which ``--states --time-major`` also times (no transposes around nn.X: a few % faster).
probe's side is `probe.train.train_step` on `probe.models.build_model` (its default kernel: the fused CPU
recurrence for srn/gru; for lstm nn.LSTM's own oneDNN kernel, called without nn.LSTM.forward's Python
wrapper, which the plain loop goes through). Both sides start from the same weights (probe's initialization,
copied into the plain model): on a CPU the values matter to speed, since gradients that drift into subnormal
floats make the arithmetic several times slower. Variants run
interleaved, round by round (every other round in reverse order), and each keeps its best round, so load
from other processes hits all of them alike; "paired" is the median of the per-round probe/plain ratios,
with a bootstrap interval: over the rounds of the one pair of models in the main table (which leaves out
how pairs differ, so it is narrower than it should be), over several freshly built pairs and their rounds
with --states.
Printed: tokens/s per cell and side, probe/plain per cell, SRN and GRU against the LSTM, the shared
cost of a step without any recurrence (so recurrence ms = step ms - shared ms, and lstm step / shared
bounds what any faster SRN/GRU recurrence could reach), and per-call costs of the ops a step is made of.
On CPU with one thread the clock is this process's CPU time (time.process_time), so other processes
sharing the cores slow a round without shortening its measured throughput; otherwise wall time.

With a vocabulary of 10,000 or more (and with --adaptive) it also times probe with the adaptive softmax
(``--softmax adaptive``, the cutoffs probe train chooses from PTB's counts) against the plain full-softmax nn.LSTM
loop at 2x200, and, where ../shared/external/ptb_mikolov exists, trains probe's full and adaptive LSTMs on
the same PTB tokens from the same initial encoder (SGD lr 20, batch 20, BPTT 35, clip 0.25) and prints
both validation perplexities after --adaptive-tokens training tokens.
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from probe.cli.common import int_at_least
from probe.core.environment import cpu_model
from probe.models.config import ModelConfig
from probe.models.lm import build_model
from probe.models.recurrent import detach_state
from probe.train import TrainConfig, batchify, build_optimizer, get_batch, segment_starts, train_step

PLAIN = {"srn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class PlainLM(nn.Module):
    """The hand-written baseline: Embedding -> multi-layer nn.RNN/GRU/LSTM (batch first) -> Linear.

    ``time_major``: ids [T, B] in, logits [T, B, V] out, the recurrence's own layout throughout (no transposes).

    cell "none" drops the recurrence: what is left is the cost every cell shares (embedding, softmax
    layer, loss, backward through them, clipping, the SGD step).
    """

    def __init__(self, cell: str, vocab: int, hidden: int, layers: int, time_major: bool = False):
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden)
        self.rnn = PLAIN[cell](hidden, hidden, layers, batch_first=not time_major) if cell != "none" else None
        self.dec = nn.Linear(hidden, vocab)

    def forward(self, x, hidden):
        h = self.emb(x)
        if self.rnn is not None:
            h, hidden = self.rnn(h, hidden)
        return self.dec(h), hidden


def copy_weights(probe_model: nn.Module, plain: PlainLM) -> PlainLM:
    """Give ``plain`` the weights of probe's model of the same shape (returns ``plain``).

    Both sides then start from the same numbers, so the ratio measures the code: values matter to speed on a
    CPU, since a model whose gradients drift into subnormal floats runs its arithmetic several times slower,
    and probe's initialization (uniform +-0.1, as word_language_model's) differs from nn.Module defaults.
    """
    enc = probe_model.encoder
    with torch.no_grad():
        plain.emb.weight.copy_(enc.embedding.weight)
        plain.dec.weight.copy_(probe_model.decoder.weight)
        plain.dec.bias.copy_(probe_model.decoder.bias)
        if plain.rnn is not None:
            for i, layer in enumerate(enc.layers):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(plain.rnn, f"{name}_l{i}").copy_(getattr(layer.rnn, f"{name}_l0"))
    return plain


def probe_model_for(cell, vocab, hidden, layers, **kw) -> nn.Module:
    """probe's language model of this shape (the cell "none" borrows the LSTM's embedding and softmax layer)."""
    return build_model(ModelConfig(arch="lstm" if cell == "none" else cell, vocab_size=vocab, emb=hidden,
                                   hidden=hidden, layers=layers, **kw))


def plain_stepper(cell, vocab, hidden, layers, device, clip, lr, source: nn.Module | None = None):
    source = source if source is not None else probe_model_for(cell, vocab, hidden, layers)
    model = copy_weights(source, PlainLM(cell, vocab, hidden, layers)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    box = {"h": None}

    def step(x, y):
        logits, h = model(x, box["h"])
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        box["h"] = detach_state(h)
    return step


def probe_stepper(cell, vocab, hidden, layers, device, clip, lr, kernel="auto", softmax="full", cutoffs=(),
                  source: nn.Module | None = None):
    model = probe_model_for(cell, vocab, hidden, layers, kernel=kernel, softmax=softmax, cutoffs=cutoffs)
    if source is not None:      # start from the plain side's numbers (same shape and softmax)
        model.load_state_dict(source.state_dict())
    model = model.to(device)
    opt = build_optimizer(TrainConfig(optimizer="sgd", lr=lr), model)
    box = {"h": None}

    def step(x, y):
        box["h"] = train_step(model, opt, x, y, box["h"], clip=clip).state
    return step


def best_rates(variants: dict, batches: list, *, rounds: int, min_time: float, budget: float, clock, sync,
               count=lambda y: y.numel(), trace: dict | None = None) -> dict:
    """Best tokens/s per variant over interleaved rounds (each round: >= min_time and >= 2 steps).

    Rounds stop early (after at least 3) once ``budget`` seconds of wall time are spent. ``count``: the tokens
    a batch's targets hold (padded sentence batches count only their real targets). Every other round runs
    the variants in reverse order, so that neither side always follows the other. ``trace``: if given, gets
    every round's rate per variant (``{variant: [tokens/s per round]}``), for ``paired_ratio``.
    """
    best = {k: 0.0 for k in variants}
    pos = {k: 0 for k in variants}
    for k, step in variants.items():       # warm-up: allocator, oneDNN primitives, lazy imports
        for _ in range(2):
            step(*batches[pos[k] % len(batches)])
            pos[k] += 1
    started = time.perf_counter()
    for round_ in range(rounds):
        if round_ >= 3 and time.perf_counter() - started > budget:
            break
        order = list(variants.items())
        for k, step in (order if round_ % 2 == 0 else order[::-1]):
            sync()
            t0, n, tokens = clock(), 0, 0
            while n < 2 or clock() - t0 < min_time:
                x, y = batches[pos[k] % len(batches)]
                step(x, y)
                pos[k] += 1
                n += 1
                tokens += count(y)
            sync()
            rate = tokens / (clock() - t0)
            best[k] = max(best[k], rate)
            if trace is not None:
                trace.setdefault(k, []).append(rate)
    return best


def paired_ratio(repeats: list[tuple[list, list]], *, seed: int = 0, draws: int = 2000
                 ) -> tuple[float, float, float]:
    """probe/plain from rounds timed side by side: the median of the per-round ratios num[i] / den[i] (two
    variants timed in the same round, so load that drifts between rounds cancels), pooled over ``repeats``
    [(num rates, den rates) per freshly built pair], with a 95% interval from a two-level bootstrap (pairs,
    then rounds within each): a pair's own memory layout and weights make its ratio differ from another's
    by more than its rounds scatter, so the interval must resample pairs too."""
    ratios = [np.asarray(n, dtype=float) / np.asarray(d, dtype=float) for n, d in repeats]
    rng = np.random.default_rng(seed)
    boot = np.empty(draws)
    for b in range(draws):
        picked = [ratios[j] for j in rng.integers(0, len(ratios), size=len(ratios))]
        boot[b] = np.median(np.concatenate([r[rng.integers(0, len(r), size=len(r))] for r in picked]))
    return float(np.median(np.concatenate(ratios))), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def op_costs(batch: int, hidden: int, clock, reps: int = 2000) -> dict:
    """Microseconds per call of the ops a fused recurrence step is made of, at [batch, hidden]."""
    h, w, o = torch.randn(batch, hidden), torch.randn(hidden, hidden) * 0.1, torch.randn(batch, hidden)
    w3, b3, o3 = torch.randn(hidden, 3 * hidden) * 0.1, torch.randn(batch, 3 * hidden), torch.empty(batch, 3 * hidden)
    ops = {"addmm BxH @ HxH": lambda: torch.addmm(h, h, w, out=o),
           "addmm BxH @ Hx3H": lambda: torch.addmm(b3, h, w3, out=o3),
           "tanh_ BxH": lambda: o.tanh_(),
           "sigmoid_ BxH": lambda: o.sigmoid_(),
           "mul BxH": lambda: torch.mul(h, h, out=o)}
    best = {}
    for name, fn in ops.items():
        for _ in range(5):
            t0 = clock()
            for _ in range(reps):
                fn()
            best[name] = min(best.get(name, 1e9), (clock() - t0) / reps * 1e6)
        o.normal_()
    return best


PTB = Path(__file__).resolve().parents[1].parent / "shared" / "external" / "ptb_mikolov"


def ptb_ids() -> tuple | None:
    """(train ids, valid ids) of PTB with a frequency-sorted vocabulary, as `probe corpus` builds it (the
    adaptive softmax's head holds the lowest ids); None without the PTB files."""
    import gzip

    if not (PTB / "ptb.train.txt.gz").is_file():
        return None
    from probe.data.corpus import Vocab

    def words(split):
        with gzip.open(PTB / f"ptb.{split}.txt.gz", "rt", encoding="utf-8") as fh:
            return [w for line in fh for w in line.split() + ["<eos>"]]

    from collections import Counter

    train_w, valid_w = words("train"), words("valid")
    counts = Counter(train_w)
    # frequency-sorted, as `probe corpus` builds it: the adaptive softmax's head holds the lowest ids
    vocab = Vocab(("<unk>", "<eos>", *sorted((w for w in counts if w not in ("<unk>", "<eos>")),
                                              key=lambda w: (-counts[w], w))))
    return np.asarray(vocab.encode(train_w)), np.asarray(vocab.encode(valid_w))


def ptb_cutoffs(train_ids: np.ndarray, vocab: int) -> tuple[int, ...]:
    """The adaptive-softmax cutoffs probe train chooses for PTB (models.choose_cutoffs on the train counts)."""
    from probe.models.lm import choose_cutoffs

    return choose_cutoffs(np.bincount(train_ids, minlength=vocab))


def ptb_quality(tokens: int, ids: tuple, *, seed: int = 0) -> dict:
    """Valid perplexity of probe's 2x200 LSTM after ``tokens`` PTB training tokens, full vs adaptive softmax
    (same initial encoder weights, same batches; SGD lr 20, clip 0.25, batch 20)."""
    from probe.train import evaluate_perplexity

    train_ids, valid_ids = ids[0], ids[1][:20_000]
    V = int(max(train_ids.max(), valid_ids.max())) + 1
    out = {}
    for softmax in ("full", "adaptive"):
        torch.manual_seed(seed)
        cutoffs = ptb_cutoffs(train_ids, V) if softmax == "adaptive" else ()
        model = build_model(ModelConfig(arch="lstm", vocab_size=V, emb=200, hidden=200, layers=2,
                                        softmax=softmax, cutoffs=cutoffs))
        opt = build_optimizer(TrainConfig(optimizer="sgd", lr=20.0), model)
        data = batchify(train_ids, 20)
        state, seen, t0 = None, 0, time.process_time()
        for start in segment_starts(data.shape[1], 35):
            x, y = get_batch(data, start, 35, torch.device("cpu"))
            state = train_step(model, opt, x, y, state, clip=0.25).state
            seen += y.numel()
            if seen >= tokens:
                break
        out[softmax] = {"valid_ppl": evaluate_perplexity(model, valid_ids, bptt=35, batch_size=10)[1],
                        "tokens": seen, "cpu_seconds": time.process_time() - t0}
    return out


def adaptive_case(a, device, clock, sync, rng) -> None:
    """The V=10k adaptive-softmax rows: tokens/s against the plain full-softmax nn.LSTM loop, and quality.

    The batches are PTB text (Zipfian: most targets fall in the softmax's head, which is the point of it);
    without PTB, Zipf-distributed random ids (exponent 1.1) stand in. Uniform random ids, as the other
    rows use, would put 90% of the targets in the tail clusters and misstate the adaptive softmax's cost.
    """
    vocab, hidden, layers = 10_000, 200, 2
    torch.manual_seed(a.seed)
    ids = ptb_ids()
    n = a.batch_size * (a.bptt * 40 + 1)
    stream = ids[0][:n] if ids is not None else np.minimum(rng.zipf(1.1, size=n) - 1, vocab - 1)
    cutoffs = ptb_cutoffs(ids[0] if ids is not None else stream, vocab)
    data = batchify(stream, a.batch_size)
    batches = [get_batch(data, s, a.bptt, device) for s in segment_starts(data.shape[1], a.bptt)]
    source = probe_model_for("lstm", vocab, hidden, layers)     # the two full-softmax sides start from its weights
    variants = {"plain nn.LSTM, full softmax": plain_stepper("lstm", vocab, hidden, layers, device, 0.25, 1.0, source),
                "probe lstm, full softmax": probe_stepper("lstm", vocab, hidden, layers, device, 0.25, 1.0,
                                                          source=source),
                "probe lstm, adaptive softmax": probe_stepper("lstm", vocab, hidden, layers, device, 0.25, 1.0,
                                                              softmax="adaptive", cutoffs=cutoffs)}
    best = best_rates(variants, batches, rounds=a.rounds, min_time=a.min_time, budget=a.budget, clock=clock, sync=sync)
    base = best["plain nn.LSTM, full softmax"]
    print(f"\n2x200 LSTM, vocabulary 10,000, batch {a.batch_size}, {'PTB text' if ids is not None else 'Zipfian ids'}, "
          f"adaptive cutoffs {', '.join(map(str, cutoffs))}: tokens/s against the plain full-softmax loop")
    for k, v in best.items():
        print(f"  {k:30s} {v:10,.0f} tok/s  {v / base:5.2f}x")
    if ids is None:
        print("  (PTB not found at ../shared/external/ptb_mikolov: quality comparison skipped)")
        return
    quality = ptb_quality(a.adaptive_tokens, ids, seed=a.seed)
    full, adap = quality["full"], quality["adaptive"]
    print(f"  PTB valid ppl after {full['tokens']:,} training tokens (first 20,000 valid tokens): full softmax "
          f"{full['valid_ppl']:.1f} ({full['cpu_seconds']:.0f} s), adaptive {adap['valid_ppl']:.1f} "
          f"({adap['cpu_seconds']:.0f} s): adaptive / full = {adap['valid_ppl'] / full['valid_ppl']:.3f}")


def sentence_case(a, device, clock, sync) -> None:
    """The state conventions: probe's sentence batches (every sentence from a zero state, ``--state sentence``,
    the default) against a plain nn.X loop on the same padded batches, and against probe on one carried stream
    of the same tokens (64 streams x BPTT 35), on the synthetic grammar's sentences at 1x64."""
    from probe.data.corpus import Vocab
    from probe.data.grammar import Grammar
    from probe.data.lexicon import load_lexicon
    from probe.train import SentenceBatches

    grammar = Grammar(load_lexicon(), attractor_rate=0.05, modifier_rate=0.6)
    vocab = Vocab(("<unk>", "<eos>", *grammar.vocabulary))
    ids = np.asarray([i for s in grammar.generate(20_000, seed=a.seed) for i in vocab.encode(s.tokens) + [1]])
    V, hidden, layers = len(vocab), 64, 1
    sentences = SentenceBatches(ids, batch_size=a.batch_size, seed=a.seed, eos=vocab.eos_id)
    plan = sentences.plan(0)
    sent_batches = [sentences.rows(rows, device) for rows in plan]
    data = batchify(ids, a.batch_size)
    stream_batches = [get_batch(data, s, a.bptt, device) for s in segment_starts(data.shape[1], a.bptt)]

    def plain_sentences(cell, source, time_major=False):
        model = copy_weights(source, PlainLM(cell, V, hidden, layers, time_major)).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=1.0)

        def step(x, y):
            if time_major:      # the loss sums over tokens in any order: take them as the recurrence lays them out
                x, y = x.t(), y.t()
            logits, _ = model(x, None)
            loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=-1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            opt.step()
        return step

    def probe_sentences(model):
        opt = build_optimizer(TrainConfig(optimizer="sgd", lr=1.0), model.to(device))

        def step(x, y):
            train_step(model, opt, x, y, None, clip=0.25)
        return step

    print(f"\nstate conventions, 1x{hidden}, the grammar's sentences (vocabulary {V}, mean length "
          f"{sentences.lengths.mean():.1f} tokens with <eos>): tokens/s (predicted tokens; padding not counted)")
    print(f"  best: each side's best round; paired: the median over rounds of probe/plain within a round, over "
          f"{a.repeats} freshly built pair(s) of models, with a 95% bootstrap interval over pairs and rounds; "
          f"per pair: each pair's median")
    print(f"  {'cell':5s} {'plain sent.':>12s} {'probe sent.':>12s} {'best':>6s} {'paired [95%]':>22s} "
          f"{'per pair':>13s} {'probe stream':>13s} {'sentence/stream':>16s}")
    for cell in a.cells:
        pairs, layout, against_tm, best = [], [], [], {"plain": 0.0, "probe": 0.0}
        for rep in range(a.repeats):
            torch.manual_seed(a.seed * a.repeats + rep)     # runs with other --seed values build other pairs
            trace: dict = {}
            model = probe_model_for(cell, V, hidden, layers)     # both sides start from its weights
            if rep == 0:
                start = copy.deepcopy(model)        # the carried stream below starts from the same weights
            sides = {"plain": plain_sentences(cell, model), "probe": probe_sentences(model)}
            if a.time_major:
                sides["plain, time-major"] = plain_sentences(cell, model, time_major=True)
            sent = best_rates(sides, sent_batches,
                              rounds=a.rounds, min_time=a.min_time, budget=a.budget, clock=clock, sync=sync,
                              count=lambda y: int((y >= 0).sum()), trace=trace)
            best = {k: max(best[k], sent[k]) for k in best}
            pairs.append((trace["probe"], trace["plain"]))
            if a.time_major:
                layout.append((trace["plain, time-major"], trace["plain"]))
                against_tm.append((trace["probe"], trace["plain, time-major"]))
        mid, lo, hi = paired_ratio(pairs, seed=a.seed)
        each = [float(np.median(np.asarray(n) / np.asarray(d))) for n, d in pairs]
        stream = best_rates({"probe": probe_stepper(cell, V, hidden, layers, device, 0.25, 1.0, source=start)},
                            stream_batches,
                            rounds=a.rounds, min_time=a.min_time, budget=a.budget, clock=clock, sync=sync)
        print(f"  {cell:5s} {best['plain']:12,.0f} {best['probe']:12,.0f} {best['probe'] / best['plain']:5.2f}x "
              f"{mid:8.3f}x [{lo:.3f}, {hi:.3f}] {min(each):.3f}-{max(each):.3f} {stream['probe']:13,.0f} "
              f"{best['probe'] / stream['probe']:15.2f}x")
        if layout:
            mid, lo, hi = paired_ratio(layout, seed=a.seed)
            tm_mid, tm_lo, tm_hi = paired_ratio(against_tm, seed=a.seed)
            print(f"        the plain loop time-major throughout (no transposes; word_language_model's layout) / the "
                  f"batch-first plain loop: {mid:.3f}x [{lo:.3f}, {hi:.3f}]; probe / that loop: {tm_mid:.3f}x "
                  f"[{tm_lo:.3f}, {tm_hi:.3f}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", default=["srn", "gru", "lstm"])
    ap.add_argument("--sizes", nargs="+", default=["1x64", "2x200"], help="LAYERSxHIDDEN (default 1x64 2x200)")
    ap.add_argument("--vocab", nargs="+", type=int, default=[120, 10000],
                    help="vocabulary sizes (default 120 = the synthetic corpus's order, and 10000 = PTB's)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--rounds", type=int, default=20, help="timed rounds per variant; the best one counts")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds per round (at least 2 steps)")
    ap.add_argument("--time-major", action="store_true",
                    help="--states: also time the plain loop with the loss in the recurrence's time-major layout "
                         "(what skipping the transposes around nn.X is worth)")
    ap.add_argument("--repeats", type=int_at_least(1, "a number of pairs >= 1"), default=5,
                    help="--states: freshly built model pairs per cell, each timed for --rounds (default 5)")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds per configuration after which no new round starts (at least 3 rounds)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    ap.add_argument("--amp", action="store_true", help="CUDA: bf16 autocast for both sides")
    ap.add_argument("--torch-kernel", action="store_true",
                    help="also time probe with --kernel torch (its model on nn.RNN/nn.GRU/nn.LSTM)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--adaptive", action="store_true", help="only the V=10k adaptive-softmax case")
    ap.add_argument("--states", action="store_true",
                    help="only the state conventions: sentence batches (probe's default) vs plain and vs one stream")
    ap.add_argument("--adaptive-tokens", type=int, default=200_000,
                    help="PTB training tokens before the full/adaptive perplexities are compared (default 200,000)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cpu_clock = device.type == "cpu" and a.threads == 1
    clock = time.process_time if cpu_clock else time.perf_counter
    rng = np.random.default_rng(a.seed)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {a.threads} thread(s)"
    print(f"torch {torch.__version__}, {name}; batch {a.batch_size}, bptt {a.bptt}, SGD, clip 0.25, "
          f"best of up to {a.rounds} rounds of >= {a.min_time}s (budget {a.budget:.0f}s per configuration)"
          f"{', bf16 autocast' if a.amp else ''}; "
          f"clock: {'process CPU time' if cpu_clock else 'wall time'}; cpu: {cpu_model()}")
    if a.adaptive:
        adaptive_case(a, device, clock, sync, rng)
        return
    if a.states:
        sentence_case(a, device, clock, sync)
        return
    for size in a.sizes:
        layers, hidden = (int(v) for v in size.split("x"))
        if device.type == "cpu":
            costs = op_costs(a.batch_size, hidden, clock)
            print(f"\nop costs at batch {a.batch_size} x hidden {hidden} (us/call): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in costs.items()))
        for vocab in a.vocab:
            torch.manual_seed(a.seed)
            data = batchify(rng.integers(0, vocab, size=a.batch_size * (a.bptt * 40 + 1)), a.batch_size)
            batches = [get_batch(data, s, a.bptt, device) for s in segment_starts(data.shape[1], a.bptt)]
            variants = {("none", "plain"): plain_stepper("none", vocab, hidden, layers, device, 0.25, 1.0)}
            for cell in a.cells:
                source = probe_model_for(cell, vocab, hidden, layers)    # both sides start from its weights
                variants[(cell, "plain")] = plain_stepper(cell, vocab, hidden, layers, device, 0.25, 1.0, source)
                variants[(cell, "probe")] = probe_stepper(cell, vocab, hidden, layers, device, 0.25, 1.0,
                                                          source=source)
                if a.torch_kernel:
                    variants[(cell, "probe[torch]")] = probe_stepper(cell, vocab, hidden, layers, device, 0.25, 1.0,
                                                                     kernel="torch", source=source)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.amp):
                trace: dict = {}
                best = best_rates(variants, batches, rounds=a.rounds, min_time=a.min_time, budget=a.budget,
                                  clock=clock, sync=sync, trace=trace)
            tokens = a.batch_size * a.bptt
            ms = {k: tokens / v * 1e3 for k, v in best.items()}
            shared = ms[("none", "plain")]
            print(f"\n{size} (layers x hidden), vocabulary {vocab:,}; shared part (embedding, softmax layer, loss, "
                  f"clip, SGD; no recurrence) {shared:.2f} ms/step")
            print(f"  {'cell':5s} {'plain tok/s':>12s} {'probe tok/s':>12s} {'probe/plain':>12s} {'paired [95%, rounds]':>22s} "
                  f"{'recurrence ms/step: plain':>26s} {'probe':>6s}" + (f" {'probe[torch] tok/s':>19s}" if a.torch_kernel else ""))
            for cell in a.cells:
                mid, lo, hi = paired_ratio([(trace[(cell, "probe")], trace[(cell, "plain")])], seed=a.seed)
                line = (f"  {cell:5s} {best[(cell, 'plain')]:12,.0f} {best[(cell, 'probe')]:12,.0f} "
                        f"{best[(cell, 'probe')] / best[(cell, 'plain')]:11.2f}x {mid:8.3f}x [{lo:.3f}, {hi:.3f}] "
                        f"{ms[(cell, 'plain')] - shared:26.2f} {ms[(cell, 'probe')] - shared:6.2f}")
                if a.torch_kernel:
                    line += f" {best[(cell, 'probe[torch]')]:19,.0f}"
                print(line)
            if "lstm" in a.cells:
                for cell in (c for c in a.cells if c != "lstm"):
                    print(f"  {cell} / lstm tokens/s: probe {best[(cell, 'probe')] / best[('lstm', 'probe')]:.2f}x, "
                          f"plain {best[(cell, 'plain')] / best[('lstm', 'plain')]:.2f}x "
                          f"(ceiling if its recurrence cost nothing: {ms[('lstm', 'probe')] / shared:.2f}x)")
    if max(a.vocab) >= 10_000:
        adaptive_case(a, device, clock, sync, rng)


if __name__ == "__main__":
    main()
