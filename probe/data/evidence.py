"""How often a training corpus shows each benchmark construction, and how often in its conflict configuration.

A model can only be asked to generalise agreement to a configuration it could have learned, so every
synthetic corpus counts, from its own dependency records, the training dependencies that have the shape of
each construction (a :class:`probe.data.constructions.Configuration`: the dependency kind, what lies
between controller and verb, what stands just before the controller) and, among them, how many have the
construction's conflict configuration (its attractor has the other number) or its matched one (every
attractor has the controller's number). Tokens are tagged by lexicon category, one letter each:

    D det   J adjective   N noun   P preposition   C complementizer   T transitive verb   I intransitive verb
    K copula   B 'been'   X clause-embedding verb   A 'and'   R adverb   ? anything else

A construction is *attested* in a corpus when its structure occurs and its conflict share (conflict /
structure) agrees with the grammar's designed share rho (every noun beside an agreement dependency has the
other number with probability rho, ``probe.data.grammar``) within ``TOLERANCE`` (relative), as far as the
count can tell (the share's Wilson interval at ``LEVEL`` overlaps the tolerated band); with rho = 0 its
conflict configuration must be absent. A run makes about 25 such checks per corpus and several corpora per
rate, and a construction leaves the pool when any check fails, so each check runs at ``LEVEL`` (99.9%). One
corpus' count tells a share that is
too small or too large only coarsely (at rate 0.01 a rare construction has a handful of conflict
dependencies per corpus). The counts summed over all corpora of a rate, the evidence the rate's models saw
between them (:func:`pooled_evidence`), are held to the band itself: their share must lie within
``TOLERANCE`` of the designed one, or the construction leaves the pool (a draw can fail this by chance; the
construction is then still scored and reported on its own; with one corpus per rate the pooled share is that
corpus' own, so a rare construction's place in the pool is partly chance). The report's evidence table gives that share
with its interval.
Attractor patterns the grammar never produces (a mixed PP chain such as
'the author of the book near the tables') are counted too: their count of 0 is what sends an item to the
report's "generalization beyond the training grammar" table.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

from probe.data.constructions import CONSTRUCTIONS
from probe.data.lexicon import Lexicon
from probe.core.stats import wilson_interval

TOLERANCE = 0.25   # a construction's conflict share may differ from the designed share by 25% (relative)
LEVEL = 0.999      # the confidence of each check (a family of ~25 per corpus, several corpora per run)
SAME, OTHER = "S", "O"   # an attractor's number relative to the controller's


def category_tags(lexicon: Lexicon) -> dict[str, str]:
    """Word form -> its one-letter category (see the module docstring); 'and' and 'been' are the grammar's."""
    lex = lexicon
    tags: dict[str, str] = {"and": "A", "been": "B"}
    for letter, forms in (("D", lex.dets), ("J", [a.form for a in lex.adjectives]), ("P", lex.preps),
                          ("C", lex.comps), ("R", lex.advs), ("X", lex.cverbs),
                          ("K", [f for c in lex.copulas for f in (c.sg, c.pl)]),
                          ("I", [f for v in lex.intransitive_verbs for f in (v.sg, v.pl)]),
                          ("T", [f for v in lex.transitive_verbs for f in (v.sg, v.pl)]),
                          ("N", list(lex.noun_number))):
        for f in forms:
            tags.setdefault(f, letter)
    return tags


def relation_pattern(head_number: str, attractor_numbers: Sequence[str]) -> str:
    """The attractors' numbers relative to the head's, in sentence order: 'O' other, 'S' same ('OS')."""
    return "".join(OTHER if a != head_number else SAME for a in attractor_numbers)


def count_configurations(sentences: Iterable, lexicon: Lexicon,
                         constructions: Sequence[str] | None = None) -> dict[tuple, Counter]:
    """Per (construction, variant): a Counter of relation patterns over the training dependencies of that
    shape ('' for a construction without attractors; 'O' conflict / 'S' matched for one attractor; 'OO',
    'OS', ... for a PP chain). ``sentences``: the grammar's Sentence records (tokens and deps).

    One pass over the dependencies; the tags of a sentence are computed once.
    """
    tags_of = category_tags(lexicon)
    number = lexicon.noun_number
    names = [c for c in (constructions or CONSTRUCTIONS) if CONSTRUCTIONS[c].configuration is not None]
    compiled = []
    for name in names:
        conf = CONSTRUCTIONS[name].configuration
        compiled.append((name, conf, re.compile(conf.span), re.compile(conf.before + r"\Z") if conf.before else None))
    counts: dict[tuple, Counter] = {}
    for s in sentences:
        toks = s.tokens
        tags = "".join(tags_of.get(t, "?") for t in toks)
        for c, v, kind in s.deps:
            span = tags[c + 1:v]
            for name, conf, span_re, before_re in compiled:
                if kind != conf.dependency or not span_re.fullmatch(span):
                    continue
                if before_re is None:
                    nouns = [toks[i] for i in range(c + 1, v) if tags[i] == "N"]
                else:
                    m = before_re.search(tags, 0, c)
                    if m is None:
                        continue
                    nouns = [toks[i] for i in range(m.start(), c) if tags[i] == "N"]
                variant = conf.variant(span)
                head = number[toks[c]]
                key = (name, variant)
                counts.setdefault(key, Counter())[relation_pattern(head, [number[n] for n in nouns])] += 1
    return counts


def check_share(conflict: int, n: int, rho: float, *, level: float = LEVEL, point: bool = False
                ) -> tuple[float, float, float, bool]:
    """(share, low, high, attested) for ``conflict`` of ``n`` dependencies against the designed share ``rho``:
    attested when the conflict configuration occurs and the share's Wilson interval at ``level`` overlaps
    rho +- ``TOLERANCE`` (relative), or with ``point`` when the share itself lies in that band; with rho = 0,
    when the structure occurs and the conflict one never."""
    share, lo, hi = wilson_interval(conflict, n, level=level)
    if rho > 0:
        low, high = (share, share) if point else (lo, hi)
        return share, lo, hi, bool(conflict > 0 and low <= rho * (1 + TOLERANCE) and high >= rho * (1 - TOLERANCE))
    return share, lo, hi, bool(n > 0 and conflict == 0)


def evidence_table(counts: dict[tuple, Counter], rho: float, *, level: float = LEVEL) -> list[dict]:
    """One row per (construction, variant): structure count, conflict and matched counts, the conflict share
    with its Wilson interval, the designed share ``rho`` and whether the configuration is attested (module
    docstring). Constructions without attractors have no conflict configuration: attested when they occur."""
    rows = []
    for (name, variant), patterns in sorted(counts.items()):
        n = sum(patterns.values())
        k = max((len(p) for p in patterns), default=0)
        row = {"construction": name, "variant": variant, "structure": n, "attractors": k}
        if k == 0:
            rows.append({**row, "conflict": None, "matched": None, "mixed": None, "share": None, "share_low": None,
                         "share_high": None, "designed": None, "attested": n > 0})
            continue
        conflict = sum(c for p, c in patterns.items() if p.endswith(OTHER) and set(p) == {OTHER})
        matched = patterns.get(SAME * k, 0)
        mixed = n - conflict - matched
        share, lo, hi, attested = check_share(conflict, n, rho, level=level)
        rows.append({**row, "conflict": conflict, "matched": matched, "mixed": mixed, "share": share,
                     "share_low": lo, "share_high": hi, "designed": rho, "attested": bool(attested)})
    return rows


def attested_patterns(counts: dict[tuple, Counter]) -> set[tuple]:
    """(construction, variant, relation pattern) keys the corpus shows at least once: an item whose key is
    not among them asks for a configuration the training grammar did not produce."""
    return {(name, variant, pattern) for (name, variant), patterns in counts.items()
            for pattern, n in patterns.items() if n > 0}


def pooled_evidence(stats: Iterable[dict], *, level: float = LEVEL) -> list[dict]:
    """Per attractor rate (and its designed share) x (construction, variant) with attractors: the conflict and
    structure counts summed over that rate's corpora (their stats.json, as ``probe corpus`` writes it), the
    pooled share with its Wilson interval at ``level``, and whether the pooled share itself lies within
    ``TOLERANCE`` of the designed one (:func:`check_share` with ``point``): the evidence the rate's models saw
    between them, which is what the sweep's one knob must set. Rows sorted by (attractor_rate, designed,
    construction, variant)."""
    sums: dict[tuple, list[int]] = {}
    for s in stats:
        for r in s.get("constructions") or []:
            rho = s.get("designed_share", r.get("designed"))
            if r["attractors"] and rho is not None:
                # keyed by the asked rate too: without a fixed modifier rate several rates share rho = 0.5
                rate = s.get("attractor_rate_target")
                cell = sums.setdefault((rate, rho, r["construction"], r["variant"]), [0, 0, 0, r["attractors"]])
                cell[0] += r["conflict"] or 0
                cell[1] += r["structure"]
                cell[2] += 1
    rows = []
    for (rate, rho, name, variant), (conflict, n, corpora, k) in sorted(sums.items(), key=lambda kv: (
            kv[0][0] is None, kv[0][0] or 0, *kv[0][1:])):
        share, lo, hi, attested = check_share(conflict, n, rho, level=level, point=True)
        rows.append({"attractor_rate": rate, "designed": rho, "construction": name, "variant": variant,
                     "attractors": k, "corpora": corpora, "conflict": conflict, "structure": n, "share": share,
                     "share_low": lo, "share_high": hi, "attested": attested})
    return rows


def pooled_constructions(stats: Iterable[dict]) -> tuple[str, ...]:
    """The constructions a headline may pool: those whose configuration every corpus (its stats.json, as
    ``probe corpus`` writes it) attests at the designed share, with one attractor (pp: one PP) or, for one
    without attractors, at every variant (control: every distance), and whose counts summed over each
    rate's corpora attest it too (:func:`pooled_evidence`). Empty when a corpus has no such counts (real
    text): then no construction is pooled by attestation."""
    stats = list(stats)
    good: Counter = Counter()
    bad: set[str] = set()
    n = 0
    for s in stats:
        rows = s.get("constructions")
        if not rows:
            return ()
        n += 1
        here = {}
        for r in rows:
            if r["attractors"] <= 1:
                here[r["construction"]] = here.get(r["construction"], True) and bool(r["attested"])
        good.update(c for c, ok in here.items() if ok)
        bad.update(c for c, ok in here.items() if not ok)
    bad.update(r["construction"] for r in pooled_evidence(stats) if r["attractors"] <= 1 and not r["attested"])
    return tuple(sorted(c for c, k in good.items() if k == n and c not in bad))
