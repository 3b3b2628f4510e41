"""The probabilistic grammar of the synthetic training corpus: seeded, agreeing sentences over the lexicon.

Sentences are lower case, space-separated, without punctuation (like the benchmark items)::

    S    -> NP_subj VP [and VP]                      subject-verb agreement on every VP
          | NP cverb [that] S                        'the mechanic said (that) the author laughs'
    NP   -> the [ADJ] NOUN [MOD]
    MOD  -> PREP NP                                  'the author of the books'
          | that|who VP                              'the author that likes the guards'   (SRC)
          | [that|who] NP_bare VT                    'the author (that) the guards like'  (ORC)
    VP   -> [ADV] VI | [ADV] VT NP | COP [been] ADJ

Semantics follow the lexicon: lexical verbs take animate subjects, objects fit the verb's ``obj=``
feature, adjectives fit the noun's animacy; copular clauses may have inanimate subjects. Recursion
stops at ``max_depth``: main-clause nouns are at depth 0, a modifier's nouns one level deeper, and
a complement clause sits one level deeper than the clause that embeds it.

The knob, ``attractor_rate`` r: every clause subject (of a main or complement clause, the subjects
whose verbs agree) is drawn as
  - attracted (probability r): a modifier all of whose nouns have the other number, so the subject-verb
    dependency crosses nouns of the other number only;
  - matched (probability m): a modifier all of whose nouns have the head's number;
  - bare (the rest): no post-modifier (an adjective at most).
Attracted and matched modifiers are drawn alike (same kinds, same lengths, a noun in every one: a
subject relative clause is then transitive); only their nouns' numbers differ. m is
``modifier_rate - r`` when ``modifier_rate`` (the share of modified subjects) is given, which is how
an attractor-rate sweep varies one thing: the share of modifiers whose nouns have the other number,
with the share of modified subjects, their kinds and the corpus length held fixed. Otherwise m is
``match_rate``, by default min(r, 1 - r): with m = r a modifier is no cue to the verb's number.

Every other place where a noun stands beside an agreement dependency follows the same share,
rho = r / (r + m), the share of modifiers whose nouns have the other number, so that each benchmark
construction's conflict configuration is as common in training as any other's:
  - the object of a non-final conjunct ('the author likes the guards and laughs') lies between the head
    and the next verb: it has the other number when the subject is attracted, the head's when it is
    matched, and for a bare subject the other number with probability rho;
  - a modifier outside a subject (on an object, a matrix subject or a noun inside a modifier) has the
    other number than the noun it modifies with probability rho, so an object relative clause on any
    noun ('... the author that the guards like') matches its subject as often as one on a subject;
  - the subject of a complement clause has the other number than the matrix subject with probability
    rho ('the mechanics said the author laughs').
Subject PPs form chains of 1-4 ('the author of the books near the tables ...'; each further PP with
probability ``pp_chain``), the benchmark's 'pp' construction at every attractor count, and an agreeing
verb may follow a run of 1-12 adverbs (probability ``adverb``; each further adverb with probability
``adverb_chain``), the benchmark's distance-only 'control' items at every distance.

Every sentence comes with the natural log-probability of its derivation (the sum of the logs of every
random choice made). Each sentence of this grammar has exactly one derivation (a word form belongs to
one category and one pool, and every structural choice leaves a visible trace: a modifier's kind and
its first word, 'that'/'who', the optional words), so this is log P(sentence), and
:func:`entropy_floor` turns it into the per-token entropy a perfect language model would reach.

The generator records every agreement dependency as (controller index, verb index, kind): kind
``subject`` for clause subjects (the ones r controls), ``src`` for a subject relative clause's verb
(controlled by the modified noun; only 'that'/'who' lies between), ``orc`` for an object relative
clause's verb (controlled by the relative clause's own subject, which takes no post-modifier).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from probe.core.errors import ProbeError
from probe.data.lexicon import PL, SG, Lexicon

SUBJECT, SRC, ORC = "subject", "src", "orc"  # kinds of agreement dependency
DEP_KINDS = (SUBJECT, SRC, ORC)
_PP, _SRC, _ORC, _ORC_BARE = range(4)  # modifier kinds
MAX_PP_CHAIN = 4    # PPs in a subject's PP chain at most (the benchmark stacks 1-4)
MAX_ADVERBS = 12    # adverbs before a verb at most (the benchmark's longest distance-only item)
_COP, _INTR, _TR = range(3)  # verb-phrase kinds
AND, BEEN = "and", "been"  # the grammar's own function words (the lexicon has no conjunctions)


@dataclass(frozen=True)
class GrammarProbs:
    """The grammar's structural probabilities (everything except the attractor knob and the depth)."""

    plural: float = 0.5             # P(plural) for a noun whose number is free (not fixed by the knob)
    adjective: float = 0.1          # P(an adjective before the noun), per noun phrase
    modifier: float = 0.15          # P(a post-modifier) on a non-subject noun (objects, modifier nouns)
    pp_chain: float = 0.35          # P(another PP) after each PP of a subject's PP chain (1-4 PPs)
    pp: float = 0.5                 # modifier kinds, relative weights (renormalised over the kinds
    src: float = 0.25               # that fit the head: SRCs need an animate head)
    orc: float = 0.15               # object relative clause with 'that'/'who'
    orc_bare: float = 0.1           # object relative clause without a relativiser
    who: float = 0.2                # P('who' rather than 'that') in a relative clause on an animate head
    animate_pp: float = 0.5         # P(animate noun) inside a PP
    animate_object: float = 0.5     # P(animate object) for verbs with obj=any
    complement: float = 0.1         # P(a clause is 'NP cverb S'), where the depth allows
    complement_that: float = 0.3    # P('that' after the clause-embedding verb)
    coordination: float = 0.1       # P('VP and VP') in a clause
    copula: float = 0.3             # P(copula VP: is/are, was/were, has/have been + ADJ)
    transitive: float = 0.5         # P(transitive | lexical verb)
    adverb: float = 0.1             # P(a run of adverbs before an agreeing verb: lexical, copula, or an object
                                    #   relative clause's verb)
    adverb_chain: float = 0.8       # P(another adverb) after each adverb of a run (at most 12)
    inanimate_subject: float = 0.3  # P(inanimate subject | the clause's VPs are all copular)


class Sentence(NamedTuple):
    """One generated sentence, its agreement dependencies (controller index, verb index, kind) and the
    natural log-probability of its derivation (= of the sentence, see the module docstring)."""

    tokens: list[str]
    deps: list[tuple[int, int, str]]
    logp: float = 0.0


def resolve_match_rate(attractor_rate: float, match_rate: float | None, modifier_rate: float | None = None) -> float:
    """The share of matched-modifier subjects: ``modifier_rate - attractor_rate`` when a modifier rate is
    given, else ``match_rate``, else min(r, 1 - r)."""
    if modifier_rate is not None:
        return modifier_rate - attractor_rate
    return min(attractor_rate, 1.0 - attractor_rate) if match_rate is None else match_rate


def check_grammar_options(*, attractor_rate: float, match_rate: float | None, max_depth: int,
                          probs: GrammarProbs, modifier_rate: float | None = None) -> None:
    """Reject impossible knobs with one-line errors (the grammar and ``probe corpus`` call this first)."""
    r = attractor_rate
    if not 0.0 <= r <= 1.0:
        raise ProbeError(f"attractor rate {r} is outside [0, 1]; give a share of subjects, e.g. 0.05")
    if modifier_rate is not None:
        if match_rate is not None:
            raise ProbeError("give either a modifier rate or a match rate, not both: the modifier rate sets the "
                             "match rate to modifier rate - attractor rate")
        if not r <= modifier_rate <= 1.0:
            raise ProbeError(f"modifier rate {modifier_rate} must lie in [attractor rate, 1] = [{r:g}, 1]: "
                             "attracted subjects are modified subjects")
    m = resolve_match_rate(r, match_rate, modifier_rate)
    if not -1e-12 <= m <= 1.0 or r + m > 1.0 + 1e-12:
        raise ProbeError(f"match rate {m} must lie in [0, 1 - attractor rate] = [0, {1 - r:g}]")
    if max_depth < 0:
        raise ProbeError(f"max depth {max_depth} is negative; give 0 (no modifiers) or more")
    if max_depth == 0 and r + m > 0:
        raise ProbeError("max depth 0 allows no noun modifiers, so no attractors: "
                         "raise --max-depth or set the attractor and match rates to 0")
    for name, value in vars(probs).items():
        if not 0.0 <= value <= 1.0:
            raise ProbeError(f"grammar probability {name}={value} is outside [0, 1]; give a probability")
    if probs.pp + probs.src + probs.orc + probs.orc_bare <= 0:
        raise ProbeError("grammar modifier weights pp/src/orc/orc_bare are all 0; give one a positive weight")


def _log(x: float) -> float:
    """log x, with log 0 = -inf (a choice of probability 0 is never drawn, so it never adds this)."""
    return math.log(x) if x > 0 else -math.inf


def _forms(entry) -> tuple[str, str]:
    """(singular, plural): indexable by the grammar's number codes 0 = sg, 1 = pl."""
    return entry.sg, entry.pl


class Grammar:
    """A sentence generator over ``lexicon``; ``stream(seed)`` yields sentences forever.

    Uniform draws come from ``numpy.random.default_rng(seed)`` in blocks, so a seed fixes the whole
    stream whatever the number of sentences taken.
    """

    def __init__(self, lexicon: Lexicon, *, attractor_rate: float, match_rate: float | None = None,
                 max_depth: int = 3, probs: GrammarProbs = GrammarProbs(), modifier_rate: float | None = None):
        check_grammar_options(attractor_rate=attractor_rate, match_rate=match_rate, max_depth=max_depth,
                              probs=probs, modifier_rate=modifier_rate)
        r, m = attractor_rate, max(0.0, resolve_match_rate(attractor_rate, match_rate, modifier_rate))
        self.lexicon, self.attractor_rate, self.match_rate = lexicon, r, m
        self.max_depth, self.probs = max_depth, probs
        lex = lexicon
        self._nouns = (tuple(map(_forms, lex.inanimate_nouns)), tuple(map(_forms, lex.animate_nouns)))
        self._adjs = (lex.adjectives_for(False), lex.adjectives_for(True))
        self._intr = tuple(map(_forms, lex.intransitive_verbs))
        self._tr = tuple((v.sg, v.pl, v.obj) for v in lex.transitive_verbs)
        # transitive verbs that can take an inanimate / animate object (ORC heads are their objects)
        self._tr_obj = (tuple(_forms(v) for v in lex.transitive_verbs if v.obj in ("inanimate", "any")),
                        tuple(_forms(v) for v in lex.transitive_verbs if v.obj in ("animate", "any")))
        self._cop = tuple((c.sg, c.pl, c.tense == "perfect") for c in lex.copulas)
        for what, pool in (("inanimate noun", self._nouns[0]), ("animate noun", self._nouns[1]),
                           ("adjective for animate nouns", self._adjs[1]),
                           ("adjective for inanimate nouns", self._adjs[0])):
            if not pool:
                raise ProbeError(f"lexicon {lex.path} has no {what}; the grammar needs one")
        self._that = "that" if "that" in lex.comps else lex.comps[0]
        self._who = "who" if "who" in lex.comps else self._that
        # cumulative modifier-kind weights for (inanimate head, animate head); an SRC needs an
        # animate head (its verb's subject), an ORC a verb taking the head's animacy as object
        self._mod_cum = []
        for animate in (0, 1):
            w = [probs.pp, probs.src * animate, probs.orc * bool(self._tr_obj[animate]),
                 probs.orc_bare * bool(self._tr_obj[animate])]
            total = sum(w)
            if total <= 0:
                raise ProbeError("no noun modifier fits the lexicon and grammar weights; give pp a positive weight")
            self._mod_cum.append(tuple(np.cumsum(w) / total))
        # relative-clause kinds only (src, orc, orc_bare), for the last noun of a subject's PP chain
        self._rc_cum, self._rc_logw = [], []
        for animate in (0, 1):
            w = [probs.src * animate, probs.orc * bool(self._tr_obj[animate]),
                 probs.orc_bare * bool(self._tr_obj[animate])]
            total = sum(w)
            self._rc_cum.append(tuple(np.cumsum(w) / total) if total > 0 else ())
            self._rc_logw.append(tuple(_log(x / total) for x in w) if total > 0 else ())

    @property
    def rho(self) -> float:
        """The share of modifiers whose nouns have the other number, r / (r + m) (0 without modifiers): every
        noun beside an agreement dependency has the other number with this probability."""
        rm = self.attractor_rate + self.match_rate
        return self.attractor_rate / rm if rm > 0 else 0.0

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every word the grammar can emit, sorted (a superset where a probability is 0)."""
        lex = self.lexicon
        words = set(lex.verb_number) | {f for n in lex.nouns for f in (n.sg, n.pl)}
        words |= {a.form for a in lex.adjectives} | set(lex.dets) | set(lex.preps) | set(lex.advs)
        words |= {self._that, self._who, AND, BEEN}
        if self.max_depth >= 2:
            words |= set(lex.cverbs)
        return tuple(sorted(words))

    def stream(self, seed: int) -> Iterator[Sentence]:
        """Yield sentences forever; the same seed gives the same sequence.

        Every random choice also adds the log of its probability to the sentence's ``logp``: a uniform
        pick from a pool of k words adds -log k, a yes/no draw log p or log(1 - p), a modifier kind the
        log of its normalised weight, the subject's attracted/matched/bare draw log r, log m or
        log(1 - r - m). Choices with one possible outcome add nothing.
        """
        rng = np.random.default_rng(seed)

        def blocks() -> Iterator[float]:
            while True:
                yield from rng.random(1 << 16).tolist()

        u = blocks().__next__
        p = self.probs
        r, rm, max_depth = self.attractor_rate, self.attractor_rate + self.match_rate, self.max_depth
        rho = self.rho
        nouns, adjs, intr, tr, tr_obj, cop = self._nouns, self._adjs, self._intr, self._tr, self._tr_obj, self._cop
        dets, preps, advs, cverbs = self.lexicon.dets, self.lexicon.preps, self.lexicon.advs, self.lexicon.cverbs
        that, who, mod_cum = self._that, self._who, self._mod_cum
        p_pl, p_adj, p_mod, p_who, p_adv = p.plural, p.adjective, p.modifier, p.who, p.adverb
        p_tr_lex = p.transitive
        mod_logw = [tuple(_log(b - a) for a, b in zip((0.0,) + cum[:-1], cum)) for cum in mod_cum]
        subject_log = (_log(r), _log(self.match_rate), _log(1.0 - rm))
        lp = [0.0]   # the current sentence's log-probability, added to by every draw

        def pick(seq: Sequence):
            if len(seq) > 1:
                lp[0] -= math.log(len(seq))
            return seq[int(u() * len(seq))]

        def coin(prob: float) -> bool:
            """True with probability ``prob`` (one uniform draw, as ``u() < prob``)."""
            yes = u() < prob
            lp[0] += _log(prob if yes else 1.0 - prob)
            return yes

        def number(force: int | None) -> int:
            return force if force is not None else int(coin(p_pl))

        def relative(num: int) -> int:
            """The number of a noun beside one of number ``num``: the other one with probability rho."""
            return 1 - num if coin(rho) else num

        def vp_kind() -> int:
            return _COP if coin(p.copula) else (_TR if coin(p_tr_lex) else _INTR)

        def adverbs(toks: list) -> None:
            # an optional run of adverbs: one, then each further one with probability adverb_chain, at most
            # MAX_ADVERBS (a geometric length needs no counting, save at the cap)
            if advs and coin(p_adv):
                toks.append(pick(advs))
                for _ in range(MAX_ADVERBS - 1):
                    if not coin(p.adverb_chain):
                        break
                    toks.append(pick(advs))

        def noun_phrase(toks: list, deps: list, num: int, animate: int, depth: int, force: int | None,
                        post: bool = True) -> int:
            # the [ADJ] NOUN [MOD]; returns the noun's index
            toks.append(pick(dets))
            if coin(p_adj):
                toks.append(pick(adjs[animate]))
            i = len(toks)
            toks.append(pick(nouns[animate])[num])
            if post and depth < max_depth and coin(p_mod):
                modifier(toks, deps, i, num, animate, depth + 1, force, False)
            return i

        def modifier(toks: list, deps: list, head: int, num: int, animate: int, depth: int,
                     force: int | None, subject: bool) -> None:
            # A post-modifier of the noun at ``head`` (number ``num``) whose nouns are at ``depth``; ``force``
            # fixes the number of every noun in it; ``subject`` marks a clause subject's modifier (a noun in
            # every kind: a relative clause is then transitive, a PP starts a chain).
            x, cum = u(), mod_cum[animate]
            kind = _PP if x < cum[0] else _SRC if x < cum[1] else _ORC if x < cum[2] else _ORC_BARE
            lp[0] += mod_logw[animate][kind]
            if kind != _PP:
                rc(toks, deps, head, num, animate, depth, force, kind, subject)
            elif subject:
                pp_chain(toks, deps, force, depth, force)
            else:
                toks.append(pick(preps))
                key = force if force is not None else relative(num)
                noun_phrase(toks, deps, key, int(coin(p.animate_pp)), depth, force)

        def pp_chain(toks: list, deps: list, key: int, depth: int, force: int | None) -> None:
            # a subject's PP chain: PREP NP, each further PP (attached to the noun before it) with
            # probability pp_chain, at most MAX_PP_CHAIN; every noun has the number ``key``. Only the last
            # noun may take another modifier, and not a PP (so that each chain has one derivation).
            for k in range(1, MAX_PP_CHAIN + 1):
                toks.append(pick(preps))
                animate = int(coin(p.animate_pp))
                i = noun_phrase(toks, deps, key, animate, depth, force, post=False)
                if k < MAX_PP_CHAIN and coin(p.pp_chain):
                    continue
                cum = self._rc_cum[animate]
                if cum and depth < max_depth and coin(p_mod):
                    x = u()
                    kind = _SRC if x < cum[0] else _ORC if x < cum[1] else _ORC_BARE
                    lp[0] += self._rc_logw[animate][kind - 1]
                    rc(toks, deps, i, key, animate, depth + 1, force, kind, False)
                return

        def rc(toks: list, deps: list, head: int, num: int, animate: int, depth: int, force: int | None,
               kind: int, subject: bool) -> None:
            # a relative clause of ``kind`` on the noun at ``head`` (number ``num``); its noun's number is
            # drawn only where there is a noun (an SRC with an intransitive or copular verb has none)
            if kind == _SRC:
                toks.append(who if coin(p_who) else that)
                vp = _TR if subject else vp_kind()
                key = (force if force is not None else relative(num)) if vp == _TR else None
                v = verb_phrase(toks, deps, vp, num, animate, depth, force, key)
                deps.append((head, v, SRC))
                return
            if kind == _ORC:
                toks.append(who if animate and coin(p_who) else that)
            key = force if force is not None else relative(num)
            s = noun_phrase(toks, deps, key, 1, depth, force, post=False)
            adverbs(toks)
            deps.append((s, len(toks), ORC))
            toks.append(pick(tr_obj[animate])[key])

        def verb_phrase(toks: list, deps: list, kind: int, num: int, animate: int, depth: int,
                        force: int | None, obj_num: int | None = None) -> int:
            # returns the index of the agreeing verb; the object (if any) sits at the clause's depth
            adverbs(toks)
            if kind == _COP:
                c = pick(cop)
                i = len(toks)
                toks.append(c[num])
                if c[2]:
                    toks.append(BEEN)
                toks.append(pick(adjs[animate]))
                return i
            i = len(toks)
            if kind == _INTR:
                toks.append(pick(intr)[num])
                return i
            v = pick(tr)
            toks.append(v[num])
            obj_anim = 1 if v[2] == "animate" else 0 if v[2] == "inanimate" else int(coin(p.animate_object))
            noun_phrase(toks, deps, obj_num if obj_num is not None else number(force), obj_anim, depth, force)
            return i

        def clause(toks: list, deps: list, depth: int, matrix: int | None = None) -> None:
            # ``matrix``: the number of the subject of the clause embedding this one (a complement clause)
            if depth + 2 <= max_depth and coin(p.complement):
                # the embedding verb is past tense (no agreement): its subject is a free noun phrase
                outer = number(None)
                noun_phrase(toks, deps, outer, 1, depth, None)
                toks.append(pick(cverbs))
                if coin(p.complement_that):
                    toks.append(that)
                clause(toks, deps, depth + 1, outer)
                return
            num = number(None) if matrix is None else relative(matrix)
            kinds = [vp_kind()]
            if coin(p.coordination):
                kinds.append(vp_kind())
            animate = 1 if any(k != _COP for k in kinds) else int(not coin(p.inanimate_subject))
            toks.append(pick(dets))
            if coin(p_adj):
                toks.append(pick(adjs[animate]))
            head = len(toks)
            toks.append(pick(nouns[animate])[num])
            x = u()
            if x < r:
                lp[0] += subject_log[0]
                between = 1 - num
                modifier(toks, deps, head, num, animate, depth + 1, between, True)
            elif x < rm:
                lp[0] += subject_log[1]
                between = num
                modifier(toks, deps, head, num, animate, depth + 1, between, True)
            else:
                lp[0] += subject_log[2]
                # a bare subject: only a non-final conjunct's object can stand between it and a verb
                between = relative(num) if _TR in kinds[:-1] else None
            last = len(kinds) - 1
            for j, kind in enumerate(kinds):
                if j:
                    toks.append(AND)
                force = None if j == last else between
                deps.append((head, verb_phrase(toks, deps, kind, num, animate, depth, force), SUBJECT))

        while True:
            toks: list[str] = []
            deps: list[tuple[int, int, str]] = []
            lp[0] = 0.0
            clause(toks, deps, 0)
            yield Sentence(toks, deps, lp[0])

    def ambiguous_forms(self) -> list[str]:
        """Word forms the grammar can emit in two roles (two categories, or both animacy pools of nouns, or
        both intransitive and transitive verbs). Empty for the shipped lexicon; where not empty, a sentence
        may have two derivations and its derivation's logp is a lower bound on log P(sentence)."""
        lex = self.lexicon
        roles: dict[str, set] = {}
        groups = {"animate noun": [f for n in lex.animate_nouns for f in (n.sg, n.pl)],
                  "inanimate noun": [f for n in lex.inanimate_nouns for f in (n.sg, n.pl)],
                  "intransitive verb": [f for v in lex.intransitive_verbs for f in (v.sg, v.pl)],
                  "transitive verb": [f for v in lex.transitive_verbs for f in (v.sg, v.pl)],
                  "copula": [f for c in lex.copulas for f in (c.sg, c.pl)],
                  "adjective": [a.form for a in lex.adjectives], "cverb": list(lex.cverbs), "prep": list(lex.preps),
                  "comp": list(lex.comps), "adv": list(lex.advs), "det": list(lex.dets), "grammar": [AND, BEEN]}
        for role, forms in groups.items():
            for f in set(forms):
                roles.setdefault(f, set()).add(role)
        return sorted(f for f, rs in roles.items() if len(rs) > 1)

    def generate(self, n: int, seed: int) -> list[Sentence]:
        """The first ``n`` sentences of ``stream(seed)``."""
        it = self.stream(seed)
        return [next(it) for _ in range(n)]


def entropy_floor(sentences: Sequence[Sentence], *, log_keep: float = 0.0) -> dict:
    """The entropy rate of the grammar on ``sentences``: what a perfect language model scores there.

    Each sentence is predicted with its closing ``<eos>`` (as the corpora store it), from nothing before
    it (sentences are drawn independently, so earlier ones carry no information). ``log_keep``: the log of
    the share of drawn sentences that were kept (the corpus drops benchmark sentences, which raises the
    probability of every kept one by that share). Returns ``nats_per_token`` and ``ppl`` = exp of it,
    over ``tokens`` (words + one ``<eos>`` each).
    """
    tokens = sum(len(s.tokens) + 1 for s in sentences)
    nats = -sum(s.logp for s in sentences) + len(sentences) * log_keep
    per_token = nats / tokens if tokens else float("nan")
    return {"nats_per_token": per_token, "ppl": math.exp(per_token) if tokens else float("nan"), "tokens": tokens}


def measure_dependencies(sentences: Sequence[Sentence], lexicon: Lexicon) -> dict:
    """Count, from the tokens alone (lexicon number look-ups), what each agreement dependency crosses.

    Returns counts and shares: ``attractor_rate`` = share of clause-subject dependencies with a noun of
    the other number strictly between head and verb (what the knob sets), ``dependency_attractor_rate``
    / ``dependency_noun_rate`` = share of all dependencies crossing a noun of the other number / any
    noun, per-kind counts, and ``agreement_errors`` = dependencies whose verb does not agree (0 for
    the grammar). Vectorised over the flattened corpus: O(tokens) with numpy prefix sums.
    """
    import pandas as pd

    code = {SG: 1, PL: 2}
    tokens = np.fromiter(itertools.chain.from_iterable(s.tokens for s in sentences), dtype=object)
    lengths = np.fromiter((len(s.tokens) for s in sentences), dtype=np.int64, count=len(sentences))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(sentences) else np.zeros(0, np.int64)
    # number codes (0 = none, 1 = sg, 2 = pl) per distinct word, then gathered for every token
    local, uniques = pd.factorize(tokens)
    uniques = uniques.tolist()
    noun_code = np.array([code.get(lexicon.noun_number.get(w), 0) for w in uniques], dtype=np.int8)[local]
    verb_of = np.array([code.get(lexicon.verb_number.get(w), 0) for w in uniques], dtype=np.int8)
    # cum[k] = nouns of that number among tokens[:k]
    cum_sg = np.concatenate([[0], np.cumsum(noun_code == 1)])
    cum_pl = np.concatenate([[0], np.cumsum(noun_code == 2)])
    rows = [(off + c, off + v, DEP_KINDS.index(k))
            for off, s in zip(offsets.tolist(), sentences) for c, v, k in s.deps]
    dep = np.array(rows, dtype=np.int64).reshape(-1, 3)
    c, v, kind = dep[:, 0], dep[:, 1], dep[:, 2]
    ctrl = noun_code[c] if len(c) else np.zeros(0, np.int8)
    verb_code = verb_of[local[v]]
    sg_between = cum_sg[v] - cum_sg[c + 1]
    pl_between = cum_pl[v] - cum_pl[c + 1]
    other = np.where(ctrl == 1, pl_between, sg_between) > 0
    any_noun = (sg_between + pl_between) > 0
    is_subj = kind == 0

    def share(mask: np.ndarray, among: np.ndarray) -> float | None:
        return float(mask[among].mean()) if among.any() else None

    everything = np.ones(len(kind), dtype=bool)
    return {
        "dependencies": int(len(kind)),
        "dependencies_by_kind": {k: int((kind == i).sum()) for i, k in enumerate(DEP_KINDS)},
        "attractor_rate": share(other, is_subj),
        "subject_noun_rate": share(any_noun, is_subj),
        "dependency_attractor_rate": share(other, everything),
        "dependency_noun_rate": share(any_noun, everything),
        "agreement_errors": int(((ctrl == 0) | (verb_code != ctrl)).sum()),
    }
