"""One function per agreement construction: each draws its slots and returns the sentence's parts."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from probe.core.errors import ProbeError
from probe.core.registry import Registry
from probe.data.lexicon import PL, SG, Lexicon, Noun, Verb

VERB_TYPES = ("copula", "intransitive", "transitive")


@dataclass(frozen=True)
class Parts:
    """A built sentence before it becomes an item.

    ``tokens`` holds the whole good sentence; ``verb_index`` points at the target verb, whose two forms
    are ``verb_good``/``verb_bad``. ``head_index`` and ``attractor_indices`` point at the nouns.
    """

    tokens: tuple[str, ...]
    verb_index: int
    verb_good: str
    verb_bad: str
    head_index: int
    attractor_indices: tuple[int, ...]


class Sampler:
    """Draws words from the lexicon for one cell, with or without semantic (animacy) constraints.

    ``nonce=True`` gives 'colorless green' sentences: any noun can head any verb, any adjective can
    describe any noun, any noun can be any verb's object.
    """

    def __init__(self, lex: Lexicon, rng: random.Random, nonce: bool = False):
        self.lex, self.rng, self.nonce = lex, rng, nonce
        self.all_nouns = lex.nouns
        self.animate = lex.animate_nouns
        self.inanimate = lex.inanimate_nouns
        self.intransitive = lex.intransitive_verbs
        self.transitive = lex.transitive_verbs
        self.adj_any = lex.adjectives_for(None)
        self.adj_animate = lex.adjectives_for(True)
        self.adj_inanimate = lex.adjectives_for(False) or self.adj_any
        self.advs = lex.advs
        self.det = lex.dets[0]
        self.comp = "that" if "that" in lex.comps else lex.comps[0]
        self.verbs_by_type = {"copula": lex.copulas, "intransitive": self.intransitive,
                              "transitive": self.transitive}
        # after 'and', a plural that is also a noun ('the editor and jumps', '... and work') coordinates nouns
        # and makes the bad sentence grammatical: coordination items take their target verb among the others
        self.verbs_after_and = {t: tuple(v for v in pool if not v.noun) for t, pool in self.verbs_by_type.items()}
        # transitive verbs that take an inanimate (False) / animate (True) object, as the grammar's _tr_obj
        self.transitive_for = {animate: tuple(v for v in self.transitive
                                              if v.obj in ("any", "animate" if animate else "inanimate"))
                               for animate in (False, True)}

    def noun(self, animate: bool | None, avoid: list[Noun]) -> Noun:
        """A noun of the given animacy (None: any; nonce: any) not already used in the sentence."""
        pool = self.all_nouns if (self.nonce or animate is None) else self.animate if animate else self.inanimate
        rand, size = self.rng.random, len(pool)
        for _ in range(1000):
            n = pool[int(rand() * size)]
            if n not in avoid:
                avoid.append(n)
                return n
        raise ProbeError(f"the lexicon has too few {'animate ' if animate else 'inanimate ' if animate is False else ''}"
                         "nouns to fill one sentence with distinct nouns; add nouns to the lexicon")

    def subject(self, avoid: list[Noun]) -> Noun:
        """A noun that can be the subject of any verb (animate unless nonce)."""
        return self.noun(True, avoid)

    def object_of(self, verb: Verb, avoid: list[Noun]) -> Noun:
        """A plausible object of ``verb`` (its obj feature), or any noun for nonce items."""
        want = None if verb.obj == "any" else verb.obj == "animate"
        return self.noun(want, avoid)

    def verb_taking(self, obj: Noun) -> Verb:
        """A transitive verb whose object may be ``obj`` (its obj feature admits obj's animacy; any
        transitive verb for nonce items). Object relative clauses need it: their head is the verb's object."""
        pool = self.transitive if self.nonce else self.transitive_for[obj.animate]
        if not pool:
            kind = "animate" if obj.animate else "inanimate"
            raise ProbeError(f"the lexicon has no transitive verb taking an {kind} object (obj=any or obj={kind}); "
                             "add one for the object relative clauses")
        return self.choice(pool)

    def choice(self, pool: tuple):
        """A uniform draw from ``pool``; faster than random.choice, which dominated build time."""
        return pool[int(self.rng.random() * len(pool))]

    def adjective(self, noun: Noun | None) -> str:
        if self.nonce or noun is None:
            return self.choice(self.adj_any)
        return self.choice(self.adj_animate if noun.animate else self.adj_inanimate)

    def number(self) -> str:
        return SG if self.rng.random() < 0.5 else PL

    def verb(self, verb_type: str, *, after_and: bool = False) -> Verb:
        """A verb of ``verb_type``; ``after_and``: one whose plural has no noun reading (coordination targets)."""
        pool = (self.verbs_after_and if after_and else self.verbs_by_type)[verb_type]
        if not pool:
            raise ProbeError(f"the lexicon has no {verb_type} verb without a noun reading for the coordination "
                             "items; add one (a verb line without the 'noun' feature)")
        return self.choice(pool)


def noun_phrase(s: Sampler, noun: Noun, number: str, out: list[str], adj_prob: float = 0.0) -> int:
    """Append 'the [ADJ] NOUN' to ``out``; return the noun's index."""
    out.append(s.det)
    if adj_prob and s.rng.random() < adj_prob:
        out.append(s.adjective(noun))
    out.append(noun.form(number))
    return len(out) - 1


def verb_phrase(s: Sampler, verb_type: str, head: Noun, number: str, out: list[str],
                 avoid: list[Noun], *, after_and: bool = False) -> tuple[int, str, str]:
    """Append the target VERB and its continuation; return (verb index, good form, bad form).

    copula:       is/are ADJ | was/were ADJ | has/have been ADJ
    intransitive: VERB
    transitive:   VERB the OBJ   (object number drawn at random: it comes after the verb)
    ``after_and``: the verb follows 'and' (coordination), so its plural must have no noun reading.
    """
    v = s.verb(verb_type, after_and=after_and)
    good, bad = v.form(number), v.form(PL if number == SG else SG)
    idx = len(out)
    out.append(good)
    if verb_type == "copula":
        if v.tense == "perfect":
            out.append("been")
        out.append(s.adjective(head))
    elif verb_type == "transitive":
        noun_phrase(s, s.object_of(v, avoid), s.number(), out)
    return idx, good, bad


def _transitive_form(s: Sampler, number: str) -> tuple[Verb, str]:
    v = s.choice(s.transitive)
    return v, v.form(number)


def simple(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the [ADJ] HEAD VERB ...            'the author laughs'"""
    out: list[str] = []
    avoid: list[Noun] = []
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out, adj_prob=0.5)
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid)
    return Parts(tuple(out), vi, good, bad, h, ())


def pp(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the HEAD PREP the A1 [PREP the A2 ...] VERB ...   'the author of the books near the tables laughs'

    Each PP attaches to the noun before it; ``len(numbers) - 1`` attractors (1-4).
    """
    out: list[str] = []
    avoid: list[Noun] = []
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    attr = []
    for num in numbers[1:]:
        out.append(s.choice(s.lex.preps))
        attr.append(noun_phrase(s, s.noun(None, avoid), num, out))
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid)
    return Parts(tuple(out), vi, good, bad, h, tuple(attr))


def src(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the HEAD that VT(head) the A1 VERB ...   'the author that likes the guards laughs'"""
    out: list[str] = []
    avoid: list[Noun] = []
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    out.append(s.comp)
    rv, form = _transitive_form(s, numbers[0])
    out.append(form)
    a = noun_phrase(s, s.object_of(rv, avoid), numbers[1], out)
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid)
    return Parts(tuple(out), vi, good, bad, h, (a,))


def _orc(s: Sampler, numbers: tuple[str, ...], verb_type: str, with_that: bool) -> Parts:
    out: list[str] = []
    avoid: list[Noun] = []
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    if with_that:
        out.append(s.comp)
    a = noun_phrase(s, s.subject(avoid), numbers[1], out)
    # the head is the object of the relative clause's verb: the verb must take it ('the salesman that
    # the prisoner carries' is out: carries takes inanimate objects)
    out.append(s.verb_taking(head).form(numbers[1]))
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid)
    return Parts(tuple(out), vi, good, bad, h, (a,))


def orc(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the HEAD that the A1 VT(A1) VERB ...   'the author that the guards like laughs'"""
    return _orc(s, numbers, verb_type, with_that=True)


def orc_nothat(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the HEAD the A1 VT(A1) VERB ...   'the author the guards like laughs'"""
    return _orc(s, numbers, verb_type, with_that=False)


def _within_orc(s: Sampler, numbers: tuple[str, ...], verb_type: str, with_that: bool) -> Parts:
    # The target is the relative clause's own verb; its subject (the head) follows the main subject,
    # which is the attractor: numbers = (head, main subject).
    out: list[str] = []
    avoid: list[Noun] = []
    main = s.subject(avoid)
    a = noun_phrase(s, main, numbers[1], out)
    if with_that:
        out.append(s.comp)
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    v = s.verb_taking(main)  # the main subject is the relative clause verb's object
    good, bad = v.form(numbers[0]), v.form(PL if numbers[0] == SG else SG)
    vi = len(out)
    out.append(good)
    # The main clause goes on with an intransitive verb agreeing with the main subject.
    out.append(s.choice(s.intransitive).form(numbers[1]))
    return Parts(tuple(out), vi, good, bad, h, (a,))


def within_orc(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the A1 that the HEAD VT(HEAD) ...   'the author that the guards like/*likes ...'"""
    return _within_orc(s, numbers, verb_type, with_that=True)


def within_orc_nothat(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the A1 the HEAD VT(HEAD) ...   'the author the guards like/*likes ...'"""
    return _within_orc(s, numbers, verb_type, with_that=False)


def sent_comp(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the A1 CVERB the HEAD VERB ...   'the mechanic said the author laughs'

    The matrix subject precedes the head; the past-tense matrix verb carries no number.
    """
    out: list[str] = []
    avoid: list[Noun] = []
    a = noun_phrase(s, s.subject(avoid), numbers[1], out)
    out.append(s.choice(s.lex.cverbs))
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid)
    return Parts(tuple(out), vi, good, bad, h, (a,))


def vp_coord(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the HEAD V1(head) and VERB ...   'the author laughs and smiles'"""
    out: list[str] = []
    avoid: list[Noun] = []
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    out.append(s.choice(s.intransitive).form(numbers[0]))
    out.append("and")
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid, after_and=True)
    return Parts(tuple(out), vi, good, bad, h, ())


def vp_coord_long(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the HEAD VT(head) the ADJ A1 and VERB ...   'the author likes the old guards and laughs'

    The first verb's object is an attractor: it is the nearest noun to the target verb.
    """
    out: list[str] = []
    avoid: list[Noun] = []
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    v1, form = _transitive_form(s, numbers[0])
    out.append(form)
    obj = s.object_of(v1, avoid)
    out.append(s.det)
    out.append(s.adjective(obj))
    a = len(out)
    out.append(obj.form(numbers[1]))
    out.append("and")
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid, after_and=True)
    return Parts(tuple(out), vi, good, bad, h, (a,))


def control(s: Sampler, numbers: tuple[str, ...], verb_type: str, variant: int) -> Parts:
    """the HEAD ADV1 ... ADVd VERB ...   'the author really often laughs'  (d = ``variant``)

    Distance-only control: the head-verb distance of pp/src/orc with no noun in between, so that
    an error here is due to distance, not attraction.
    """
    out: list[str] = []
    avoid: list[Noun] = []
    head = s.subject(avoid)
    h = noun_phrase(s, head, numbers[0], out)
    out.extend(s.rng.sample(s.advs, variant) if variant <= len(s.advs) else
               [s.choice(s.advs) for _ in range(variant)])
    vi, good, bad = verb_phrase(s, verb_type, head, numbers[0], out, avoid)
    return Parts(tuple(out), vi, good, bad, h, ())


Builder = Callable[[Sampler, tuple, str, int], Parts]


@dataclass(frozen=True)
class Configuration:
    """What a construction looks like in a training corpus (``probe.data.evidence`` counts it there).

    ``dependency``: the grammar's kind of agreement dependency (subject | src | orc); ``span``: a regular
    expression the category tags strictly between controller and verb must match whole (one letter per
    token, see ``probe.data.evidence``); ``before``: one the tags just before the controller must end
    with (from the sentence start when it begins with '^', as the items do), whose nouns are then the
    attractors ('' = the attractors are the nouns in the span);
    ``variant_by``: how the item variant shows in the span: 'nouns' (their count: pp's attractors),
    'length' (its length: control's distance) or '' (one variant, 0).
    """

    dependency: str
    span: str
    before: str = ""
    variant_by: str = ""

    def variant(self, span: str) -> int:
        """The variant a matching span belongs to (the cell dimension of ``Construction.variants``)."""
        if self.variant_by == "nouns":
            return span.count("N")
        return len(span) if self.variant_by == "length" else 0


@dataclass(frozen=True)
class Construction:
    """A construction's builder and the cells it covers.

    ``attractors``: number of attractor slots, or None for pp (1..max_attractors);
    ``verb_types``: target verb types it can take; ``variants``: extra cell dimension (control distances);
    ``distance_variants``: the variants are head-verb distances, matched to those of the attractor
    constructions a build contains (control: the distance baseline of pp/src/orc); ``configuration``: its
    shape in a training corpus (None: not counted).
    """

    name: str
    build: Builder
    attractors: int | None
    verb_types: tuple[str, ...] = VERB_TYPES
    variants: tuple[int, ...] = (0,)
    distance_variants: bool = False
    configuration: Configuration | None = None


# The distances (tokens between head and verb) of pp with 1-4 attractors (3, 6, 9, 12), of src and
# orc (4) and of orc without 'that' (3): the control reproduces each of them without nouns.
CONTROL_DISTANCES = (3, 4, 6, 9, 12)

CONSTRUCTIONS: Registry[Construction] = Registry(
    "construction", how="probe.data.constructions.register_construction adds one")


def register_construction(construction: Construction) -> Construction:
    """Add a construction (``probe build --constructions NAME`` then builds it); returns it.

    ``construction.build(sampler, numbers, verb_type, variant) -> Parts``: ``numbers`` holds the head's
    number then one per attractor slot (``attractors`` of them); write the slot diagram in its docstring.
    """
    if not construction.name.isidentifier():
        raise ProbeError(f"construction name {construction.name!r} must be an identifier (it starts every item id)")
    return CONSTRUCTIONS.register(construction.name, construction)


for _construction in (
    Construction("simple", simple, 0, configuration=Configuration("subject", "")),
    Construction("pp", pp, None, configuration=Configuration("subject", "(?:PDJ?N){1,4}", variant_by="nouns")),
    Construction("src", src, 1, configuration=Configuration("subject", "CTDJ?N")),
    Construction("orc", orc, 1, configuration=Configuration("subject", "CDJ?NT")),
    Construction("orc_nothat", orc_nothat, 1, configuration=Configuration("subject", "DJ?NT")),
    Construction("within_orc", within_orc, 1, verb_types=("transitive",),
                 configuration=Configuration("orc", "", before="^DJ?NCDJ?")),
    Construction("within_orc_nothat", within_orc_nothat, 1, verb_types=("transitive",),
                 configuration=Configuration("orc", "", before="^DJ?NDJ?")),
    Construction("sent_comp", sent_comp, 1, configuration=Configuration("subject", "", before="^DJ?NXD")),
    Construction("vp_coord", vp_coord, 0, configuration=Configuration("subject", "IA")),
    Construction("vp_coord_long", vp_coord_long, 1, configuration=Configuration("subject", "TDJ?NA")),
    Construction("control", control, 0, variants=CONTROL_DISTANCES, distance_variants=True,
                 configuration=Configuration("subject", "R{1,12}", variant_by="length")),
):
    register_construction(_construction)
