"""Training corpora: build them (synthetic grammar or real text), vocabulary, token-id files, loading back."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Iterable, Iterator, Sequence

import numpy as np

from probe.core.config import CheckedConfig, NonNegativeInt, OneOf, PositiveInt, Range
from probe.core.errors import ProbeError
from probe.core.hub import hub_access
from probe.core.io import atomic_dir, check_output_dir, check_utf8, save_config, write_text_atomic
from probe.data.evidence import count_configurations, evidence_table
from probe.data.grammar import (Grammar, GrammarProbs, check_grammar_options, entropy_floor, measure_dependencies,
                                resolve_match_rate)

UNK, EOS = "<unk>", "<eos>"
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Vocab:
    """Token <-> id mapping. Id 0 is ``<unk>``, id 1 is ``<eos>`` (appended after every sentence)."""

    itos: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.itos[:2] != (UNK, EOS):
            raise ValueError(f"a vocabulary must start with {UNK!r}, {EOS!r}")
        object.__setattr__(self, "stoi", {w: i for i, w in enumerate(self.itos)})
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate tokens in vocabulary")

    @property
    def unk_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def is_known(self, word: str) -> bool:
        """Whether ``word`` is in the vocabulary as itself: a literal ``<unk>`` in a text (WikiText,
        Gulordava's files) is a word the source already lost, so it is not (the one out-of-vocabulary rule of
        scoring, the number classifier, gradients and the coverage regimes)."""
        return word in self.stoi and word != self.itos[0]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Map tokens to ids; unknown tokens become ``<unk>`` (id 0)."""
        get = self.stoi.get
        return [get(t, 0) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def save(self, path: str | os.PathLike) -> None:
        """Write ``vocab.json``: {"itos": [...]} with index = id."""
        write_text_atomic(path, json.dumps({"itos": list(self.itos)}, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(tuple(data["itos"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProbeError(f"cannot read vocabulary {path}: {exc}; rebuild the corpus with `probe corpus`") from exc


@dataclass(frozen=True)
class Corpus:
    """A corpus folder loaded back: vocabulary, 1-D token-id arrays per split (memory-mapped), stats."""

    path: Path
    vocab: Vocab
    splits: dict  # split name -> np.ndarray of shape (n_tokens,), integer ids, <eos> after each sentence
    stats: dict


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id (uint16 up to 65,536 types, else uint32)."""
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def write_ids(path: str | os.PathLike, ids: np.ndarray) -> None:
    """Write a 1-D id array as ``.npy`` (self-describing dtype, memory-mappable), atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(ids))
    os.replace(tmp, path)


def load_corpus(path: str | os.PathLike) -> Corpus:
    """Load a folder written by ``probe corpus``: ``vocab.json``, ``{train,valid,test}.npy``, ``stats.json``.

    The id arrays are memory-mapped, so loading is instant whatever the corpus size.
    """
    p = Path(path)
    if not p.is_dir():
        raise ProbeError(f"corpus folder {p} does not exist; build one with `probe corpus --out {p}`")
    if not (p / "vocab.json").is_file() or not (p / "train.npy").is_file():
        raise ProbeError(f"{p} is not a probe corpus (no vocab.json / train.npy); build one with `probe corpus`")
    vocab = Vocab.load(p / "vocab.json")
    splits = {}
    for name in SPLITS:
        f = p / f"{name}.npy"
        if f.is_file():
            try:
                splits[name] = np.load(f, mmap_mode="r")
            except ValueError as exc:
                raise ProbeError(f"corpus file {f} is corrupted ({exc}); rebuild the corpus") from exc
            if splits[name].size and int(splits[name].max()) >= len(vocab):
                raise ProbeError(f"corpus file {f} has ids beyond the vocabulary ({len(vocab)} types); rebuild the "
                                 "corpus")
    stats_f = p / "stats.json"
    stats = json.loads(stats_f.read_text()) if stats_f.is_file() else {}
    return Corpus(path=p, vocab=vocab, splits=splits, stats=stats)


# --------------------------------------------------------------------------------------------------
# Building corpora (`probe corpus`)

DEFAULT_OUT = "data/corpus/synthetic"
SOURCES = ("synthetic", "text", "hf")
TOKENIZERS = ("spacy", "whitespace")
Share = Annotated[float, Range(0, 1, high_open=True, text="a share in [0, 1), such as 0.05")]
VocabSize = Annotated[int, Range(3, text="3 or more (it counts <unk> and <eos>)")]
# Tokens spaCy must keep whole: the corpus markers, and WikiText's split-number markers.
_SPECIAL_TOKENS = (UNK, EOS, "@-@", "@,@", "@.@")
_CHUNK_LINES = 20_000  # lines per tokenisation chunk: bounds memory, paces the progress bar
_REAL_TEXT_NOTE = ("not measured on real text: finding each verb's subject needs a dependency parser; "
                   "the synthetic corpus reports it exactly")


@dataclass(frozen=True)
class CorpusConfig(CheckedConfig):
    """Options of ``probe corpus``: where the sentences come from, how they are split and encoded."""

    source: Annotated[str, OneOf(SOURCES)] = "synthetic"   # synthetic (the grammar) | text (local files) | hf (hub
                                             #   dataset); probe corpus infers it from the files or --hf-name given
    # --- synthetic corpus (probe.data.grammar); the lead tunes these two from training measurements
    n_sentences: PositiveInt = 100_000       # sentences in all splits together (after benchmark removal)
    attractor_rate: float = 0.05             # share of clause subjects whose modifier holds a noun of the other number
    match_rate: float | None = None          # share with a modifier whose nouns all match; None = min(r, 1 - r)
    modifier_rate: float | None = None       # share of subjects with a modifier (attracted + matched); when set,
                                             #   match rate = modifier rate - attractor rate (a sweep varies one thing)
    max_depth: NonNegativeInt = 3            # deepest nesting of modifiers / complement clauses (0 = none)
    grammar: GrammarProbs = field(default_factory=GrammarProbs)  # the grammar's other probabilities
    lexicon: str | None = None               # lexicon TSV; None = the shipped one
    seed: NonNegativeInt = 0                 # same seed -> byte-identical corpus folder
    # --- splits: shares of the sentences (synthetic) or of the train lines (real text without split files)
    valid_fraction: Share = 0.05             # taken after the train part
    test_fraction: Share = 0.05              # taken last
    # --- real text (the synthetic corpus ignores these: its vocabulary is every word the grammar can emit)
    text_files: tuple[str, ...] = ()         # text files (.txt or .gz, one sentence or paragraph per line) split into
                                             #   train/valid/test by the fractions
    train_files: tuple[str, ...] = ()        # or files per split (PTB, WikiText); a split without files
    valid_files: tuple[str, ...] = ()        #   is carved from the end of train by its fraction
    test_files: tuple[str, ...] = ()         # test files (else carved from train)
    hf_name: str | None = None               # hub dataset 'NAME[:CONFIG]', e.g. wikitext:wikitext-2-raw-v1 (needs the
                                             #   network)
    hf_column: str = "text"                  # the hub dataset's text column
    cache_dir: str | None = None             # Hugging Face datasets cache; None = its default
    max_lines: PositiveInt | None = None     # at most this many non-empty lines per input split, before
                                             #   valid/test are carved from train (None = all)
    tokenizer: Annotated[str, OneOf(TOKENIZERS)] = "spacy"   # spacy: blank English tokenizer, keeping <unk>,
                                             #   <eos> and WikiText's @-@ @,@ @.@ whole | whitespace: for
                                             #   pre-tokenized text (PTB: reproduces the standard 10,000-word
                                             #   vocabulary)
    lowercase: bool = True                   # lower-case every token (the benchmark is lower case)
    max_vocab: VocabSize | None = None       # vocabulary size incl. <unk> and <eos>; None = no limit
    min_count: PositiveInt = 1               # train-split count a word needs to enter the vocabulary
    n_process: PositiveInt = 1               # spaCy tokenizer processes (chunks of 20,000 lines each); for big inputs
    batch_size: PositiveInt = 1000           # lines per spaCy batch
    # --- benchmark exclusion: sentences equal to an item's sentence_good or sentence_bad are dropped
    exclude_benchmark: bool = True           # remove sentences equal to benchmark items (good or bad) and count them
    exclude_items: str | tuple[str, ...] | None = None   # item folder(s) / items.jsonl; None = the default
                                             #   benchmark, built in memory


def check_corpus_config(cfg: CorpusConfig) -> None:
    """Reject impossible combinations of options with one-line errors before anything is read or written (each
    field's own range and choices are checked where the config is made)."""
    if cfg.valid_fraction + cfg.test_fraction >= 1.0:
        raise ProbeError("valid and test fractions add up to 1 or more; leave a share for train")
    has_files = bool(cfg.text_files or cfg.train_files or cfg.valid_files or cfg.test_files)
    if cfg.source == "synthetic":
        if has_files or cfg.hf_name:
            raise ProbeError("text files or a hub dataset were given with source 'synthetic'; set source to text or hf")
        check_grammar_options(attractor_rate=cfg.attractor_rate, match_rate=cfg.match_rate,
                              max_depth=cfg.max_depth, probs=cfg.grammar, modifier_rate=cfg.modifier_rate)
        n_valid, n_test = _split_sizes(cfg.n_sentences, cfg)
        if cfg.n_sentences - n_valid - n_test < 1:
            raise ProbeError(f"{cfg.n_sentences} sentences leave none for train; raise n_sentences")
    elif cfg.source == "text":
        if cfg.hf_name:
            raise ProbeError("give either text files or a hub dataset (hf_name), not both")
        if cfg.text_files and (cfg.train_files or cfg.valid_files or cfg.test_files):
            raise ProbeError("give either text_files (split by the fractions) or train_files/valid_files/test_files, "
                             "not both")
        if not (cfg.text_files or cfg.train_files):
            raise ProbeError("no training text: give text_files or train_files (with valid_files/test_files)")
        for f in cfg.text_files + cfg.train_files + cfg.valid_files + cfg.test_files:
            if not Path(f).is_file():
                raise ProbeError(f"text file {f} does not exist; give the path of a text file (.txt or .gz)")
    else:
        if has_files:
            raise ProbeError("give either a hub dataset (hf_name) or text files, not both")
        if not cfg.hf_name:
            raise ProbeError("source 'hf' needs a dataset name (hf_name NAME[:CONFIG], e.g. "
                             "wikitext:wikitext-2-raw-v1)")


def _split_sizes(n: int, cfg: CorpusConfig) -> tuple[int, int]:
    """(valid, test) sizes carved from ``n`` sentences/lines."""
    return int(round(n * cfg.valid_fraction)), int(round(n * cfg.test_fraction))


def _benchmark_sentences(cfg: CorpusConfig) -> set[str]:
    """sentence_good and sentence_bad of every benchmark item (empty when exclusion is off)."""
    if not cfg.exclude_benchmark:
        return set()
    if cfg.exclude_items:
        from probe.data.items import load_items

        out: set[str] = set()
        for path in (cfg.exclude_items,) if isinstance(cfg.exclude_items, str) else cfg.exclude_items:
            ds = load_items(path)
            out |= set(ds["sentence_good"]) | set(ds["sentence_bad"])
        return out
    from probe.data.build import BuildConfig, build_items

    rows = build_items(BuildConfig())
    return {r["sentence_good"] for r in rows} | {r["sentence_bad"] for r in rows}


class _TypeTable:
    """Word types seen so far across all splits; type 0 is ``<unk>``, type 1 is ``<eos>``."""

    def __init__(self) -> None:
        self.types: list[str] = [UNK, EOS]
        self.index: dict[str, int] = {UNK: 0, EOS: 1}

    def add(self, uniques: Iterable[str], local_codes: np.ndarray) -> np.ndarray:
        """Chunk-local codes (indices into ``uniques``) -> global type codes, int64 of the same shape."""
        index, types = self.index, self.types
        glob = []
        for t in uniques:  # one dict look-up per distinct type of the chunk, not per token
            g = index.get(t)
            if g is None:
                g = index[t] = len(types)
                types.append(t)
            glob.append(g)
        return np.asarray(glob, dtype=np.int64)[local_codes]


def _chunks(lines: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(lines), size):
        yield lines[i:i + size]


def _tokenize_whitespace(lines: Sequence[str], table: _TypeTable, lowercase: bool, bar) -> np.ndarray:
    """Split on whitespace, ``<eos>`` after each line; returns type codes, shape (n_tokens,)."""
    import pandas as pd

    parts = []
    for chunk in _chunks(lines, _CHUNK_LINES):
        text = f" {EOS} ".join(chunk) + f" {EOS}"
        toks = (text.lower() if lowercase else text).split()
        local, uniques = pd.factorize(np.asarray(toks, dtype=object))  # hashing in C, no per-token Python
        parts.append(table.add(uniques, local))
        bar.update(len(chunk))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


@functools.lru_cache(maxsize=1)
def _spacy_tokenizer():
    """spaCy's blank English pipeline (tokenizer only), built once per process."""
    import spacy
    from spacy.attrs import ORTH

    nlp = spacy.blank("en")
    for special in _SPECIAL_TOKENS:  # keep PTB's <unk> whole (spaCy would give '<', 'unk', '>')
        nlp.tokenizer.add_special_case(special, [{ORTH: special}])
    return nlp


def _spacy_chunk(lines: Sequence[str], lowercase: bool, batch_size: int) -> tuple[list[str], np.ndarray]:
    """Tokenise one chunk of lines with spaCy, ``<eos>`` after each: (distinct tokens, codes into them).

    Tokens leave spaCy as 64-bit string hashes (``Doc.to_array``), so only the chunk's distinct
    hashes are turned back into strings; whitespace tokens are dropped. Runs in worker processes too,
    which is why it returns plain lists and arrays rather than Docs.
    """
    from spacy.attrs import IS_SPACE, LOWER, ORTH

    nlp = _spacy_tokenizer()
    attr = LOWER if lowercase else ORTH
    strings = nlp.vocab.strings
    eos = np.array([strings.add(EOS)], dtype=np.uint64)
    pieces = []
    for doc in nlp.pipe(lines, batch_size=batch_size):
        a = doc.to_array([attr, IS_SPACE])
        pieces.append(a[a[:, 1] == 0, 0] if len(a) else np.zeros(0, np.uint64))
        pieces.append(eos)
    uniq, local = np.unique(np.concatenate(pieces), return_inverse=True)
    return [strings[int(h)] for h in uniq.tolist()], local.reshape(-1).astype(np.int32)


def _tokenize_spacy(lines: Sequence[str], table: _TypeTable, lowercase: bool, bar, *,
                    n_process: int, batch_size: int) -> np.ndarray:
    """spaCy's English tokenizer over chunks of lines, in ``n_process`` processes; returns type codes.

    Chunks come back in order and are merged in order, so the result does not depend on
    ``n_process``. (spaCy's own ``nlp.pipe(n_process=...)`` ships whole Docs between processes and
    ran 20x slower than one process on PTB here; workers return token lists instead.)
    """
    chunks = list(_chunks(lines, _CHUNK_LINES))
    work = functools.partial(_spacy_chunk, lowercase=lowercase, batch_size=batch_size)
    parts = []
    if n_process > 1 and len(chunks) > 1:
        import multiprocessing as mp

        _spacy_tokenizer()  # load spaCy here, so forked workers inherit it instead of importing it again
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        from probe.core.workers import end_with_parent

        with ctx.Pool(min(n_process, len(chunks)), initializer=end_with_parent, initargs=(os.getpid(),)) as pool:
            for chunk, (uniques, local) in zip(chunks, pool.imap(work, chunks)):
                parts.append(table.add(uniques, local))
                bar.update(len(chunk))
    else:
        for chunk in chunks:
            parts.append(table.add(*work(chunk)))
            bar.update(len(chunk))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _tokenize(splits: dict[str, list[str]], cfg: CorpusConfig, *, tokenizer: str,
              known: Sequence[str] = ()) -> tuple[_TypeTable, dict]:
    """Tokenise every split into shared type codes: {split: int64 array (n_tokens,)}.

    ``known`` words enter the type table first, so they exist even with a count of 0.
    """
    from tqdm.auto import tqdm

    table = _TypeTable()
    table.add(known, np.zeros(0, np.int64))
    codes = {}
    for name in SPLITS:
        lines = splits[name]
        with tqdm(total=len(lines), desc=f"tokenizing {name}", unit="line", leave=False, disable=None) as bar:
            if tokenizer == "whitespace":
                codes[name] = _tokenize_whitespace(lines, table, cfg.lowercase, bar)
            else:
                codes[name] = _tokenize_spacy(lines, table, cfg.lowercase, bar,
                                              n_process=cfg.n_process, batch_size=cfg.batch_size)
    return table, codes


def build_vocab(types: Sequence[str], counts: np.ndarray, *, max_vocab: int | None = None,
                min_count: int = 1) -> tuple[Vocab, np.ndarray]:
    """Vocabulary from train counts: ``<unk>``, ``<eos>``, then words by count (ties alphabetical).

    ``types[i]`` has count ``counts[i]``; types 0 and 1 must be ``<unk>`` and ``<eos>``. A word enters
    with ``min_count`` or more occurrences, at most ``max_vocab`` entries in all. Returns the vocabulary
    and ``type_to_id`` (int64, shape (len(types),)): the id of every type, 0 for those left out.
    """
    keep = [i for i in np.flatnonzero(counts >= min_count).tolist() if i >= 2]
    keep.sort(key=lambda i: (-int(counts[i]), types[i]))
    if max_vocab is not None:
        keep = keep[:max_vocab - 2]
    type_to_id = np.zeros(len(types), dtype=np.int64)
    type_to_id[1] = 1
    type_to_id[np.asarray(keep, dtype=np.int64)] = np.arange(2, 2 + len(keep))
    return Vocab((UNK, EOS, *(types[i] for i in keep))), type_to_id


def _encode_splits(table: _TypeTable, codes: dict, *, max_vocab: int | None,
                   min_count: int) -> tuple[Vocab, dict, dict]:
    """Vocabulary from train, ids per split, and token/OOV statistics per split."""
    counts = np.bincount(codes["train"], minlength=len(table.types))
    vocab, type_to_id = build_vocab(table.types, counts, max_vocab=max_vocab, min_count=min_count)
    dtype = ids_dtype(len(vocab))
    ids, stats = {}, {"tokens": {}, "words": {}, "oov_rate": {}, "unk_rate": {}}
    for name in SPLITS:
        c = codes[name]
        split_ids = type_to_id[c]
        ids[name] = split_ids.astype(dtype)
        words = c != 1
        n_words = int(words.sum())
        unk = (split_ids == 0) & words
        stats["tokens"][name] = int(len(c))          # with one <eos> per sentence
        stats["words"][name] = n_words               # without <eos>
        # oov: words this vocabulary lacks; unk: every <unk> id, including the text's own '<unk>' tokens
        stats["oov_rate"][name] = float((unk & (c != 0)).sum() / n_words) if n_words else None
        stats["unk_rate"][name] = float(unk.sum() / n_words) if n_words else None
    stats["types"] = len(vocab)
    stats["train_types"] = int((counts[2:] > 0).sum())  # distinct train words before the cut-offs
    return vocab, ids, stats


def _synthetic_splits(cfg: CorpusConfig, exclude: set[str]) -> tuple[dict, dict, CorpusConfig, tuple]:
    """Generate the grammar's sentences; return (lines per split, stats, resolved config, vocabulary)."""
    from tqdm.auto import tqdm

    from probe.data.lexicon import load_lexicon

    lex = load_lexicon(cfg.lexicon)
    grammar = Grammar(lex, attractor_rate=cfg.attractor_rate, match_rate=cfg.match_rate,
                      max_depth=cfg.max_depth, probs=cfg.grammar, modifier_rate=cfg.modifier_rate)
    n = cfg.n_sentences
    kept, removed, drawn, max_draws = [], 0, 0, 20 * n + 10_000
    with tqdm(total=n, desc="generating", unit="sent", leave=False, disable=None) as bar:
        for sent in grammar.stream(cfg.seed):
            drawn += 1
            if exclude and " ".join(sent.tokens) in exclude:
                removed += 1
                if drawn >= max_draws:
                    raise ProbeError("almost every generated sentence is a benchmark item; "
                                     "raise --max-depth or the rates, or turn exclusion off")
                continue
            kept.append(sent)
            if len(kept) % 8192 == 0:
                bar.update(8192)
            if len(kept) == n:
                break
        bar.update(len(kept) % 8192)
    lines = [" ".join(s.tokens) for s in kept]
    n_valid, n_test = _split_sizes(n, cfg)
    n_train = n - n_valid - n_test
    splits = {"train": lines[:n_train], "valid": lines[n_train:n_train + n_valid], "test": lines[n_train + n_valid:]}
    lengths = np.fromiter((len(s.tokens) for s in kept), dtype=np.int64, count=len(kept))
    parts = {"train": kept[:n_train], "valid": kept[n_train:n_train + n_valid], "test": kept[n_train + n_valid:]}
    log_keep = math.log1p(-removed / drawn) if drawn else 0.0
    ambiguous = grammar.ambiguous_forms()
    floor = {name: entropy_floor(part, log_keep=log_keep) for name, part in parts.items() if part}
    counts = count_configurations(parts["train"], lex)
    stats = {
        "attractor_rate_target": cfg.attractor_rate,
        "match_rate": grammar.match_rate,
        "modifier_rate": grammar.attractor_rate + grammar.match_rate,
        "designed_share": grammar.rho,
        # per benchmark construction: its training dependencies, in conflict / matched configuration
        "constructions": [{**row, "patterns": dict(sorted(counts[(row["construction"], row["variant"])].items()))}
                          for row in evidence_table(counts, grammar.rho)],
        "entropy_floor": {**floor, "exact": not ambiguous, "ambiguous_forms": ambiguous,
                          "note": "the grammar's own log-probability of each sentence and its <eos>; exact where every "
                                  "sentence has one derivation, else an upper bound on the floor perplexity"},
        **measure_dependencies(kept, lex),
        "sentence_length_mean": float(lengths.mean()),
        "sentence_length_max": int(lengths.max()),
        "unique_sentences": len(set(lines)),
        "removed_benchmark_sentences": removed,
    }
    return splits, stats, resolved_corpus_config(cfg), grammar.vocabulary


def resolved_corpus_config(cfg: CorpusConfig) -> CorpusConfig:
    """The config ``build_corpus`` records for ``cfg`` (what a restart compares a finished corpus with): for the
    synthetic grammar, the lexicon's path and, without a modifier rate, the match rate it resolves to (with
    a modifier rate the match rate follows from it, and stats.json records it; giving both is an error)."""
    if cfg.source != "synthetic":
        return cfg
    from probe.data.lexicon import load_lexicon

    match = max(0.0, resolve_match_rate(cfg.attractor_rate, cfg.match_rate, cfg.modifier_rate))
    return dataclasses.replace(cfg, lexicon=load_lexicon(cfg.lexicon).path,
                               match_rate=match if cfg.modifier_rate is None else None)


def corpus_fingerprint(folder: str | os.PathLike) -> str | None:
    """A digest of a corpus folder's vocabulary and token ids (None when there is no corpus): equal digests,
    equal training data, whatever the folder's config says."""
    folder = Path(folder)
    files = [folder / "vocab.json", *sorted(folder.glob("*.npy"))]
    if not files[0].is_file():
        return None
    digest = hashlib.blake2b(digest_size=16)
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _clean(lines: Iterable[str | None], cfg: CorpusConfig) -> list[str]:
    """Stripped non-empty lines, at most ``max_lines``."""
    out = [s for s in (line.strip() for line in lines if line) if s]
    return out[:cfg.max_lines] if cfg.max_lines is not None else out


def _load_text_splits(cfg: CorpusConfig) -> dict[str, list[str]]:
    """Lines per split through ``datasets`` (local files via the 'text' builder, or a hub dataset)."""
    import datasets

    online = True
    try:
        if cfg.source == "hf":
            name, _, conf = cfg.hf_name.partition(":")
            # an unreachable hub fails in seconds (a dataset loaded before still comes from the cache)
            with hub_access() as online:
                loaded = datasets.load_dataset(name, conf or None, cache_dir=cfg.cache_dir)
        else:
            files = {"train": list(cfg.text_files or cfg.train_files)}
            files.update({k: list(v) for k, v in (("valid", cfg.valid_files), ("test", cfg.test_files)) if v})
            for f in (f for split in files.values() for f in split):
                check_utf8(f)       # else datasets says only "An error occurred while generating the dataset"
            loaded = datasets.load_dataset("text", data_files=files, cache_dir=cfg.cache_dir)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if cfg.source == "hf" and not online:
            raise ProbeError(f"cannot load {cfg.hf_name!r}: the Hugging Face hub is offline or unreachable and the "
                             "dataset is not in the local cache; download the text and give its files with "
                             "--text FILE or --train/--valid/--test FILE") from exc
        if cfg.source == "hf":
            raise ProbeError(f"cannot load {cfg.hf_name!r} from the Hugging Face hub ({first}); check the name "
                             "and the network, or download the text and use --text/--train") from exc
        raise ProbeError(f"cannot read the text files ({first}); give plain-text or .gz files") from exc
    if not isinstance(loaded, datasets.DatasetDict):
        loaded = datasets.DatasetDict({"train": loaded})
    aliases = {"train": "train", "validation": "valid", "valid": "valid", "dev": "valid", "test": "test"}
    splits: dict[str, list[str]] = {}
    for hf_split, ds in loaded.items():
        name = aliases.get(hf_split)
        if name is None or name in splits:
            continue
        if cfg.hf_column not in ds.column_names:
            raise ProbeError(f"dataset split {hf_split!r} has no column {cfg.hf_column!r}; "
                             f"choose one of {', '.join(ds.column_names)} with --hf-column")
        # through Arrow: a datasets Column iterates row by row, 100x slower on big splits
        splits[name] = _clean(ds.with_format("arrow")[:][cfg.hf_column].to_pylist(), cfg)
    if not splits.get("train"):
        raise ProbeError("the text has no training lines (no 'train' split, or only empty lines); check the input")
    return splits


def _carve(splits: dict[str, list[str]], cfg: CorpusConfig) -> dict[str, list[str]]:
    """Fill splits without their own files from the end of train: valid, then test (contiguous)."""
    train = splits["train"]
    missing_valid, missing_test = "valid" not in splits, "test" not in splits
    n_valid, n_test = _split_sizes(len(train), cfg)
    n_valid, n_test = n_valid * missing_valid, n_test * missing_test
    n_train = len(train) - n_valid - n_test
    if n_train < 1:
        raise ProbeError(f"{len(train)} training lines leave none for train after the valid/test fractions")
    out = {"train": train[:n_train]}
    out["valid"] = train[n_train:n_train + n_valid] if missing_valid else splits["valid"]
    out["test"] = train[n_train + n_valid:] if missing_test else splits["test"]
    return out


def _remove_items(splits: dict[str, list[str]], exclude: set[str], lowercase: bool) -> tuple[dict, int]:
    """Drop lines equal to a benchmark sentence once whitespace is normalised (and case, if lower-casing)."""
    if not exclude:
        return splits, 0
    out, removed = {}, 0
    for name, lines in splits.items():
        keep = [s for s in lines if " ".join((s.lower() if lowercase else s).split()) not in exclude]
        removed += len(lines) - len(keep)
        out[name] = keep
    return out, removed


def build_corpus(cfg: CorpusConfig = CorpusConfig(), out: str | os.PathLike = DEFAULT_OUT,
                 overwrite: bool = False) -> dict:
    """Run ``probe corpus``: build the corpus folder ``out`` and return its statistics (= stats.json).

    Writes ``train/valid/test.npy`` (1-D token ids, ``<eos>`` after each sentence), ``vocab.json``,
    ``config.json`` (the resolved config) and ``stats.json``: sentences, tokens (with ``<eos>``) and
    words per split, vocabulary size, OOV and ``<unk>`` rates per split, benchmark sentences removed,
    and for the synthetic corpus the attractor rates measured on the generated sentences.
    Nothing appears at ``out`` unless the whole build succeeds.
    """
    check_corpus_config(cfg)
    check_output_dir(out, overwrite)
    exclude = _benchmark_sentences(cfg)
    if cfg.source == "synthetic":
        splits, extra, resolved, known = _synthetic_splits(cfg, exclude)
        # the grammar's output is tokenized already; its vocabulary is every form it can emit, even
        # one a small corpus happens to lack, so benchmark words never become <unk>
        tokenizer, max_vocab, min_count = "whitespace", None, 0
    else:
        splits, removed = _remove_items(_load_text_splits(cfg), exclude, cfg.lowercase)
        splits = _carve(splits, cfg)
        extra = {"attractor_rate": None, "attractor_rate_note": _REAL_TEXT_NOTE,
                 "removed_benchmark_sentences": removed}
        resolved, tokenizer, max_vocab, min_count, known = cfg, cfg.tokenizer, cfg.max_vocab, cfg.min_count, ()
    table, codes = _tokenize(splits, cfg, tokenizer=tokenizer, known=known)
    vocab, ids, enc_stats = _encode_splits(table, codes, max_vocab=max_vocab, min_count=min_count)
    stats = {"source": cfg.source, "tokenizer": tokenizer,
             "sentences": {name: len(splits[name]) for name in SPLITS}, **enc_stats, **extra,
             "benchmark_sentences": len(exclude)}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name in SPLITS:
            write_ids(tmp / f"{name}.npy", ids[name])
        vocab.save(tmp / "vocab.json")
        save_config(resolved, tmp)
        write_text_atomic(tmp / "stats.json", json.dumps(stats, indent=2) + "\n")
    return stats
