"""One registry per extension point (cells, scorers, constructions, importers, analyses), all alike.

A :class:`Registry` maps names to entries in the order they were registered (built-ins first). Registering a
name twice is refused with a one-line error (a component that should replace a built-in says so by deleting
it first: ``del CELLS["lstm"]``); looking up an unknown name is a one-line error listing the choices. Every
list a user sees (command-line choices, help texts, report labels) derives from the entries.
"""
from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Generic, TypeVar

from probe.core.errors import ProbeError

T = TypeVar("T")


class UnknownName(ProbeError, KeyError):
    """A name no entry is registered under; a KeyError too, so that ``name in registry`` and
    ``registry.get(name, default)`` work as for a dict."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(MutableMapping, Generic[T]):
    """Entries of one kind by name: ``register(name, entry)``, ``registry[name]`` (an :class:`UnknownName` error
    naming the choices), iteration in registration order, ``del registry[name]``."""

    def __init__(self, kind: str, *, how: str = ""):
        self.kind = kind          # what an entry is, in messages ('cell', 'import format')
        self.how = how            # how to add one, appended to the unknown-name message
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it; a name registered already is a ProbeError (unless it holds
        this very entry, registered again)."""
        old = self._entries.get(name)
        if old is not None and old is not entry:
            raise ProbeError(f"a {self.kind} named {name!r} is registered already; give yours another name "
                             f"(or delete the registered one first)")
        self._entries[name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownName(f"unknown {self.kind} {name!r}; choose from {', '.join(self._entries) or 'none'}"
                              + (f" ({self.how})" if self.how else "")) from None

    def __setitem__(self, name: str, entry: T) -> None:
        self.register(name, entry)

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        # Mapping's default goes through __getitem__, which formats an UnknownName message on every miss
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def reorder(self, first: tuple[str, ...]) -> None:
        """Put the entries named in ``first`` first, in that order (the others keep theirs after them)."""
        order = [n for n in first if n in self._entries] + [n for n in self._entries if n not in first]
        self._entries = {n: self._entries[n] for n in order}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
