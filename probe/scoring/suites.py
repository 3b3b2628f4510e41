"""SyntaxGym suites scored by any model: region surprisals and the suites' own prediction formulas."""
from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

import numpy as np

from probe.core.errors import ProbeError
from probe.data.importers.syntaxgym import region_tokens
from probe.scoring.base import Scorer, WordScorer


# SyntaxGym prediction formulas: region references '(R;%condition%)' (R a region number or '*' = all
# regions), numbers, + - (left to right), comparisons < > = (= within rtol 1e-5 / atol 1e-3, as
# syntaxgym does), & and | ; '(...)' and '[...]' group. Standard precedence: + - above comparisons above
# & above |.
_FORMULA_TOKEN = re.compile(r"\s*(?:\(\s*(\d+|\*)\s*;\s*%([^%]+)%\s*\)|(\d+(?:\.\d*)?|\.\d+)|([-+<>=&|()\[\]]))")


def _parse_formula(formula: str) -> Callable[[Callable[[str, int | str], float]], object]:
    """Compile a formula into a function of ``lookup(condition, region) -> summed surprisal``."""
    tokens: list[tuple] = []
    pos = 0
    while pos < len(formula):
        m = _FORMULA_TOKEN.match(formula, pos)
        if not m:
            if formula[pos:].strip() == "":
                break
            raise ProbeError(f"cannot parse prediction formula {formula!r} at character {pos + 1}")
        if m.group(1):
            region = m.group(1)
            tokens.append(("ref", m.group(2), region if region == "*" else int(region)))
        elif m.group(3):
            tokens.append(("num", float(m.group(3))))
        else:
            tokens.append(("op", m.group(4)))
        pos = m.end()
    k = 0

    def peek():
        return tokens[k] if k < len(tokens) else ("end",)

    def take(*ops):
        nonlocal k
        t = peek()
        if t[0] == "op" and t[1] in ops:
            k += 1
            return t[1]
        return None

    def fail(what):
        raise ProbeError(f"cannot parse prediction formula {formula!r}: {what}")

    def atom():
        nonlocal k
        t = peek()
        if t[0] == "ref":
            k += 1
            return lambda f, c=t[1], r=t[2]: f(c, r)
        if t[0] == "num":
            k += 1
            return lambda f, x=t[1]: x
        if take("-"):
            inner = atom()
            return lambda f: -inner(f)
        for open_, close in (("(", ")"), ("[", "]")):
            if take(open_):
                inner = or_expr()
                if not take(close):
                    fail(f"missing {close!r}")
                return inner
        fail(f"unexpected {t[1] if len(t) > 1 else 'end'!r}")

    def add_expr():
        left = atom()
        while (op := take("+", "-")):
            right = atom()
            left = (lambda f, a=left, b=right: a(f) + b(f)) if op == "+" else (lambda f, a=left, b=right: a(f) - b(f))
        return left

    def cmp_expr():
        left = add_expr()
        op = take("<", ">", "=")
        if not op:
            return left
        right = add_expr()
        if op == "<":
            return lambda f: left(f) < right(f)
        if op == ">":
            return lambda f: left(f) > right(f)
        return lambda f: abs(left(f) - right(f)) <= 1e-3 + 1e-5 * abs(right(f))

    def and_expr():
        left = cmp_expr()
        while take("&"):
            right = cmp_expr()
            left = (lambda f, a=left, b=right: bool(a(f)) and bool(b(f)))
        return left

    def or_expr():
        left = and_expr()
        while take("|"):
            right = and_expr()
            left = (lambda f, a=left, b=right: bool(a(f)) or bool(b(f)))
        return left

    expr = or_expr()
    if k != len(tokens):
        fail(f"unexpected {tokens[k][-1]!r} after a complete expression")
    return expr


def suite_formulas(suite: dict) -> list[str]:
    """The suite's prediction formulas: ``predictions`` (``{"type": "formula", "formula": ...}``, or the
    older ``{"relation", "region_number", "l_operand", "r_operand"}``), else ``meta.string_predictions``."""
    out = []
    for p in suite.get("predictions") or []:
        if isinstance(p, dict) and p.get("type", "formula") == "formula" and "formula" in p:
            out.append(p["formula"])
        elif isinstance(p, dict) and "relation" in p:
            op = {"greaterthan": ">", "lessthan": "<", "equal": "="}.get(p["relation"])
            if op is None:
                raise ProbeError(f"unknown SyntaxGym prediction relation {p['relation']!r}")
            r = p["region_number"]
            out.append(f"({r};%{p['l_operand']}%) {op} ({r};%{p['r_operand']}%)")
        else:
            raise ProbeError(f"unsupported SyntaxGym prediction {p!r}; expected a formula")
    if not out:
        out = list(suite.get("meta", {}).get("string_predictions") or [])
    return out


def formula_parts(formula: str) -> list[str]:
    """The comparisons a formula requires all at once: its top-level ``&`` operands, brackets stripped.

    ``'[(7;%a%) < (7;%b%)] & [(7;%c%) < (7;%d%)]'`` -> ``['(7;%a%) < (7;%b%)', '(7;%c%) < (7;%d%)']``.
    A formula with a top-level ``|`` (or no ``&``) is one part: an alternative cannot be scored alone.
    """
    text = formula.strip()
    while True:
        spans, depth, start, has_or = [], 0, 0, False
        pos = 0
        for m in _FORMULA_TOKEN.finditer(text):
            if m.start() != pos:      # not a formula at all: _parse_formula reports it
                return [formula.strip()]
            pos = m.end()
            op = m.group(4)
            if op in ("(", "["):
                depth += 1
            elif op in (")", "]"):
                depth -= 1
            elif depth == 0 and op == "&":
                spans.append(text[start:m.start()].strip())
                start = m.end()
            elif depth == 0 and op == "|":
                has_or = True
        spans.append(text[start:].strip())
        if has_or:
            return [text]
        if len(spans) > 1:
            return [p for s in spans for p in formula_parts(s)]
        # one part wrapped whole in a bracket pair ('[a < b]'): unwrap it and look again
        if len(text) > 1 and text[0] + text[-1] in ("()", "[]") and _closes_at_end(text):
            text = text[1:-1].strip()
            continue
        return [text]


def _closes_at_end(text: str) -> bool:
    """True if the bracket opening ``text`` closes at its last character (not '[a] < [b]')."""
    depth = 0
    for m in _FORMULA_TOKEN.finditer(text):
        if m.group(1):            # a region reference's own parentheses are part of its token
            continue
        op = m.group(4)
        if op in ("(", "["):
            depth += 1
        elif op in (")", "]"):
            depth -= 1
            if depth == 0:
                return m.end() == len(text.rstrip())
    return False


def formula_references(formula: str) -> list[tuple[str, int | str]]:
    """The (condition, region) pairs a formula reads, in order of appearance (region '*' = every region)."""
    return [(m.group(2), m.group(1) if m.group(1) == "*" else int(m.group(1)))
            for m in _FORMULA_TOKEN.finditer(formula) if m.group(1)]


def critical_regions(item: dict, formulas: Sequence[str]) -> list[int]:
    """An item's critical regions: those whose words differ between its conditions, and those the
    prediction formulas read. An out-of-vocabulary word anywhere else is the same ``<unk>`` in every
    condition, so it shifts all conditions alike; in these regions it decides the comparison."""
    words: dict[int, set] = {}
    for cond in item["conditions"]:
        for num, ts in region_tokens(cond):
            words.setdefault(num, set()).add(tuple(ts))
    out = {num for num, variants in words.items() if len(variants) > 1}
    for f in formulas:
        for _, region in formula_references(f):
            out |= set(words) if region == "*" else {region}
    return sorted(out)


def region_coverage(suite: dict, vocab, formulas: Sequence[str] | None = None) -> list[dict]:
    """Per item x condition x region: tokens, tokens outside ``vocab`` (anything with ``in``; None = a
    model without a closed vocabulary, nothing outside it), those words, and whether the region is
    critical (:func:`critical_regions`) -> list of dicts (item, condition, region, critical, n_tokens,
    n_oov, oov)."""
    formulas = suite_formulas(suite) if formulas is None else formulas
    rows = []
    for item in suite["items"]:
        critical = set(critical_regions(item, formulas))
        for cond in item["conditions"]:
            for num, ts in region_tokens(cond):
                oov = [] if vocab is None else [t for t in ts if t not in vocab]
                rows.append({"item": item["item_number"], "condition": cond["condition_name"], "region": num,
                             "critical": num in critical, "n_tokens": len(ts), "n_oov": len(oov),
                             "oov": " ".join(oov)})
    return rows


def evaluate_predictions(suite: dict, region_surprisals: Mapping[tuple, float],
                         formulas: Sequence[str] | None = None) -> dict:
    """Evaluate the suite's own prediction formulas on summed region surprisals.

    ``region_surprisals``: (item_number, condition_name, region_number) -> summed surprisal (bits or nats,
    as long as they are consistent), e.g. from :func:`region_surprisals` or :func:`stored_region_surprisals`.
    Returns {item_number: [bool per prediction, in the suite's order]}. A formula naming a condition or
    region the item lacks is a ProbeError. ``formulas``: evaluate these instead of the suite's own (e.g.
    the parts :func:`formula_parts` splits them into).
    """
    compiled = [(f, _parse_formula(f)) for f in (suite_formulas(suite) if formulas is None else formulas)]
    if not compiled:
        raise ProbeError(f"suite {suite.get('meta', {}).get('name', '?')!r} has no predictions to evaluate")
    results: dict = {}
    for item in suite["items"]:
        num = item["item_number"]
        regions = {c["condition_name"]: [r["region_number"] for r in c["regions"]] for c in item["conditions"]}

        def lookup(cond: str, region, num=num, regions=regions) -> float:
            if cond not in regions:
                raise ProbeError(f"item {num}: the prediction names condition {cond!r}, which the item lacks")
            if region == "*":
                return sum(region_surprisals[(num, cond, r)] for r in regions[cond])
            try:
                return float(region_surprisals[(num, cond, region)])
            except KeyError:
                raise ProbeError(f"item {num}: no surprisal for condition {cond!r} region {region}") from None

        results[num] = [bool(fn(lookup)) for _, fn in compiled]
    return results


def region_surprisals(suite: dict, surprisal: Callable[[list[str]], Sequence[float]], *,
                      tokenize_fn: Callable[[str], list[str]] | None = None) -> dict:
    """Summed surprisal per (item_number, condition_name, region_number), from a token scorer.

    ``surprisal(tokens) -> per-token surprisals`` (length len(tokens)) is called once per item x condition
    on the whole sentence (tokens as :func:`tokenize` makes them, or ``tokenize_fn`` applied per region);
    each region sums its own tokens' values; an empty region sums to 0.
    """
    out: dict = {}
    for item in suite["items"]:
        for cond in item["conditions"]:
            if tokenize_fn is None:
                regs = region_tokens(cond)
            else:
                regs = [(r["region_number"], tokenize_fn(r["content"]))
                        for r in sorted(cond["regions"], key=lambda r: r["region_number"])]
            tokens = [t for _, ts in regs for t in ts]
            values = list(surprisal(tokens))
            if len(values) != len(tokens):
                raise ValueError(f"surprisal() returned {len(values)} values for {len(tokens)} tokens")
            k = 0
            for num, ts in regs:
                out[(item["item_number"], cond["condition_name"], num)] = float(sum(values[k:k + len(ts)]))
                k += len(ts)
    return out


def stored_region_surprisals(suite: dict, metric: str = "sum") -> dict:
    """The region values a suite file already carries (``regions[].metric_value[metric]``), same keys as
    :func:`region_surprisals`; regions without a value are left out."""
    return {(item["item_number"], c["condition_name"], r["region_number"]): float(r["metric_value"][metric])
            for item in suite["items"] for c in item["conditions"] for r in c["regions"]
            if isinstance(r.get("metric_value"), dict) and metric in r["metric_value"]}


def token_surprisals(scorer: Scorer, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Per-token surprisal in nats, -log P(w_t | <eos> w_<t), of each sentence -> list of float64 [len].

    Out-of-vocabulary words are read as ``<unk>``. From the scorer's ``token_logprobs`` where it has one
    (neural models); from ``word_logprobs`` word by word for a model with its own tokenizer (Hugging Face:
    a word's surprisal sums its subword tokens, nothing is out of vocabulary); otherwise from
    ``sequence_logprobs`` tail sums (one batched call for all sentences), which works for every Scorer:
    log P(w_t) = tail(t) - tail(t+1).
    """
    if isinstance(scorer, WordScorer):
        contexts = [" ".join(s[:t]) for s in sentences for t in range(len(s))]
        words = [s[t] for s in sentences for t in range(len(s))]
        flat = -scorer.word_logprobs(contexts, words) if words else np.zeros(0)
        bounds = np.cumsum([0] + [len(s) for s in sentences])
        return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    vocab = scorer.vocab
    if hasattr(scorer, "token_logprobs"):     # one pass per sentence instead of one per tail
        seqs = [[vocab.eos_id] + vocab.encode(list(s)) for s in sentences]
        return [-t for t in scorer.token_logprobs(seqs)]
    rows, starts = [], []
    for s in sentences:
        ids = [vocab.eos_id] + vocab.encode(list(s))
        for t in range(1, len(ids) + 1):  # the last start is past the end: an empty tail, 0
            rows.append(ids)
            starts.append(t)
    tail = scorer.sequence_logprobs(rows, np.asarray(starts, dtype=np.int64)) if rows else np.zeros(0)
    out, k = [], 0
    for s in sentences:
        sums = tail[k:k + len(s) + 1]
        k += len(s) + 1
        out.append(-(sums[:-1] - sums[1:]))
    return out
