"""The Hugging Face hub without a network: see in a few seconds whether it answers, else work from the cache.

Without this, ``transformers`` and ``datasets`` retry an unreachable hub for 25-50 s before failing. Here one
TCP connection (a few seconds at most) decides; when the hub does not answer, or ``HF_HUB_OFFLINE`` asks for
it, the loading runs in the libraries' offline mode: files in the local cache still load, anything else
fails at once, and the caller's error names local paths as the fix.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import Iterator
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 3.0     # seconds to wait for the hub's host to accept a connection
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def offline_requested() -> bool:
    """Whether the environment asks the Hugging Face libraries to work offline (``HF_HUB_OFFLINE=1`` etc.)."""
    return any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE") for v in _OFFLINE_VARS)


def hub_reachable(timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether the hub's host (``HF_ENDPOINT``, default huggingface.co) accepts a TCP connection within
    ``timeout`` seconds (name lookup included)."""
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _offline_flags() -> list[tuple[object, str]]:
    """The already-imported library constants that hold offline mode (read from the environment at import)."""
    flags = []
    for module, names in (("huggingface_hub.constants", ("HF_HUB_OFFLINE",)),
                          ("datasets.config", ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))):
        mod = sys.modules.get(module)
        flags += [(mod, n) for n in names if mod is not None and isinstance(getattr(mod, n, None), bool)]
    return flags


@contextlib.contextmanager
def hub_access(timeout: float = CONNECT_TIMEOUT) -> Iterator[bool]:
    """Yield True when the hub may be used; else (offline requested, or the hub's host does not answer within
    ``timeout`` s) yield False with the libraries in offline mode for the block: cached files load, others
    fail at once instead of after retries. The environment and the libraries' constants are restored after."""
    if offline_requested():
        yield False
        return
    if hub_reachable(timeout):
        yield True
        return
    saved_env = {v: os.environ.get(v) for v in _OFFLINE_VARS[:2]}
    flags = _offline_flags()
    saved_flags = [(mod, n, getattr(mod, n)) for mod, n in flags]
    os.environ.update({v: "1" for v in saved_env})
    for mod, n in flags:
        setattr(mod, n, True)
    try:
        yield False
    finally:
        for v, old in saved_env.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
        for mod, n, old in saved_flags:
            setattr(mod, n, old)
        imported = {(id(mod), n) for mod, n in flags}
        for mod, n in _offline_flags():      # imported inside the block: as the restored environment says
            if (id(mod), n) not in imported:
                setattr(mod, n, offline_requested())
