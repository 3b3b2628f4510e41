"""Load and check the lexicon data file (nouns, verbs, copulas and function words with their features)."""
from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from probe.core.errors import ProbeError

SG, PL = "sg", "pl"
# A word form: lower case, no spaces, quotes, backslashes or control characters (items are written
# as JSON lines without escaping, and as space-separated token strings).
SAFE_FORM = re.compile(r'^[^\sA-Z"\\\x00-\x1f]+$')

# Which features each category may carry; anything else is rejected with the line number.
_FEATURES = {
    "noun": {"animate", "inanimate", "irregular"},
    "verb": {"intransitive", "transitive", "obj=animate", "obj=inanimate", "obj=any", "noun"},
    "copula": {"tense=present", "tense=past", "tense=perfect"},
    "cverb": set(),
    "adj": {"animate", "inanimate", "any"},
    "prep": set(),
    "comp": set(),
    "adv": set(),
    "det": set(),
}
_TWO_FORMS = {"noun", "verb", "copula"}

# A sent_comp item is 'the A1 CVERB the HEAD VERB ...' and its bad sentence swaps VERB for the other
# number. That is only ungrammatical when CVERB takes nothing but a finite clause. Three classes of
# English verbs also take a clause whose verb shows no agreement, so the bad sentence is grammatical:
# perception verbs (bare infinitive: 'the mechanic heard the author laugh'), causatives ('made the
# author laugh') and mandative verbs (present subjunctive: 'the customer suggested the cousin smile').
# Past-tense forms, as cverbs are written (Quirk et al. 1985, 16.52-53 and 14.25; Huddleston &
# Pullum 2002, ch. 14).
BARE_COMPLEMENT_VERBS = {
    "perception": frozenset({"saw", "heard", "watched", "felt", "noticed", "observed", "overheard",
                             "witnessed", "sensed", "spotted", "glimpsed", "perceived"}),
    "causative": frozenset({"made", "let", "had", "helped", "bade", "bid"}),
    "mandative": frozenset({"suggested", "demanded", "insisted", "required", "requested", "recommended",
                            "proposed", "ordered", "urged", "asked", "advised", "commanded", "stipulated",
                            "desired", "decreed", "directed", "mandated", "specified", "preferred"}),
}
# English verbs whose simple past is their base form, i.e. the plural present form: a singular head
# with such a form ('the teacher read') is grammatical past tense, not an agreement error. This is the
# closed class of invariant irregular verbs (Quirk et al. 1985, 3.16-17 class 7) with common prefixed
# forms; it is what the default install checks. With spacy-lookups-data installed,
# ``past_tense_reason`` also consults spaCy's lemma tables (see there).
INVARIANT_PAST_VERBS = frozenset({
    "beat", "bet", "bid", "broadcast", "burst", "bust", "cast", "cost", "cut", "fit", "forecast", "hit",
    "hurt", "knit", "let", "put", "quit", "read", "rid", "set", "shed", "shut", "slit", "spit", "split",
    "spread", "sweat", "thrust", "upset", "wed", "wet",
    "input", "output", "offset", "reset", "preset", "typeset", "outbid", "overbid", "undercut", "recast",
    "miscast", "telecast", "misread", "reread", "proofread", "lipread", "sublet", "mishit", "overspread",
})


def bare_complement_class(form: str) -> str | None:
    """The class ('perception', 'causative', 'mandative') of a verb form that takes a complement clause
    without agreement, or None: such a verb must not be a cverb."""
    return next((cls for cls, forms in BARE_COMPLEMENT_VERBS.items() if form in forms), None)


def verb_tables() -> tuple[dict, dict] | None:
    """spaCy's English ``lemma_lookup`` (form -> lemma) and verb ``lemma_exc`` (irregular form -> lemmas)
    tables from spacy-lookups-data, or None when that package is not installed (spaCy ships no English
    lemma data of its own)."""
    try:
        from spacy.util import load_language_data, registry

        if "en" not in registry.lookups:
            return None
        data = registry.lookups.get("en")
        # The raw files, not spacy.lookups.Table: a Table keys its entries by string hash, so its
        # items() cannot be looked up by word.
        lookup = load_language_data(data["lemma_lookup"])
        verb_exc = load_language_data(data["lemma_exc"]).get("verb", {})
    except (ImportError, ValueError, OSError, KeyError):
        return None
    return lookup, verb_exc


@functools.lru_cache(maxsize=1)
def noun_lemmas() -> frozenset[str] | None:
    """English noun lemmas (WordNet's, in spacy-lookups-data's ``lemma_index``), or None when that package is
    not installed: a verb form whose lemma is among them can also be read as a noun."""
    try:
        from spacy.util import load_language_data, registry

        if "en" not in registry.lookups:
            return None
        return frozenset(load_language_data(registry.lookups.get("en")["lemma_index"])["noun"])
    except (ImportError, ValueError, OSError, KeyError):
        return None


def past_tense_reason(singular: str, plural: str, tables: tuple[dict, dict] | None = None) -> str | None:
    """Why the plural present form ``plural`` (of ``singular``, e.g. reads/read) is also a past tense,
    or None when it is not known to be one.

    Always checked: membership of INVARIANT_PAST_VERBS (the closed class of verbs whose past is the base
    form). With ``tables`` (:func:`verb_tables`, needs spacy-lookups-data) also: ``plural`` is listed as
    an irregular inflected form of a verb (found -> find, fell -> fall, saw -> see); or the tables know
    the verb (``singular`` -> ``plural``) but list no past form of it other than the base form ('read':
    only 'reads' and 'reading'), i.e. its past is the base form.
    """
    if plural in INVARIANT_PAST_VERBS:
        return f"its past tense is also {plural!r}"
    if tables is None:
        return None
    lookup, verb_exc = tables
    lemmas = [lemma for lemma in verb_exc.get(plural, ()) if lemma != plural]
    if lemmas:
        return f"{plural!r} is also a past form of {lemmas[0]!r}"
    if plural in verb_exc.get(plural, ()):
        return f"its past tense is also {plural!r}"
    if lookup.get(singular) != plural:
        return None  # the tables do not know the verb: no evidence either way
    forms = {f for f, lemma in lookup.items() if lemma == plural} | \
        {f for f, lemmas in verb_exc.items() if plural in lemmas}
    if not forms - {singular, plural} - {f for f in forms if f.endswith("ing")}:
        return f"its past tense is also {plural!r} (spaCy's tables list no other past form)"
    return None


@dataclass(frozen=True, eq=False)  # identity equality: entries are unique, and == is on the hot path
class Noun:
    """A noun with its two number forms; ``animate`` steers semantic (non-nonce) sampling."""

    sg: str
    pl: str
    animate: bool
    irregular: bool = False

    def form(self, number: str) -> str:
        """The surface form for ``number`` ('sg' or 'pl')."""
        return self.sg if number == SG else self.pl


@dataclass(frozen=True, eq=False)
class Verb:
    """A present-tense verb: ``sg`` is 3rd-singular ('laughs'), ``pl`` the plural ('laugh')."""

    sg: str
    pl: str
    transitive: bool
    obj: str = "any"  # animacy of a plausible object: animate | inanimate | any
    kind: str = "lexical"  # lexical | copula
    tense: str = "present"  # copulas: present | past | perfect
    noun: bool = False     # a form is also a noun ("jumps", "work"): after "and" it can coordinate nouns

    def form(self, number: str) -> str:
        """The surface form agreeing with a subject of ``number``."""
        return self.sg if number == SG else self.pl


@dataclass(frozen=True)
class Adjective:
    """An adjective and the animacy of the nouns it sensibly describes (animate | inanimate | any)."""

    form: str
    applies_to: str


@dataclass(frozen=True)
class Lexicon:
    """Everything the constructions and the grammar draw words from, plus number look-ups."""

    path: str
    nouns: tuple[Noun, ...]
    verbs: tuple[Verb, ...]
    copulas: tuple[Verb, ...]
    cverbs: tuple[str, ...]
    adjectives: tuple[Adjective, ...]
    preps: tuple[str, ...]
    comps: tuple[str, ...]
    advs: tuple[str, ...]
    dets: tuple[str, ...]
    noun_number: dict = field(default_factory=dict, compare=False, repr=False)  # form -> 'sg'|'pl'
    verb_number: dict = field(default_factory=dict, compare=False, repr=False)  # form -> 'sg'|'pl'
    verb_pair: dict = field(default_factory=dict, compare=False, repr=False)  # form -> other-number form

    @property
    def animate_nouns(self) -> tuple[Noun, ...]:
        return tuple(n for n in self.nouns if n.animate)

    @property
    def inanimate_nouns(self) -> tuple[Noun, ...]:
        return tuple(n for n in self.nouns if not n.animate)

    @property
    def intransitive_verbs(self) -> tuple[Verb, ...]:
        return tuple(v for v in self.verbs if not v.transitive)

    @property
    def transitive_verbs(self) -> tuple[Verb, ...]:
        return tuple(v for v in self.verbs if v.transitive)

    def adjectives_for(self, animate: bool | None) -> tuple[str, ...]:
        """Adjectives that fit a noun of this animacy (None: all adjectives, for nonce items)."""
        if animate is None:
            return tuple(a.form for a in self.adjectives)
        want = "animate" if animate else "inanimate"
        return tuple(a.form for a in self.adjectives if a.applies_to in (want, "any"))


def default_lexicon_path() -> Path:
    """The lexicon shipped with probe (``probe/resources/lexicon.tsv``)."""
    return Path(str(resources.files("probe") / "resources" / "lexicon.tsv"))


def lexicon_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a lexicon file, recorded in build configs so a dataset names the exact word list."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_lexicon(path: str | os.PathLike | None = None) -> Lexicon:
    """Parse and check a lexicon TSV file (default: the shipped one).

    Raises ProbeError naming the file and line for: a wrong column count, an unknown category or
    feature, a missing plural, a duplicate entry, a word form used both as noun and verb, and two
    entries whose bad sentences would be grammatical: a cverb of a class that takes a non-agreeing
    complement (``BARE_COMPLEMENT_VERBS``), and a verb whose plural is also a past tense
    (``INVARIANT_PAST_VERBS``; ``probe validate`` adds spaCy's lemma tables where installed).
    """
    p = Path(path) if path is not None else default_lexicon_path()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbeError(f"cannot read lexicon {p}: {exc.strerror if isinstance(exc, OSError) else exc}; "
                         "give the path of a lexicon TSV file (see probe/resources/lexicon.tsv)") from exc
    nouns, verbs, copulas, adjs = [], [], [], []
    singles: dict[str, list[str]] = {k: [] for k in ("cverb", "prep", "comp", "adv", "det")}
    seen: dict[tuple[str, str], int] = {}
    form_class: dict[str, tuple[str, int]] = {}

    def fail(lineno: int, msg: str) -> None:
        raise ProbeError(f"lexicon {p} line {lineno}: {msg}")

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cols = raw.rstrip("\n").split("\t")
        if len(cols) != 4:
            fail(lineno, f"expected 4 tab-separated columns (category, form1, form2, features), got {len(cols)}")
        cat, f1, f2, feats_s = (c.strip() for c in cols)
        if cat not in _FEATURES:
            fail(lineno, f"unknown category {cat!r}; use one of {', '.join(sorted(_FEATURES))}")
        if not f1 or f1 == "-" or not SAFE_FORM.match(f1) or f1 != f1.lower():
            fail(lineno, f"form {f1!r} must be one lower-case word without quotes or backslashes")
        if cat in _TWO_FORMS:
            if not f2 or f2 == "-":
                fail(lineno, f"{cat} {f1!r} has no plural form in column 3")
            if not SAFE_FORM.match(f2) or f2 != f2.lower():
                fail(lineno, f"form {f2!r} must be one lower-case word without quotes or backslashes")
            if f1 == f2:
                fail(lineno, f"{cat} {f1!r} has identical singular and plural forms; agreement cannot be tested on it")
        elif f2 not in ("", "-"):
            fail(lineno, f"{cat} takes one form; put '-' in column 3 instead of {f2!r}")
        feats = set() if feats_s in ("", "-") else {f.strip() for f in feats_s.split(",")}
        bad = sorted(feats - _FEATURES[cat])
        if bad:
            allowed = ", ".join(sorted(_FEATURES[cat])) or "none"
            fail(lineno, f"unknown feature {bad[0]!r} for {cat}; allowed: {allowed}")
        key = (cat, f1)
        if key in seen:
            fail(lineno, f"duplicate {cat} entry {f1!r} (first on line {seen[key]})")
        seen[key] = lineno
        wclass = "noun" if cat == "noun" else "verb" if cat in ("verb", "copula") else cat
        for form in ((f1, f2) if cat in _TWO_FORMS else (f1,)):
            prev = form_class.get(form)
            if prev and prev[0] != wclass and {prev[0], wclass} & {"noun", "verb"}:
                fail(lineno, f"form {form!r} is both a {prev[0]} (line {prev[1]}) and a {wclass}; "
                             "ambiguous forms break number look-up, drop one")
            form_class.setdefault(form, (wclass, lineno))
        if cat == "noun":
            anim = feats & {"animate", "inanimate"}
            if len(anim) != 1:
                fail(lineno, f"noun {f1!r} needs exactly one of the features animate, inanimate")
            nouns.append(Noun(f1, f2, animate="animate" in anim, irregular="irregular" in feats))
        elif cat == "verb":
            trans = feats & {"intransitive", "transitive"}
            if len(trans) != 1:
                fail(lineno, f"verb {f1!r} needs exactly one of the features intransitive, transitive")
            objs = [f.split("=", 1)[1] for f in feats if f.startswith("obj=")]
            if "transitive" in trans and len(objs) != 1:
                fail(lineno, f"transitive verb {f1!r} needs one obj=animate|inanimate|any feature")
            if "intransitive" in trans and objs:
                fail(lineno, f"intransitive verb {f1!r} cannot take an obj= feature")
            past = past_tense_reason(f1, f2)
            if past:
                fail(lineno, f"verb {f1!r}/{f2!r}: the plural {f2!r} is also a past tense ({past}), so a singular "
                             f"head with it ('the teacher {f2}') is grammatical and the bad sentence would be too; "
                             "drop the line or use a verb whose past tense differs from its plural")
            verbs.append(Verb(f1, f2, transitive="transitive" in trans, obj=objs[0] if objs else "any",
                              noun="noun" in feats))
        elif cat == "copula":
            tenses = [f.split("=", 1)[1] for f in feats if f.startswith("tense=")]
            if len(tenses) != 1:
                fail(lineno, f"copula {f1!r} needs one tense=present|past|perfect feature")
            copulas.append(Verb(f1, f2, transitive=False, kind="copula", tense=tenses[0]))
        elif cat == "adj":
            if len(feats) != 1:
                fail(lineno, f"adjective {f1!r} needs exactly one of animate, inanimate, any")
            adjs.append(Adjective(f1, next(iter(feats))))
        else:
            cls = bare_complement_class(f1) if cat == "cverb" else None
            if cls:
                fail(lineno, f"cverb {f1!r} is a {cls} verb: it also takes a complement whose verb does not agree "
                             f"('the mechanic {f1} the author laugh' is grammatical), so a sent_comp bad sentence "
                             "would be grammatical; drop the line or use a verb taking only a finite clause ('said')")
            singles[cat].append(f1)

    lex = Lexicon(
        path=str(p), nouns=tuple(nouns), verbs=tuple(verbs), copulas=tuple(copulas),
        cverbs=tuple(singles["cverb"]), adjectives=tuple(adjs), preps=tuple(singles["prep"]),
        comps=tuple(singles["comp"]), advs=tuple(singles["adv"]), dets=tuple(singles["det"]),
    )
    _require(lex, p)
    for n in lex.nouns:
        lex.noun_number[n.sg], lex.noun_number[n.pl] = SG, PL
    for v in lex.verbs + lex.copulas:
        lex.verb_number[v.sg], lex.verb_number[v.pl] = SG, PL
        lex.verb_pair[v.sg], lex.verb_pair[v.pl] = v.pl, v.sg
    return lex


def _require(lex: Lexicon, p: Path) -> None:
    """Check the lexicon has at least one word of every kind the constructions need."""
    needs = {
        "animate noun": lex.animate_nouns, "inanimate noun": lex.inanimate_nouns,
        "intransitive verb": lex.intransitive_verbs, "transitive verb": lex.transitive_verbs,
        "copula": lex.copulas, "cverb": lex.cverbs, "adj (animate or any)": lex.adjectives_for(True),
        "prep": lex.preps, "comp": lex.comps, "adv": lex.advs, "det": lex.dets,
    }
    for what, words in needs.items():
        if not words:
            raise ProbeError(f"lexicon {p}: no {what} entries; every construction needs at least one")
