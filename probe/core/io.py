"""Atomic output: files through a temporary file and a rename, folders through a temporary sibling."""
from __future__ import annotations

import codecs
import contextlib
import dataclasses
import gzip
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from probe.core.config import config_to_dict
from probe.core.errors import ProbeError, os_error_message


def save_config(cfg: Any, folder: str | os.PathLike, name: str = "config.json", extra: dict | None = None) -> Path:
    """Write the resolved config (plus optional ``extra`` facts such as versions) as JSON, atomically."""
    data = config_to_dict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    if extra:
        data = {**data, **extra}
    path = Path(folder) / name
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so readers never see half a file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ProbeError(os_error_message(exc, path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Text version of :func:`write_bytes_atomic` (UTF-8)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def check_output_dir(out: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing non-empty folder unless ``overwrite``, and a folder that cannot be made; return the
    path. Stages call it before their work, so a path that cannot be written fails at once."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ProbeError(f"output path {out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ProbeError(f"output folder {out} exists and is not empty; pass --overwrite or choose another --out")
    check_writable(out)
    return out


def check_writable(folder: str | os.PathLike) -> None:
    """ProbeError unless ``folder`` could be created (or written into): its nearest existing ancestor must be a
    folder this process may write to. (The write itself can still fail, e.g. for root on a read-only mount;
    its OSError is reported in one line by the CLI.)"""
    folder = Path(folder).absolute()
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise ProbeError(f"cannot create {folder}: {existing} is a file, not a folder; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ProbeError(f"cannot create {folder}: {existing} is not writable; choose a folder you may write to "
                         "or change its permissions")


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out``, on error it is removed.

    This is how every stage avoids leaving half-written output: nothing appears at ``out`` until the
    whole stage has finished.
    """
    out = check_output_dir(out, overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise ProbeError(os_error_message(exc, out)) from exc
    os.chmod(tmp, 0o755)  # mkdtemp creates 0700
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


# ---------------------------------------------------------------------------------------------------
# Reading text: a byte that is not UTF-8 is named by file, line and byte offset


def _not_utf8(path: str | os.PathLike, line: int, offset: int, bad: bytes) -> ProbeError:
    name = Path(path).name
    return ProbeError(f"{path} line {line} (byte {offset}): {bad!r} is not UTF-8 text; re-encode the file as UTF-8, "
                      f"e.g. iconv -f latin1 -t utf-8 {name} > utf8-{name}" + (" (gunzip it first)" if
                                                                                 name.endswith(".gz") else ""))


@contextlib.contextmanager
def _open_bytes(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A text file's bytes (decompressed for .gz), with one-line errors for a file that cannot be read."""
    try:
        fh = gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")
    except OSError as exc:
        raise ProbeError(f"cannot read {path}: {exc.strerror or exc}; check the path") from exc
    try:
        with fh:
            yield fh
    except (EOFError, gzip.BadGzipFile) as exc:
        raise ProbeError(f"{path}: cannot decompress the file ({exc}); give a complete .gz file or plain text") from exc


def check_utf8(path: str | os.PathLike) -> None:
    """ProbeError naming the line and byte offset of the first bytes of the text (or .gz) file ``path`` that
    are not UTF-8, and how to re-encode it; reads the file in 1 MiB blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with _open_bytes(path) as fh:
        while True:
            block = fh.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                # exc.object is the bytes the decoder held back from the last block, then this block
                held = len(exc.object) - len(block)
                raise _not_utf8(path, line + exc.object[:exc.start].count(b"\n"), offset - held + exc.start,
                                exc.object[exc.start:exc.end]) from None
            if not block:
                return
            offset += len(block)
            line += block.count(b"\n")


def read_text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) of a UTF-8 text or .gz file; bytes that are not UTF-8
    are a ProbeError naming the file, the line and the byte offset."""
    offset = 0
    with _open_bytes(path) as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(path, n, offset + exc.start, raw[exc.start:exc.end]) from None
            offset += len(raw)
            yield n, text.rstrip("\n").rstrip("\r")
