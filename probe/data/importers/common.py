"""What every importer shares: tokenizing raw sentences, reading files line by line with errors that name the
line, number look-ups, building item rows."""
from __future__ import annotations

import contextlib
import gc
import gzip
import io
import json
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from probe.core.errors import ProbeError
from probe.core.io import read_text_lines
from probe.data.lexicon import PL, SG
from probe.data.records import condition_code


_NT = re.compile(r"(\w)(n't)\b")


_CLITIC = re.compile(r"(\w)('(?:s|re|ve|ll|d|m))\b")


_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|[^\W_]+(?:[-.'][^\W_]+)*|\S")


_FINAL_PUNCT = {".", "!", "?"}


def tokenize(text: str, *, drop_final: bool = True) -> list[str]:
    """Lower-case PTB-style tokens of a raw sentence (see the module docstring); final ``. ! ?`` dropped."""
    tokens = _TOKEN.findall(_CLITIC.sub(r"\1 \2", _NT.sub(r"\1 \2", text.lower())))
    return drop_final_punctuation(tokens) if drop_final else tokens


def drop_final_punctuation(tokens: list[str]) -> list[str]:
    """``tokens`` without their sentence-final punctuation (. ! ?)."""
    while tokens and tokens[-1] in _FINAL_PUNCT:
        tokens = tokens[:-1]
    return tokens


# Closed-class words whose number is fixed (after tokenize, "hasn't" is "has n't").
CLOSED_NUMBER = {
    "is": SG, "was": SG, "has": SG, "does": SG, "are": PL, "were": PL, "have": PL, "do": PL,
    "this": SG, "that": SG, "these": PL, "those": PL,
    "himself": SG, "herself": SG, "itself": SG, "themselves": PL,
}


COPULAS = {"is", "are", "was", "were"}


def is_s_form(a: str, b: str) -> bool | None:
    """True if ``a`` is the -s form of ``b`` (walks/walk, tries/try, watches/watch), False if the reverse."""
    def plus_s(w: str) -> set[str]:
        out = {w + "s", w + "es"}
        if w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou":
            out.add(w[:-1] + "ies")
        return out

    if a in plus_s(b):
        return True
    if b in plus_s(a):
        return False
    return None


def other_number(number: str) -> str:
    """'pl' for 'sg', 'sg' otherwise."""
    return PL if number == SG else SG


def condition_or_blank(head_number: str, attractor_numbers: Sequence[str]) -> str:
    """The S/P condition code of a head and its attractors, or '' when the head's number is unknown."""
    return condition_code(head_number, attractor_numbers) if head_number else ""


def single_diff(good: Sequence[str], bad: Sequence[str]) -> int:
    """The index of the only differing token of two equally long token lists, else -1."""
    if len(good) != len(bad):
        return -1
    diff = [i for i, (g, b) in enumerate(zip(good, bad)) if g != b]
    return diff[0] if len(diff) == 1 else -1


def input_files(paths: Iterable[str | os.PathLike], patterns: tuple[str, ...], what: str) -> list[Path]:
    """Expand folders into their files matching ``patterns`` (sorted); check every path exists."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted({f for pat in patterns for f in p.glob(pat) if f.is_file()})
            if not found:
                raise ProbeError(f"folder {p} holds no {what} files ({', '.join(patterns)})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ProbeError(f"{p} does not exist; give a {what} file or a folder of them")
    if not out:
        raise ProbeError(f"no input given; pass one or more {what} files or folders")
    return out


def open_text(path: Path) -> io.TextIOBase:
    """A text or .gz file opened for reading as UTF-8 (a one-line ProbeError if it cannot be)."""
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise ProbeError(f"cannot read {path}: {exc.strerror}") from exc


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without newline) of a text or .gz file, with one-line read errors (bytes that
    are not UTF-8: the line and byte offset)."""
    return read_text_lines(path)


def json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(1-based line number, object) of each non-empty line of a JSONL file; one-line errors for bad lines."""
    for n, line in read_lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise ProbeError(f"{path} line {n}: not valid JSON ({str(exc).split(':')[0]})") from None
        if not isinstance(rec, dict):
            raise ProbeError(f"{path} line {n}: expected a JSON object, got {type(rec).__name__}")
        yield n, rec


def checked_field(rec: Mapping, name: str, path: Path, line: int | str, kind: type = str):
    """``rec[name]`` checked for presence, type and (strings) non-emptiness; else a one-line ProbeError."""
    if name not in rec:
        raise ProbeError(f"{path} line {line}: field {name!r} is missing")
    value = rec[name]
    if kind is int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProbeError(f"{path} line {line}: field {name!r} must be an integer, got {value!r}")
        return value
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        raise ProbeError(f"{path} line {line}: field {name!r} must be a non-empty {kind.__name__}, got {value!r}")
    return value


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building 10^5 row dicts otherwise triggers repeated full
    scans of the growing row list (measured: the Marvin & Linzen import ran 2-3x slower with it on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

