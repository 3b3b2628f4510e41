"""Command-line flags generated from a frozen config dataclass: one flag per field, its comment as the help."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from typing import Any

from probe.core.config import FLAGS, replace_config

_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*?#\s*(.*)$")
_CONTINUED = re.compile(r"^\s+#\s*(.*)$")


def field_comments(cls: type) -> dict[str, str]:
    """{field: its comment} read from the dataclass' source: the comment on the field's line and the
    comment-only lines right under it (empty where there is none)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    last = None
    for line in lines:
        m = _COMMENT.match(line)
        if m and m.group(1) not in out:
            last = m.group(1)
            out[last] = m.group(2).strip()
            continue
        more = _CONTINUED.match(line)
        if more and last is not None:
            out[last] += " " + more.group(1).strip()
        else:
            last = None
    return out


def _scalar(tp: Any) -> tuple[Any, bool, bool]:
    """A field type -> (element type, is a tuple, may be None). A declared range (``Annotated``) is not
    checked by argparse but where the config is made (``apply_options``), so the error is one line."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    optional = False
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0] if len(args) == 1 else str
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is tuple:
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return (_scalar(args[0])[0] if args else str), True, optional
    return tp, False, optional


def add_config_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *,
                       defaults: Any = None, skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None,
                       show_defaults: bool = True) -> list[str]:
    """Add ``--field-name`` for every field of ``cls`` (those in ``only`` when given, never those in ``skip``);
    every flag defaults to None (= keep the preset's or the config's value), and its help is the field's
    comment plus the default shown (``show_defaults=False`` where a preset decides it). Returns the field names."""
    hints = typing.get_type_hints(cls, include_extras=True)
    comments = field_comments(cls)
    names = []
    for f in dataclasses.fields(cls):
        if f.name in skip or (only is not None and f.name not in only):
            continue
        tp, many, _ = _scalar(hints[f.name])
        default = getattr(defaults, f.name) if defaults is not None else f.default
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        # None and () mean "not set"; the field's comment says what happens then
        unset = default is None or default == () or not show_defaults
        help_text = (comments.get(f.name, f.name) + ("" if unset else f" (default {shown})")).replace("%", "%%")
        flag = "--" + f.name.replace("_", "-")
        if tp is bool and not many:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            kind = tp if tp in (int, float, str) else str
            metavar = kind.__name__.upper()
            parser.add_argument(flag, type=kind, nargs="+" if many else None, default=None, metavar=metavar,
                                help=help_text)
        names.append(f.name)
    return names


def apply_options(cfg: Any, namespace: argparse.Namespace, names: list[str]) -> Any:
    """``cfg`` with every flag given on the command line (not None) replacing its field, each checked against
    the field's type and range (a ProbeError naming the flag: ``--layers must be a positive integer, got 0``)."""
    given = {name: getattr(namespace, name) for name in names if getattr(namespace, name, None) is not None}
    return replace_config(cfg, given, where=FLAGS) if given else cfg
