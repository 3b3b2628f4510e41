"""Natural-text extraction: subject-verb agreement items from parsed real sentences (after Linzen et al. 2016).

A spaCy pipeline with a tagger and a dependency parser parses the text; every subject-verb dependency
with a present-tense agreeing verb becomes an item with ``construction = 'natural'``, unless a filter
drops it. The filters (counted per reason, and listed in the dataset card):

1. ``too_long``: the sentence has more than ``max_words`` words (punctuation not counted; 50, as in
   Linzen et al. 2016).
2. ``subject_not_common_noun``: the ``nsubj``/``nsubjpass`` dependent is not tagged NN or NNS (Linzen
   et al. use common-noun subjects only; pronouns, proper names, numbers are dropped).
3. ``verb_not_present``: the agreeing word is not present tense (VBZ/VBP). The agreeing word is the
   subject's governor, or, when the governor has ``aux``/``auxpass``/``cop`` dependents, the leftmost
   of them (the finite one: *has* in "has been seen", *is* in a UD-style "is happy"). Modals (MD) and
   past tenses therefore drop out. (Linzen et al. dropped every verb with an auxiliary; probe scores
   the auxiliary instead.)
4. ``subject_after_verb``: the subject follows the agreeing word (questions, inversions).
5. ``number_mismatch``: NN with VBP or NNS with VBZ in the parse: a parse or tagging error, dropped as
   in Linzen et al.
6. ``coordinated_subject``: the subject has a ``conj`` dependent ("the claws and the abdomen contain"):
   the verb agrees with the coordination, not with the head noun.
7. ``no_other_form``: the verb's other-number form cannot be made: the lexicon's verb pairs, an
   irregular table (is/are, has/have, does/do, goes/go), else a regular -s rule checked by a round
   trip back to the verb and, when the parser lemmatizes, against the lemma.
8. ``out_of_vocab``: with a vocabulary or frequency list given (``vocab``), the head noun and both verb
   forms must be in it (Linzen et al. required frequent words).
9. ``unknown_word``: the head, the agreeing word or a token between them is ``<unk>`` (WikiText's
   out-of-vocabulary mark): the tagger can only guess its part of speech and number, so the attractor
   count and the head's number would be guesses too.
10. ``confound``: a present-tense verb between head and verb also agrees with the head (a relative
   clause on the head whose subject is a relative pronoun: "the boy who *likes* the dogs runs"); its
   form would give the head's number away, so the item would not test the dependency.

Nouns between head and verb are NN/NNS/NNP/NNPS tokens (NN, NNP singular; NNS, NNPS plural) that contain
a letter (WikiText's ``@,@`` is not a noun) and are not ``compound`` modifiers (in "the city council"
only *council* counts: the modifier is part of its noun's phrase; Linzen et al. counted every NN/NNS
token). The attractors are those of the other number than the head (Linzen et al.'s definition), so
``n_attractors`` counts them and ``condition`` is the head's letter followed by one letter per attractor. Items keep the
original sentence in ``source_id`` (as in the input, after the WikiText joins below), tokens are lower-cased
spaCy tokens, sentence-final ``. ! ?`` dropped. One item per (sentence, verb position); repeated sentences
are kept once. With ``bucket`` set, ``construction`` names Linzen et al.'s bucket instead (see :func:`bucket_name`).

WikiText input: ``= Heading =`` lines are skipped (they are titles, not sentences), and the number and
hyphen joins ``@-@``, ``@,@``, ``@.@`` are rejoined before parsing ('red @-@ tipped' -> 'red-tipped',
'1 @,@ 000' -> '1,000'): kept as tokens, en_core_web_sm tags them as nouns and attaches subjects to them.
spaCy then splits the rejoined hyphens again as its own tokens ('red - tipped'). Next to ``<unk>`` the join
becomes a spaced ``-``/``,``/``.`` ('N @-@ <unk>' -> 'N - <unk>'), so that ``<unk>`` stays one token.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from probe.core.errors import MissingParser, ProbeError
from probe.core.config import config_to_dict
from probe.core.io import check_output_dir, read_text_lines
from probe.data.lexicon import PL, SG, load_lexicon
from probe.data.records import condition_code, item_id, item_row

PARSER_HINT = "python -m spacy download en_core_web_sm"
_HEAD_TAGS = {"NN": SG, "NNS": PL}
_NOUN_TAGS = {"NN": SG, "NNP": SG, "NNS": PL, "NNPS": PL}
_VERB_TAGS = {"VBZ": SG, "VBP": PL}
_SUBJ_DEPS = ("nsubj", "nsubjpass")
_AUX_DEPS = ("aux", "auxpass", "cop")
_REL_PRONOUNS = {"who", "that", "which", "whom"}
_FINAL_PUNCT = {".", "!", "?"}
_IRREGULAR = {"is": ("are", SG), "are": ("is", PL), "has": ("have", SG), "have": ("has", PL),
              "does": ("do", SG), "do": ("does", PL), "goes": ("go", SG), "go": ("goes", PL)}
_WIKITEXT_HEADING = re.compile(r"^\s*=.*=\s*$")
_WIKITEXT_JOIN = re.compile(r"\s*@([-,.])@\s*")
# next to <unk> a join stays spaced: 'N-<unk>' would break the <unk> special case into 'n-<unk' and '>'
_WIKITEXT_JOIN_UNK = re.compile(r"(?<=<unk>) @([-,.])@ | @([-,.])@ (?=<unk>)")
UNK = "<unk>"
FILTERS = ("too_long", "subject_not_common_noun", "verb_not_present", "subject_after_verb", "number_mismatch",
           "coordinated_subject", "no_other_form", "out_of_vocab", "unknown_word", "confound", "duplicate")


@dataclass(frozen=True)
class ExtractConfig:
    """Options of ``probe extract``."""

    texts: tuple[str, ...] = ()        # local text files (.txt or .gz): one paragraph or sentence per line
    hf: str | None = None              # or a `datasets` dataset: a hub name or a save_to_disk folder
    hf_config: str | None = None       # the dataset's configuration name (e.g. wikitext-2-raw-v1)
    hf_split: str = "train"            # which split to read
    hf_column: str = "text"            # the column holding the text
    model: str = "en_core_web_sm"      # spaCy pipeline (name or path) with a tagger and a parser
    max_words: int = 50                # drop longer sentences (Linzen et al. 2016)
    vocab: str | None = None           # optional vocab.json / word list: head and both verb forms must be in it
    lexicon: str | None = None         # lexicon TSV for verb pairs; None -> the shipped one
    max_texts: int | None = None       # read at most this many non-empty lines / records (None: all)
    max_items: int | None = None       # stop once this many items are kept (None: all)
    bucket: bool = False               # construction = Linzen et al.'s attractor bucket (bucket_name), not 'natural'
    batch_size: int = 256              # texts per nlp.pipe batch
    n_process: int = 1                 # nlp.pipe worker processes


# --------------------------------------------------------------------------- verb forms

def _sg_to_pl(w: str) -> str:
    """3rd-singular -> plural by the regular rules ('' if ``w`` does not look like an -s form)."""
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "shes", "ches", "xes", "zzes", "oes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return ""


def _pl_to_sg(w: str) -> str:
    """Plural -> 3rd-singular by the regular rules."""
    if w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou":
        return w[:-1] + "ies"
    if w.endswith(("s", "sh", "ch", "x", "z", "o")):
        return w + "es"
    return w + "s"


def other_verb_form(form: str, tag: str, *, pairs: dict | None = None, numbers: dict | None = None,
                    vocab: set | None = None, lemma: str = "") -> str:
    """The other-number present form of ``form`` (tag VBZ or VBP), or '' when it cannot be made safely.

    Order: the lexicon's ``verb_pair`` (``pairs``; the form's number from the lexicon's ``verb_number``,
    ``numbers``, when given, else guessed from spelling), the irregular table, then the regular rules. For a VBZ
    verb the rule result must round-trip to ``form`` and equal its ``lemma`` when one is given (spaCy's
    lemmatizer: 'focuses' -> 'focus', not 'focuse'); a VBP verb must not look like an -s form and must be
    its own lemma. With ``vocab``, the result must be in it.
    """
    w = form.lower()
    if tag not in _VERB_TAGS or not w.isalpha():
        return ""
    if pairs and w in pairs:
        other = pairs[w]
        # The pair must read in the tag's direction ('are' tagged VBZ is a tagging error).
        number = (numbers[w] if numbers and w in numbers else _IRREGULAR[w][1] if w in _IRREGULAR
                  else SG if _pl_to_sg(other) == w else PL if _pl_to_sg(w) == other else _VERB_TAGS[tag])
        if number != _VERB_TAGS[tag]:
            return ""
    elif w in _IRREGULAR:
        other, number = _IRREGULAR[w]
        if number != _VERB_TAGS[tag]:
            return ""
    elif tag == "VBZ":
        other = _sg_to_pl(w)
        lemma = lemma.lower()
        if lemma and lemma.isalpha() and lemma != w and _pl_to_sg(lemma) == w:
            other = lemma
        if not other or _pl_to_sg(other) != w or (lemma and lemma.isalpha() and lemma != other):
            return ""
    else:
        # A plural form is the base form: it must not look like an -s form, and must be its own lemma.
        if _sg_to_pl(w) or (lemma and lemma.isalpha() and lemma.lower() != w):
            return ""
        other = _pl_to_sg(w)
    if vocab is not None and other not in vocab:
        return ""
    return other


def load_vocab(path: str | os.PathLike) -> set[str]:
    """A word set from a probe ``vocab.json`` ({"itos": [...]}) or a text file (first column of each line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbeError(f"cannot read vocabulary {p}: {exc}; give a vocab.json or a word list") from exc
    if p.suffix == ".json":
        try:
            return set(json.loads(text)["itos"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProbeError(f"{p} is not a probe vocab.json ({{\"itos\": [...]}})") from exc
    return {line.split()[0].lower() for line in text.splitlines() if line.strip()}


# --------------------------------------------------------------------------- one sentence

def finite_word(gov) -> object:
    """The word of predicate ``gov`` that agrees with its subject: ``gov`` itself, or its leftmost
    aux/auxpass/cop dependent (*has* in "has been seen", *is* in a UD-style "is happy")."""
    auxes = [c for c in gov.children if c.dep_ in _AUX_DEPS]
    return min([gov, *auxes], key=lambda t: t.i)


def _confounded(subj, verb) -> bool:
    """True if a present-tense verb between ``subj`` and ``verb`` agrees with ``subj`` through a relative
    clause on it whose subject is a relative pronoun."""
    for t in subj.doc[subj.i + 1:verb.i]:
        if t.tag_ not in _VERB_TAGS:
            continue
        clause = t.head if t.dep_ in _AUX_DEPS else t
        if clause.dep_ in ("relcl", "acl") and clause.head.i == subj.i and any(
                c.dep_ in _SUBJ_DEPS and (c.tag_ in ("WDT", "WP") or c.lower_ in _REL_PRONOUNS)
                for c in clause.children):
            return True
    return False


def is_noun(t) -> bool:
    """A noun that can attract: NN/NNS/NNP/NNPS, with a letter, not a compound modifier of another noun."""
    return t.tag_ in _NOUN_TAGS and t.dep_ != "compound" and any(c.isalpha() for c in t.text)


def bucket_name(n_attractors: int, clean: bool) -> str:
    """Linzen et al. (2016)'s bucket of an item: ``natural_0`` .. ``natural_3``, ``natural_4plus`` for a clean
    item (every noun between head and verb is an attractor), ``natural_mixed`` when a noun of the head's number
    also stands between them (Linzen et al. left those out of their per-attractor curves)."""
    if not clean:
        return "natural_mixed"
    return f"natural_{n_attractors}" if n_attractors < 4 else "natural_4plus"


def _verb_type(verb, gov) -> str:
    if verb.lower_ in ("is", "are"):
        return "copula" if verb.i == gov.i or verb.dep_ == "cop" else "other"
    if verb.i != gov.i:
        return "other"
    return "transitive" if any(c.dep_ in ("dobj", "obj") for c in gov.children) else "intransitive"


def sentence_items(sent, *, verb_pairs: dict | None = None, verb_numbers: dict | None = None,
                   vocab: set | None = None, max_words: int = 50, reasons: Counter | None = None,
                   bucket: bool = False) -> list[dict]:
    """Items (ITEM_FEATURES rows) from one parsed sentence (a spaCy ``Span`` or ``Doc``).

    Applies the filters of the module docstring; each dropped candidate adds one to ``reasons[name]``.
    Needs tags (``tag_``) and a dependency parse (``head``/``dep_``); lemmas are used when present.
    ``bucket``: ``construction`` is :func:`bucket_name`'s bucket instead of 'natural' (the id keeps 'natural').
    """
    reasons = reasons if reasons is not None else Counter()
    cands = [t for t in sent if t.dep_ in _SUBJ_DEPS]
    if not cands:
        return []
    if sum(1 for t in sent if not (t.is_punct or t.is_space)) > max_words:
        reasons["too_long"] += len(cands)
        return []
    start = sent.start if hasattr(sent, "start") else 0
    tokens = [t.lower_ for t in sent]
    end = len(tokens)
    while end and tokens[end - 1] in _FINAL_PUNCT:
        end -= 1
    rows = []
    for subj in cands:
        head_number = _HEAD_TAGS.get(subj.tag_)
        if head_number is None:
            reasons["subject_not_common_noun"] += 1
            continue
        verb = finite_word(subj.head)
        verb_number = _VERB_TAGS.get(verb.tag_)
        if verb_number is None or verb.i == subj.i:
            reasons["verb_not_present"] += 1
            continue
        if verb.i < subj.i:
            reasons["subject_after_verb"] += 1
            continue
        if verb_number != head_number:
            reasons["number_mismatch"] += 1
            continue
        if any(c.dep_ == "conj" for c in subj.children):
            reasons["coordinated_subject"] += 1
            continue
        good = verb.lower_
        bad = other_verb_form(good, verb.tag_, pairs=verb_pairs, numbers=verb_numbers, lemma=verb.lemma_)
        if not bad:
            reasons["no_other_form"] += 1
            continue
        if vocab is not None and not {subj.lower_, good, bad} <= vocab:
            reasons["out_of_vocab"] += 1
            continue
        h, v = subj.i - start, verb.i - start
        if UNK in tokens[h:v + 1]:
            reasons["unknown_word"] += 1
            continue
        if _confounded(subj, verb):
            reasons["confound"] += 1
            continue
        nouns = [(t.i - start, _NOUN_TAGS[t.tag_]) for t in sent[:v] if is_noun(t)]
        attractors = [(i, n) for i, n in nouns if h < i and n != head_number]
        clean = all(n != head_number for i, n in nouns if h < i)
        near_i, near_n = nouns[-1] if nouns else (-1, "")
        att_numbers = [n for _, n in attractors]
        code = condition_code(head_number, att_numbers)
        sentence_good = " ".join(tokens[:end])
        vtype = _verb_type(verb, subj.head)
        rows.append(item_row(
            id=item_id("natural", code, vtype, f"{sentence_good}\t{v}"),
            construction=bucket_name(len(attractors), clean) if bucket else "natural", condition=code,
            n_attractors=len(attractors), head=tokens[h], head_number=head_number, head_index=h,
            attractors=[tokens[i] for i, _ in attractors], attractor_numbers=att_numbers,
            attractor_indices=[i for i, _ in attractors], nearest_noun=tokens[near_i] if near_i >= 0 else "",
            nearest_number=near_n, prefix=" ".join(tokens[:v]), verb_good=good, verb_bad=bad, verb_index=v,
            verb_type=vtype, sentence_good=sentence_good,
            sentence_bad=" ".join(tokens[:v] + [bad] + tokens[v + 1:end]), distance=v - h - 1, source="natural",
            source_id=sent.text.strip()))
    return rows


# --------------------------------------------------------------------------- reading and parsing

def load_parser(model: str):
    """Load a spaCy pipeline that has a tagger and a parser (NER off), with WikiText's ``<unk>``,
    ``@-@``, ``@,@``, ``@.@`` kept as single tokens (for texts that do not come through :func:`iter_texts`,
    which rejoins the latter). A missing pipeline (or spaCy itself) is a :class:`MissingParser` naming the fix."""
    try:
        import spacy
    except ImportError as exc:
        raise MissingParser(f"spaCy is not installed ({exc}); install it and a pipeline: `pip install spacy` "
                            f"then `{PARSER_HINT}`") from exc
    try:
        nlp = spacy.load(model, exclude=["ner"])
    except OSError as exc:
        raise MissingParser(f"spaCy pipeline {model!r} is not installed or not found; install one with a parser "
                         f"and a tagger, e.g. `{PARSER_HINT}`, or pass --model NAME_OR_PATH") from exc
    has_tags = any(name in nlp.pipe_names for name in ("tagger", "morphologizer"))
    if "parser" not in nlp.pipe_names or not has_tags:
        raise ProbeError(f"spaCy pipeline {model!r} has no {'parser' if 'parser' not in nlp.pipe_names else 'tagger'} "
                         f"(components: {', '.join(nlp.pipe_names) or 'none'}); install one with `{PARSER_HINT}`")
    for special in ("<unk>", "@-@", "@,@", "@.@"):
        nlp.tokenizer.add_special_case(special, [{"ORTH": special}])
    return nlp


def iter_texts(cfg: ExtractConfig) -> Iterator[tuple[str, str]]:
    """(text, origin) pairs: non-empty lines of the files (WikiText ``= heading =`` lines skipped), or the
    records of a ``datasets`` split; whitespace collapsed, WikiText's ``@-@ @,@ @.@`` joins rejoined; at most
    ``cfg.max_texts`` of them."""
    count = 0
    for text, origin in (file_texts(cfg.texts) if cfg.texts else _hf_texts(cfg)):
        text = clean_text(text)
        if not text:
            continue
        yield text, origin
        count += 1
        if cfg.max_texts is not None and count >= cfg.max_texts:
            return


def clean_text(text: str) -> str:
    """One input line as the parser gets it: whitespace collapsed, WikiText's ``@-@ @,@ @.@`` joins rejoined
    (spaced next to ``<unk>``); '' for a blank line or a WikiText ``= heading =`` line."""
    text = " ".join(text.split())
    if not text or _WIKITEXT_HEADING.match(text):
        return ""
    return _WIKITEXT_JOIN.sub(r"\1", _WIKITEXT_JOIN_UNK.sub(r" \1\2 ", text))


def file_texts(paths: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(line, 'name:n') of each file; a line that is not UTF-8 is a ProbeError naming the file and line."""
    for path in map(Path, paths):
        if not path.is_file():
            raise ProbeError(f"text file {path} does not exist; give one or more text files with --text")
        for n, line in read_text_lines(path):
            yield line, f"{path.name}:{n}"


def _hf_texts(cfg: ExtractConfig) -> Iterator[tuple[str, str]]:
    import datasets

    try:
        if Path(cfg.hf).is_dir():
            ds = datasets.load_from_disk(cfg.hf)
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[cfg.hf_split]
        else:
            ds = datasets.load_dataset(cfg.hf, cfg.hf_config, split=cfg.hf_split)
    except (OSError, ValueError, KeyError, ConnectionError, datasets.exceptions.DatasetNotFoundError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ProbeError(f"cannot load dataset {cfg.hf!r} (split {cfg.hf_split!r}): {first}") from exc
    if cfg.hf_column not in ds.column_names:
        raise ProbeError(f"dataset {cfg.hf!r} has no column {cfg.hf_column!r}; columns: {', '.join(ds.column_names)}; "
                         "pass --hf-column")
    for n, text in enumerate(ds[cfg.hf_column]):
        yield text or "", f"{cfg.hf}:{cfg.hf_split}:{n}"


def extract_items(cfg: ExtractConfig, nlp=None, *, lexicon=None,
                  counts: Counter | None = None) -> tuple[list[dict], Counter]:
    """Parse the configured texts and return (items, dropped candidates per filter reason).

    ``nlp``: an already loaded pipeline (default: :func:`load_parser` of ``cfg.model``). Texts go through
    ``nlp.pipe`` in batches of ``cfg.batch_size`` on ``cfg.n_process`` processes, with a progress bar.
    ``lexicon``: a loaded :class:`~probe.data.lexicon.Lexicon` (default: ``cfg.lexicon``'s). ``counts``, when
    given, gets the numbers of ``texts`` and ``sentences`` parsed. Parsing stops once ``cfg.max_items`` items
    are kept.
    """
    from tqdm import tqdm

    if cfg.max_words < 1:
        raise ProbeError(f"max_words must be at least 1, got {cfg.max_words}")
    if cfg.max_items is not None and cfg.max_items < 1:
        raise ProbeError(f"max_items must be at least 1 (or None: no cap), got {cfg.max_items}")
    if not cfg.texts and not cfg.hf:
        raise ProbeError("no input: give text files with --text FILE... or a dataset with --hf NAME")
    nlp = nlp or load_parser(cfg.model)
    lex = lexicon or load_lexicon(cfg.lexicon)
    counts = counts if counts is not None else Counter()
    vocab = load_vocab(cfg.vocab) if cfg.vocab else None
    reasons: Counter = Counter()
    rows: list[dict] = []
    seen: set[tuple[str, int]] = set()
    docs = nlp.pipe(iter_texts(cfg), as_tuples=True, batch_size=cfg.batch_size, n_process=cfg.n_process)
    for doc, _origin in tqdm(docs, total=cfg.max_texts, unit="text", desc="parsing", mininterval=2.0,
                            disable=None):
        counts["texts"] += 1
        for sent in doc.sents:
            counts["sentences"] += 1
            for row in sentence_items(sent, verb_pairs=lex.verb_pair, verb_numbers=lex.verb_number, vocab=vocab,
                                      max_words=cfg.max_words, reasons=reasons, bucket=cfg.bucket):
                key = (row["sentence_good"], row["verb_index"])
                if key in seen:
                    reasons["duplicate"] += 1
                    continue
                seen.add(key)
                rows.append(row)
        if cfg.max_items is not None and len(rows) >= cfg.max_items:
            # whole texts are parsed, so trim to the cap; breaking out also stops nlp.pipe's workers
            del rows[cfg.max_items:]
            break
    return rows, reasons


def extract_dataset(cfg: ExtractConfig, out: str | os.PathLike, *, overwrite: bool = False, nlp=None) -> str:
    """Run ``probe extract``: parse, extract, and write an item folder like ``probe build``'s; return a summary.

    ``nlp``: an already loaded pipeline (default: ``cfg.model`` through :func:`load_parser`).
    """
    from probe.data.items import write_item_folder

    check_output_dir(out, overwrite)
    t0 = time.perf_counter()
    rows, reasons = extract_items(cfg, nlp=nlp)
    if not rows:
        raise ProbeError(f"no agreement items found ({sum(reasons.values())} candidates dropped: "
                         f"{dict(reasons) or 'none'}); give more text")
    by_attr = Counter(r["n_attractors"] for r in rows)
    source = ", ".join(cfg.texts) if cfg.texts else f"{cfg.hf} ({cfg.hf_split})"
    filters = "; ".join(f"{k} {reasons.get(k, 0)}" for k in FILTERS)
    intro = (f"Subject-verb agreement items extracted by `probe extract` from {source}, parsed with the spaCy "
             f"pipeline `{cfg.model}`. Filters (after Linzen et al. 2016; see probe/extract.py): sentences of "
             f"at most {cfg.max_words} words; common-noun (NN/NNS) subjects; present-tense agreeing word "
             "(the verb, or its finite aux/cop); subject before verb; tag numbers of subject and verb agree; "
             "no coordinated subject; "
             "the verb's other-number form obtainable; no <unk> from head to verb; "
             f"{'head and both verb forms in the vocabulary ' + str(cfg.vocab) + '; ' if cfg.vocab else ''}"
             "no intervening verb agreeing with the same subject. Attractors = nouns (NN/NNS/NNP/NNPS, not "
             "compound modifiers) between head and verb with the other number. source_id holds the original "
             "sentence.\n\n"
             f"Candidates dropped per filter: {filters}.\n\n"
             "Items per number of attractors: "
             + ", ".join(f"{k}: {by_attr[k]}" for k in sorted(by_attr)) + ".")
    resolved = {**config_to_dict(cfg), "n_items": len(rows), "dropped": dict(reasons),
                "by_n_attractors": {str(k): v for k, v in sorted(by_attr.items())}}
    write_item_folder(rows, out, config=resolved, card_title="probe natural-text agreement items",
                      card_intro=intro, overwrite=overwrite)
    secs = time.perf_counter() - t0
    return (f"extracted {len(rows)} items into {out} ({secs:.1f} s); by attractors: "
            + ", ".join(f"{k}: {by_attr[k]}" for k in sorted(by_attr)))
