"""User components: Python files and installed packages that register cells, scorers, constructions, importers or
analyses, loaded before the ``probe`` command line is parsed.

Two ways in, as spaCy and pytest offer them: ``probe --code FILE`` (a file, imported once per process), and the
``probe.plugins`` entry-point group of an installed package (``[project.entry-points."probe.plugins"]`` in its
pyproject.toml: a module, imported, or a function, called). Every file loaded is added to ``PROBE_CODE`` in the
environment, so that worker processes and cluster jobs started from this one load it too.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from pathlib import Path
import sys
from types import ModuleType
from typing import Iterable

from probe.core.errors import ProbeError

ENTRY_POINT_GROUP = "probe.plugins"
ENV = "PROBE_CODE"        # files loaded in this process, os.pathsep-separated (inherited by its children)

_entry_points_loaded = False


def module_name(path: Path) -> str:
    """The name a user file is imported under: the same in every process for the same file, so that what it
    defines pickles by reference."""
    return f"probe_code_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def load_code(path: str | os.PathLike) -> ModuleType:
    """Import the Python file ``path`` (once per process; its registrations run then) and return the module."""
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise ProbeError(f"--code {path}: no such file; give a Python file that registers probe components")
    name = module_name(p)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise ProbeError(f"--code {path}: not a Python file; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    files = [f for f in os.environ.get(ENV, "").split(os.pathsep) if f]
    if str(p) not in files:
        os.environ[ENV] = os.pathsep.join(files + [str(p)])
    return module


def load_entry_points() -> list[str]:
    """Load every ``probe.plugins`` entry point of the installed packages (once per process): a module is
    imported, a function called. Returns their names."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    names = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:
            raise ProbeError(f"the probe plugin {ep.name!r} ({ep.value}) cannot be loaded: "
                             f"{type(exc).__name__}: {exc}; fix or uninstall the package that declares it") from exc
        if callable(loaded) and not isinstance(loaded, ModuleType):
            loaded()
        names.append(ep.name)
    return names


def load_plugins(code: Iterable[str | os.PathLike] = ()) -> None:
    """Load the installed plugins, the files named in ``PROBE_CODE`` (a parent process' ``--code``) and ``code``."""
    load_entry_points()
    inherited = [f for f in os.environ.get(ENV, "").split(os.pathsep) if f]
    for path in [*inherited, *code]:
        load_code(path)
