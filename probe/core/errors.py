"""The one exception user input raises (the CLI prints it on one line and exits with code 2), and the one line
for a failed file operation."""
from __future__ import annotations

import errno
import os


class ProbeError(Exception):
    """A problem with the user's input: the CLI prints it on one line and exits with code 2.

    The message should name the problem and the fix, e.g.
    ``"unknown construction 'foo': choose from simple, pp, ..."``.
    """


class MissingParser(ProbeError):
    """No spaCy pipeline with a tagger and a parser is installed, so natural text cannot be parsed.

    ``probe run`` skips an ``extra_data`` set that needs one (one "skipped: ..." line) instead of failing.
    """


# What to do about a failed file operation, by errno (the rest: check the path and its permissions).
_OS_FIXES = {
    errno.EACCES: "choose a folder you may write to (another --out or --results-dir) or change its permissions",
    errno.EPERM: "choose a folder you may write to (another --out or --results-dir) or change its permissions",
    errno.EROFS: "the file system is read-only; choose a folder on a writable disk",
    errno.ENOSPC: "the disk is full; free some space or write to another disk",
    errno.EDQUOT: "the disk quota is used up; free some space or write to another disk",
    errno.ENOTDIR: "a part of that path is a file, not a folder; choose another path",
    errno.EISDIR: "it is a folder; give a file's path",
    errno.EEXIST: "something is in the way there; remove it or choose another path",
    errno.ENOENT: "check that the path exists",
}


def os_error_message(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """One line for a failed file operation: the path (``path``, else the one the error names), what the
    system said, and what to do about it."""
    where = path if path is not None else (exc.filename if exc.filename is not None else "a file")
    reason = exc.strerror or str(exc) or type(exc).__name__
    fix = _OS_FIXES.get(exc.errno, "check the path and its permissions")
    return f"cannot use {where}: {reason}; {fix}"
