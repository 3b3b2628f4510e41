"""Tests for the synthetic-corpus grammar: agreement, the attractor knob, semantics, depth, seeds."""
from __future__ import annotations

import pytest

from probe.core.errors import ProbeError
from probe.data.grammar import ORC, SRC, SUBJECT, Grammar, GrammarProbs, measure_dependencies
from probe.data.lexicon import load_lexicon


@pytest.fixture(scope="module")
def lex():
    return load_lexicon()


def _crosses(tokens, c, v, lex):
    """Reference (slow, obvious) check: (any noun, noun of the other number) strictly between c and v."""
    head = lex.noun_number[tokens[c]]
    between = [lex.noun_number[t] for t in tokens[c + 1:v] if t in lex.noun_number]
    return bool(between), any(n != head for n in between)


def test_every_agreeing_verb_agrees_with_its_recorded_controller(lex):
    sents = Grammar(lex, attractor_rate=0.3, max_depth=3).generate(3000, seed=1)
    kinds = set()
    for s in sents:
        verbs_with_dep = set()
        for c, v, kind in s.deps:
            assert c < v
            assert lex.noun_number[s.tokens[c]] == lex.verb_number[s.tokens[v]], (s.tokens, c, v)
            verbs_with_dep.add(v)
            kinds.add(kind)
        # no agreeing verb form escapes the record (so the test above covers every verb)
        verb_positions = {i for i, t in enumerate(s.tokens) if t in lex.verb_number}
        assert verb_positions == verbs_with_dep, s.tokens
    assert kinds == {SUBJECT, SRC, ORC}


def test_output_is_lower_case_lexicon_words_only(lex):
    forms = {f for n in lex.nouns for f in (n.sg, n.pl)} | set(lex.verb_number) | {a.form for a in lex.adjectives}
    forms |= set(lex.cverbs) | set(lex.preps) | set(lex.comps) | set(lex.advs) | set(lex.dets) | {"been", "and"}
    seen = set()
    for s in Grammar(lex, attractor_rate=0.2, max_depth=3).generate(2000, seed=2):
        seen.update(s.tokens)
        assert s.tokens[0] == "the"
    assert seen <= forms
    assert {"that", "who", "and", "been", "said"} <= seen


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5])
def test_measured_attractor_rate_matches_the_knob(lex, rate):
    sents = Grammar(lex, attractor_rate=rate, max_depth=3).generate(5000, seed=3)
    m = measure_dependencies(sents, lex)
    # about 5,500 subject dependencies: 3 standard errors at r = 0.5 is 0.02
    assert m["attractor_rate"] == pytest.approx(rate, abs=0.025)
    assert m["agreement_errors"] == 0
    # the vectorised measurement equals the obvious per-dependency loop
    ref_any = ref_other = ref_subj = ref_subj_other = 0
    for s in sents:
        for c, v, kind in s.deps:
            any_noun, other = _crosses(s.tokens, c, v, lex)
            ref_any += any_noun
            ref_other += other
            ref_subj += kind == SUBJECT
            ref_subj_other += other and kind == SUBJECT
    assert m["dependencies"] == sum(len(s.deps) for s in sents)
    assert m["dependency_noun_rate"] == pytest.approx(ref_any / m["dependencies"])
    assert m["dependency_attractor_rate"] == pytest.approx(ref_other / m["dependencies"])
    assert m["attractor_rate"] == pytest.approx(ref_subj_other / ref_subj)
    if rate == 0.0:
        # not one dependency of any kind crosses a noun of the other number, coordination included
        assert m["dependency_attractor_rate"] == 0.0


def test_match_rate_controls_modified_subjects(lex):
    bare = measure_dependencies(Grammar(lex, attractor_rate=0.0, match_rate=0.0).generate(3000, seed=4), lex)
    matched = measure_dependencies(Grammar(lex, attractor_rate=0.0, match_rate=0.4).generate(3000, seed=4), lex)
    assert matched["attractor_rate"] == 0.0
    # only coordination objects lie between a bare subject and its verb
    assert bare["subject_noun_rate"] < 0.08 < 0.3 < matched["subject_noun_rate"]


def test_semantic_constraints(lex):
    animate = {f for n in lex.animate_nouns for f in (n.sg, n.pl)}
    lexical = {f for v in lex.verbs for f in (v.sg, v.pl)}
    adj_ok = {True: set(lex.adjectives_for(True)), False: set(lex.adjectives_for(False))}
    for s in Grammar(lex, attractor_rate=0.3).generate(2000, seed=5):
        for c, v, kind in s.deps:
            if s.tokens[v] in lexical or kind in (SRC, ORC):
                assert s.tokens[c] in animate, (s.tokens, c, v)
            if kind == SUBJECT and s.tokens[v] not in lexical:  # copula: is/was ADJ or has been ADJ
                adj = s.tokens[v + 2] if s.tokens[v + 1] == "been" else s.tokens[v + 1]
                assert adj in adj_ok[s.tokens[c] in animate], s.tokens


def test_depth_limits_recursion(lex):
    nouns = set(lex.noun_number)
    flat = Grammar(lex, attractor_rate=0.0, match_rate=0.0, max_depth=0).generate(1000, seed=6)
    for s in flat:
        assert sum(t in nouns for t in s.tokens) <= 3  # subject + one object per conjunct
        assert not set(s.tokens) & (set(lex.preps) | set(lex.comps) | set(lex.cverbs))
    one = Grammar(lex, attractor_rate=0.5, max_depth=1).generate(2000, seed=6)
    # depth 1: no complement clauses, and modifiers hold no modifiers of their own: at most the subject, its
    # PP chain of 4, and per conjunct an object with a one-noun modifier
    assert not any(set(s.tokens) & set(lex.cverbs) for s in one)
    assert max(sum(t in nouns for t in s.tokens) for s in one) <= 9
    assert not any(set(s.tokens) & set(lex.comps) and set(s.tokens) & set(lex.preps)
                   and _relative_inside_pp(s.tokens, lex) for s in one)
    deep = Grammar(lex, attractor_rate=0.5, max_depth=4).generate(2000, seed=6)
    assert max(sum(t in nouns for t in s.tokens) for s in deep) > 6


def _relative_inside_pp(tokens, lex):
    """Whether a relative clause follows a PP's noun (a modifier inside a modifier)."""
    nouns, comps, preps = set(lex.noun_number), set(lex.comps), set(lex.preps)
    for i, t in enumerate(tokens[:-1]):
        if t in nouns and tokens[i + 1] in comps and any(x in preps for x in tokens[max(0, i - 3):i]):
            return True
    return False


def test_between_a_subject_and_its_verbs_every_noun_has_one_number(lex):
    """Attracted subjects cross only nouns of the other number, matched ones only nouns of theirs; a bare
    subject's coordinated object has the other number with probability rho = r / (r + m)."""
    g = Grammar(lex, attractor_rate=0.1, modifier_rate=0.5)
    assert g.rho == pytest.approx(0.2)
    coord_other = coord = 0
    for s in g.generate(12000, seed=13):
        for c, v, kind in s.deps:
            if kind != SUBJECT:
                continue
            head = lex.noun_number[s.tokens[c]]
            between = {lex.noun_number[t] for t in s.tokens[c + 1:v] if t in lex.noun_number}
            assert len(between) <= 1, s.tokens
            if s.tokens[v - 1] == "and" and s.tokens[c + 1] in lex.verb_number:   # bare subject, coordinated
                if between:
                    coord += 1
                    coord_other += head not in between
    assert coord > 100 and coord_other / coord == pytest.approx(0.2, abs=0.08)


def test_subject_pp_chains_and_adverb_runs(lex):
    """Subject PP chains reach 4 PPs and adverb runs 12 adverbs, the benchmark's deepest pp and longest control
    items, and never more."""
    preps, advs = set(lex.preps), set(lex.advs)
    longest_chain = longest_run = 0
    for s in Grammar(lex, attractor_rate=0.1, modifier_rate=0.6).generate(6000, seed=14):
        run = chain = 0
        for t in s.tokens:
            run = run + 1 if t in advs else 0
            longest_run = max(longest_run, run)
        pos = [i for i, t in enumerate(s.tokens) if t in preps]
        for a, b in zip(pos, pos[1:]):
            chain = chain + 1 if b - a in (3, 4) else 0
            longest_chain = max(longest_chain, chain + 1)
    assert longest_run == 12 and longest_chain == 4


def test_same_seed_same_sentences(lex):
    g = Grammar(lex, attractor_rate=0.1)
    a, b = g.generate(500, seed=7), g.generate(500, seed=7)
    assert a == b
    assert a != g.generate(500, seed=8)
    # the stream does not depend on how many sentences are taken
    assert g.generate(200, seed=7) == a[:200]


@pytest.mark.parametrize("kwargs", [
    {"attractor_rate": -0.1}, {"attractor_rate": 1.5}, {"attractor_rate": 0.6, "match_rate": 0.5},
    {"attractor_rate": 0.1, "max_depth": 0}, {"attractor_rate": 0.1, "max_depth": -1},
    {"attractor_rate": 0.1, "probs": GrammarProbs(plural=2.0)},
])
def test_bad_knobs_are_probe_errors(lex, kwargs):
    with pytest.raises(ProbeError):
        Grammar(lex, **kwargs)


TINY_LEXICON = """\
noun\tauthor\tauthors\tanimate
noun\tpilot\tpilots\tanimate
noun\tbook\tbooks\tinanimate
verb\tlaughs\tlaugh\tintransitive
verb\tsees\tsee\ttransitive,obj=any
verb\tcarries\tcarry\ttransitive,obj=inanimate
copula\tis\tare\ttense=present
copula\thas\thave\ttense=perfect
cverb\tsaid\t-\t-
adj\told\t-\tanimate
adj\tnew\t-\tinanimate
prep\tof\t-\t-
comp\tthat\t-\t-
comp\twho\t-\t-
adv\toften\t-\t-
det\tthe\t-\t-
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("lex") / "tiny.tsv"
    path.write_text(TINY_LEXICON)
    return load_lexicon(path)


def test_sentence_logp_is_the_sentence_probability(tiny):
    """Sampled frequencies of the commonest sentences match exp(logp), and every occurrence of a sentence
    gets the same logp (a second derivation with another probability would show up as a second value)."""
    import collections
    import math

    g = Grammar(tiny, attractor_rate=0.2, modifier_rate=0.5, max_depth=2,
                probs=GrammarProbs(modifier=0.3, complement=0.2, coordination=0.2, adverb=0.2))
    sents = g.generate(60_000, seed=11)
    logps = collections.defaultdict(set)
    for s in sents:
        logps[" ".join(s.tokens)].add(round(s.logp, 9))
    assert all(len(v) == 1 for v in logps.values())
    counts = collections.Counter(" ".join(s.tokens) for s in sents)
    for text, k in counts.most_common(15):
        p = math.exp(next(iter(logps[text])))
        sd = math.sqrt(p * (1 - p) / len(sents))
        assert abs(k / len(sents) - p) < 4 * sd, (text, k / len(sents), p)
    # the sampled sentences carry most of the probability mass of what was sampled: no term is missing
    assert sum(math.exp(next(iter(v))) for v in logps.values()) <= 1.0 + 1e-9


def test_modifier_rate_holds_modified_subjects_fixed(lex):
    """With a modifier rate, the sweep varies only the attracted share: subjects crossing any noun and
    sentence lengths stay put, while the attractor rate moves."""
    import numpy as np

    out = {}
    for rate in (0.01, 0.3):
        sents = Grammar(lex, attractor_rate=rate, modifier_rate=0.6).generate(20_000, seed=12)
        m = measure_dependencies(sents, lex)
        out[rate] = (m["attractor_rate"], m["subject_noun_rate"], np.mean([len(s.tokens) for s in sents]))
    assert out[0.01][0] < 0.02 and out[0.3][0] == pytest.approx(0.3, abs=0.02)
    assert out[0.01][1] == pytest.approx(out[0.3][1], abs=0.015)
    assert out[0.01][2] == pytest.approx(out[0.3][2], rel=0.01)


@pytest.mark.parametrize("kwargs", [{"attractor_rate": 0.3, "modifier_rate": 0.2},
                                    {"attractor_rate": 0.1, "modifier_rate": 0.5, "match_rate": 0.1}])
def test_bad_modifier_rates(lex, kwargs):
    with pytest.raises(ProbeError):
        Grammar(lex, **kwargs)
