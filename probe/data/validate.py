"""Re-check an item dataset independently of the generator (``probe validate``)."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from probe.core.errors import ProbeError
from probe.data.lexicon import (PL, SG, bare_complement_class, load_lexicon, noun_lemmas, past_tense_reason,
                                verb_tables)
from probe.data.records import condition_code
from probe.data.items import load_items

# Constructions whose attractor precedes the head by design (the main subject of a sentence whose
# verb is inside an object relative clause, the matrix subject of a sentential complement).
ATTRACTOR_BEFORE_HEAD = {"within_orc", "within_orc_nothat", "sent_comp"}
MAX_EXAMPLES = 5
# Copula forms: was/were are both past tenses by design, and is/are, has/have share no lemma in spaCy's table.
_COPULA_FORMS = {"is", "are", "was", "were", "has", "have"}


@dataclass
class ValidationReport:
    """What ``probe validate`` found: failures per check, examples, and the optional parse check."""

    path: str
    n_items: int = 0
    failures: Counter = field(default_factory=Counter)          # check name -> failing items
    examples: dict = field(default_factory=dict)                # check name -> [(id, detail)]
    notes: list = field(default_factory=list)                   # facts about optional checks
    parse_checked: int = 0
    parse_subject: int = 0                                      # parses making the head the verb's subject

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, check: str, iid: str, detail: str) -> None:
        self.failures[check] += 1
        ex = self.examples.setdefault(check, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append((iid, detail))

    def render(self) -> str:
        """The report printed by ``probe validate``."""
        lines = [f"validated {self.n_items} items in {self.path}"]
        if self.ok:
            lines.append("all items valid")
        for check, n in sorted(self.failures.items()):
            lines.append(f"INVALID {check}: {n} items")
            lines += [f"    {iid}: {detail}" for iid, detail in self.examples.get(check, [])]
        if self.parse_checked:
            share = self.parse_subject / self.parse_checked
            lines.append(f"parse check: the head is the parsed subject of the verb in {self.parse_subject}/"
                         f"{self.parse_checked} parsed items ({share:.1%})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _load_parser(parser: str):
    """A spaCy pipeline with a dependency parser, or None (with the reason) when there is none."""
    if parser == "none":
        return None, "parse check skipped (--parser none)"
    import spacy

    names = ["en_core_web_sm"] if parser == "auto" else [parser]
    for name in names:
        try:
            nlp = spacy.load(name, exclude=["ner", "lemmatizer"])
        except OSError:
            continue
        if "parser" in nlp.pipe_names:
            return nlp, None
        return None, f"pipeline {name} has no parser; parse check skipped"
    if parser != "auto":
        raise ProbeError(f"cannot load spaCy pipeline {parser!r}; install it or pass --parser none")
    return None, ("no spaCy parser installed, parse check skipped "
                  "(install one with: python -m spacy download en_core_web_sm)")


def _head_is_subject(doc, head_i: int, verb_i: int) -> bool:
    """True if the parse makes token ``head_i`` the subject of the verb at ``verb_i``.

    spaCy's English parser attaches subjects to the main predicate: with a copula or auxiliary
    ('is happy', 'has been happy') the agreeing verb is a child (aux/cop) of that predicate.
    """
    if len(doc) <= max(head_i, verb_i):
        return False
    head, verb = doc[head_i], doc[verb_i]
    if not head.dep_.startswith("nsubj"):
        return False
    pred = head.head
    return pred.i == verb_i or (verb.head.i == pred.i and verb.dep_ in ("aux", "auxpass", "cop"))


def validate_dataset(path: str | os.PathLike, *, lexicon: str | None = None, parser: str = "auto",
                     parse_sample: int = 500) -> ValidationReport:
    """Check every item of the dataset at ``path``; returns a report (``report.ok`` is False on any invalid item).

    Checks: exactly one token differs between the sentences, right after the prefix; the good verb agrees
    with the head and the bad verb does not (lexicon; spaCy's lemma table where installed); the bad
    sentence is not grammatical for another reason: a singular head's bad verb is not also a past tense
    ('the teacher read'; the closed class of invariant pasts, plus spaCy's lemma tables where
    spacy-lookups-data is installed) and a sent_comp item's embedding verb does not take a non-agreeing
    complement ('heard the author laugh', 'suggested the cousin smile'); the head and
    attractors are nouns of the stated numbers; attractors lie before the verb (and after the head,
    except where the construction puts them first); condition, distance and nearest-noun fields are
    consistent; ids and pairs are unique. With a parser: how often the head parses as the verb's subject.
    """
    ds = load_items(path)
    lex = load_lexicon(lexicon)
    rep = ValidationReport(path=str(path), n_items=len(ds))
    cols = ds.to_dict()  # plain lists: indexing a datasets column per element is slow
    n = len(ds)
    get = lambda c, default: cols.get(c, [default] * n)  # noqa: E731 - optional columns of imported data
    ids, prefixes = cols["id"], cols["prefix"]
    goods, bads = cols["sentence_good"], cols["sentence_bad"]
    vgood, vbad = cols["verb_good"], cols["verb_bad"]
    heads, hnum, hidx = get("head", ""), get("head_number", ""), get("head_index", -1)
    attrs, anum, aidx = get("attractors", []), get("attractor_numbers", []), get("attractor_indices", [])
    conds, cons, dists = cols["condition"], cols["construction"], get("distance", -1)
    nearest_num = get("nearest_number", "")
    nn, vn = lex.noun_number, lex.verb_number
    tables = verb_tables()
    lemmas = tables[0] if tables is not None else None
    past_reasons: dict = {}  # (good, bad) -> reason or None; one table scan per distinct verb pair
    # verb forms with a noun reading: the lexicon's 'noun' verbs, and WordNet's noun lemmas where installed
    noun_forms = {f for v in lex.verbs if v.noun for f in (v.sg, v.pl)}
    nouns = noun_lemmas()
    if lemmas is None:
        rep.notes.append("spaCy lemma tables not installed (pip install spacy-lookups-data); "
                         "verb forms checked against the lexicon only")
    for dup, k in Counter(ids).items():
        if k > 1:
            rep.fail("unique id", dup, f"id used {k} times")
    seen_pairs: set = set()
    for i in range(n):
        iid = ids[i]
        g, b = goods[i].split(" "), bads[i].split(" ")
        p = prefixes[i].split(" ") if prefixes[i] else []
        vi = len(p)
        pair = (goods[i], bads[i])
        if pair in seen_pairs:
            rep.fail("unique pair", iid, goods[i])
        seen_pairs.add(pair)
        diff = [j for j in range(min(len(g), len(b))) if g[j] != b[j]]
        if len(g) != len(b) or len(diff) != 1:
            rep.fail("one differing token", iid, f"{goods[i]!r} vs {bads[i]!r}")
            continue
        if diff[0] != vi or g[:vi] != p:
            rep.fail("difference right after prefix", iid, f"differs at token {diff[0]}, prefix has {vi}")
            continue
        if g[vi] != vgood[i] or b[vi] != vbad[i]:
            rep.fail("verbs match sentences", iid, f"{vgood[i]}/{vbad[i]} vs {g[vi]}/{b[vi]}")
        head_n = nn.get(heads[i])
        if head_n is None or head_n != hnum[i]:
            rep.fail("head is a noun of its stated number", iid, f"{heads[i]!r} ({hnum[i]})")
        elif hidx[i] >= 0 and (hidx[i] >= vi or g[hidx[i]] != heads[i]):
            rep.fail("head position", iid, f"head_index {hidx[i]} in {goods[i]!r}")
        if vn.get(vgood[i]) != hnum[i] or vn.get(vbad[i]) not in (SG, PL) or vn.get(vbad[i]) == hnum[i] \
                or lex.verb_pair.get(vgood[i]) != vbad[i]:
            rep.fail("good verb agrees with the head", iid, f"head {heads[i]} ({hnum[i]}), verbs {vgood[i]}/{vbad[i]}")
        elif lemmas is not None and lemmas.get(vgood[i], vgood[i]) != lemmas.get(vbad[i], vbad[i]) \
                and vgood[i] not in _COPULA_FORMS:
            rep.fail("verbs share a lemma (spaCy)", iid, f"{vgood[i]}/{vbad[i]}")
        if hnum[i] == SG and vgood[i] not in _COPULA_FORMS:
            key = (vgood[i], vbad[i])
            if key not in past_reasons:
                past_reasons[key] = past_tense_reason(vgood[i], vbad[i], tables)
            if past_reasons[key]:
                rep.fail("bad verb is not also a past tense", iid, f"'{heads[i]} {vbad[i]}': {past_reasons[key]}")
        if vi and p[-1] == "and" and vbad[i] not in _COPULA_FORMS and (vbad[i] in noun_forms or (
                nouns is not None and ((lemmas or {}).get(vbad[i], vbad[i]) in nouns or vbad[i] in nouns))):
            rep.fail("a verb after 'and' has no noun reading", iid,
                     f"'{' '.join(b[max(0, vi - 3):vi + 1])}': {vbad[i]!r} can be a noun, so the bad sentence can "
                     "coordinate nouns")
        if cons[i] == "sent_comp" and hidx[i] >= 2 and bare_complement_class(g[hidx[i] - 2]):
            cverb = g[hidx[i] - 2]
            rep.fail("embedding verb takes only an agreeing clause", iid,
                     f"{cverb!r} is a {bare_complement_class(cverb)} verb: '{' '.join(b[hidx[i] - 2:vi + 1])}' "
                     "is grammatical")
        if condition_code(hnum[i], anum[i]) != conds[i]:
            rep.fail("condition code", iid, f"{conds[i]} vs head {hnum[i]}, attractors {anum[i]}")
        if dists[i] >= 0 and hidx[i] >= 0 and dists[i] != vi - hidx[i] - 1:
            rep.fail("distance", iid, f"distance {dists[i]}, head at {hidx[i]}, verb at {vi}")
        idxs = aidx[i]
        for a, num, j in zip(attrs[i], anum[i], idxs):
            if nn.get(a) != num or not 0 <= j < vi or g[j] != a:
                rep.fail("attractors are nouns before the verb", iid, f"{a!r} ({num}) at {j}")
                break
            if cons[i] not in ATTRACTOR_BEFORE_HEAD and j <= hidx[i]:
                rep.fail("attractors lie between head and verb", iid, f"{a!r} at {j}, head at {hidx[i]}")
                break
        noun_pos = [(j, num) for j, num in zip(idxs, anum[i]) if j < vi] + [(hidx[i], hnum[i])]
        if nearest_num[i] and hidx[i] >= 0 and max(noun_pos)[1] != nearest_num[i]:
            rep.fail("nearest noun number", iid, f"stated {nearest_num[i]}")
    _tokenizer_check(rep, ids, goods, bads)
    if parser != "none" and n:
        _parse_check(rep, parser, goods, hidx, prefixes, parse_sample)
    return rep


def _tokenizer_check(rep: ValidationReport, ids: list, goods: list, bads: list) -> None:
    """spaCy's English tokenizer must split both sentences into the item's own tokens.

    Otherwise a model fed through spaCy (``probe corpus``) would see other words than the item
    fields say, e.g. a clitic or hyphen split inside a word.
    """
    import spacy

    tok = spacy.blank("en").tokenizer
    # The tokenizer splits on spaces first and treats each piece on its own (English has no special case
    # spanning a space), so each distinct word is tokenized once; only sentences holding a word that
    # splits (or an empty piece: doubled or edge spaces) are tokenized whole, for the exact report.
    vocab = {w for sents in (goods, bads) for s in sents for w in s.split(" ")}
    splits = {w for w in vocab if [t.text for t in tok(w)] != [w]}
    for iid, g, b in zip(ids, goods, bads):
        for sent in (g, b):
            pieces = sent.split(" ")
            if not any(w in splits for w in pieces):
                continue
            words = [t.text for t in tok(sent)]
            if words != pieces:
                rep.fail("spaCy tokenizer agrees with the item tokens", iid, f"{sent!r} -> {words}")
                break


def _parse_check(rep: ValidationReport, parser: str, goods: list, hidx: list, prefixes: list, sample: int) -> None:
    nlp, why = _load_parser(parser)
    if nlp is None:
        rep.notes.append(why)
        return
    import random

    from spacy.tokens import Doc

    idx = [i for i in range(len(goods)) if hidx[i] >= 0]
    if sample and sample < len(idx):
        idx = sorted(random.Random(0).sample(idx, sample))
    # Parse the items' own tokens (no re-tokenisation), so token positions line up with the fields.
    docs = (Doc(nlp.vocab, words=goods[i].split(" ")) for i in idx)
    for i, doc in zip(idx, nlp.pipe(docs, batch_size=256)):
        rep.parse_checked += 1
        rep.parse_subject += _head_is_subject(doc, hidx[i], len(prefixes[i].split(" ")))
    rep.notes.append(f"parse check used {nlp.meta.get('lang')}_{nlp.meta.get('name')} {nlp.meta.get('version')} "
                     f"on {rep.parse_checked} items (a share, not a pass/fail test: parsers err too)")
