"""Command-line flags generated from a frozen config dataclass: one flag per field, its comment as the help."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from typing import Any

from probe.core.config import FLAGS, flags_origin, replace_config

_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*?#\s*(.*)$")
_CONTINUED = re.compile(r"^\s+#\s*(.*)$")


def field_comments(cls: type) -> dict[str, str]:
    """{field: its comment} read from the dataclass' source (and its dataclass bases'): the comment on the
    field's line and the comment-only lines right under it (empty where there is none)."""
    out: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        out.update(_own_comments(klass))
    return out


def _own_comments(cls: type) -> dict[str, str]:
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    last, indent = None, 0
    for line in lines:
        m = _COMMENT.match(line)
        if m and m.group(1) not in out:
            last, indent = m.group(1), len(line) - len(line.lstrip())
            out[last] = m.group(2).strip()
            continue
        more = _CONTINUED.match(line)
        # a continuation sits right of its field; a comment line level with the fields heads the next ones
        if more and last is not None and len(line) - len(line.lstrip()) > indent:
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
                       show_defaults: bool = True, prefix: str = "", aliases: dict[str, tuple[str, ...]] | None = None
                       ) -> list[str]:
    """Add ``--field-name`` for every field of ``cls`` (those in ``only`` when given, never those in ``skip``);
    every flag defaults to None (= keep the preset's or the config's value), and its help is the field's
    comment plus the default shown (``show_defaults=False`` where a preset decides it). ``prefix``: flags of a
    nested config, ``--PREFIX-field-name`` (read them back with ``option_values``); a field holding a nested
    config gets such flags, prefixed with its name. A mapping field takes ``KEY=VALUE`` pairs. ``aliases``:
    {field: other spellings of its flag} (a boolean's ``--X`` brings ``--no-X``). Returns the flags'
    destinations (the field names, ``PREFIX_field`` with a prefix, ``NAME.field`` for a nested config's)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    comments = field_comments(cls)
    names = []
    for f in dataclasses.fields(cls):
        if f.name in skip or (only is not None and f.name not in only):
            continue
        tp, many, _ = _scalar(hints[f.name])
        if defaults is not None:
            default = getattr(defaults, f.name)
        else:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(tp) and not prefix:
            # a nested config: --NAME-field flags, read back as {NAME: {field: value}} (apply_options)
            nested = add_config_options(parser, tp, defaults=default, prefix=f.name, show_defaults=show_defaults)
            names += [f"{f.name}.{n[len(f.name) + 1:]}" for n in nested]
            continue
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        # None, '', () and {} mean "not set"; the field's comment says what happens then
        unset = default is None or default in ("", (), {}) or not show_defaults
        help_text = (comments.get(f.name, f.name) + ("" if unset else f" (default {shown})")).replace("%", "%%")
        dest = f"{prefix}_{f.name}" if prefix else f.name
        flags = ["--" + dest.replace("_", "-"), *(aliases or {}).get(f.name, ())]
        if tp is bool and not many:
            parser.add_argument(*flags, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif typing.get_origin(tp) is dict or tp is dict:
            parser.add_argument(*flags, dest=dest, type=_key_value, nargs="+", default=None, metavar="KEY=VALUE",
                                help=help_text)
        else:
            kind = tp if tp in (int, float, str) else str
            metavar = kind.__name__.upper()
            parser.add_argument(*flags, dest=dest, type=kind, nargs="+" if many else None, default=None,
                                metavar=metavar, help=help_text)
        names.append(dest)
    return names


def _key_value(text: str) -> tuple[str, str]:
    """An argparse type: ``KEY=VALUE`` -> (KEY, VALUE)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def option_values(namespace: argparse.Namespace, names: list[str], *, prefix: str = "") -> dict:
    """{field: value} of the flags given on the command line among ``names`` (as ``add_config_options``
    returned them, with the same ``prefix``): lists become tuples, KEY=VALUE pairs a dict, a nested config's
    flags ``NAME.field`` a mapping {NAME: {field: value}}."""
    given: dict = {}
    for name in names:
        top, dot, sub = name.partition(".")
        value = getattr(namespace, f"{top}_{sub}" if dot else name, None)
        if value is None:
            continue
        if isinstance(value, list):
            value = dict(value) if value and isinstance(value[0], tuple) else tuple(value)
        if dot:
            given.setdefault(top, {})[sub] = value
        else:
            given[name[len(prefix) + 1:] if prefix else name] = value
    return given


def apply_options(cfg: Any, namespace: argparse.Namespace, names: list[str]) -> Any:
    """``cfg`` with every flag given on the command line (not None) replacing its field, each checked against
    the field's type and range (a ProbeError naming the flag: ``--layers must be a positive integer, got 0``);
    a nested config's flags (``--train-lr``) replace fields of that config."""
    given = option_values(namespace, names)
    for top, changes in given.items():
        inner = getattr(cfg, top)
        if isinstance(changes, dict) and dataclasses.is_dataclass(inner):
            renames = {f.name: f"--{top}-{f.name}".replace("_", "-") for f in dataclasses.fields(inner)}
            given[top] = replace_config(inner, changes, where=flags_origin(**renames))
    return replace_config(cfg, given, where=FLAGS) if given else cfg
