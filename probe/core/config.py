"""Configs: dataclass <-> JSON/YAML, every value checked against its field's annotation, nested merges."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

from probe.core.errors import ProbeError

T = TypeVar("T")

# Integer fields whose command-line flags refuse out-of-range values as they are parsed (probe.cli.options);
# as config values they are plain ints (typing.get_type_hints drops the annotation).
PositiveInt = Annotated[int, "positive"]
NonNegativeInt = Annotated[int, "non-negative"]


def config_to_dict(cfg: Any) -> dict:
    """Turn a (nested) dataclass config into plain JSON-able data (tuples become lists)."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


_NONE = type(None)


def _expected(hint: Any) -> str:
    """How an error message names the type ``hint`` asks for ('an integer', 'a list of strings', ...)."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", _NONE: "null"}
    if hint in names:
        return names[hint]
    if dataclasses.is_dataclass(hint):
        return "a mapping of options"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or isinstance(hint, types.UnionType):
        return " or ".join(_expected(a) for a in args)
    if origin in (tuple, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(set(args)) == 1:
                return f"a list of {len(args)} {_plural(args[0])}"
            return f"a list of {len(args)} values ({', '.join(_expected(a) for a in args)})"
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    return f"a {getattr(origin or hint, '__name__', str(hint))}"


def _plural(hint: Any) -> str:
    plurals = {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}
    return plurals.get(hint) or ("mappings of options" if dataclasses.is_dataclass(hint) else _expected(hint))


def _type_error(value: Any, hint: Any, where: str, key: str) -> ProbeError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    hint_text = ""
    wants_number = hint is float or float in typing.get_args(hint)
    if wants_number and isinstance(value, str):
        with contextlib.suppress(ValueError):
            float(value)
            # YAML 1.1 (PyYAML) reads 1e-3 as text: only 1.0e-3 or 0.001 are numbers there
            hint_text = "; write numbers without quotes, and in YAML with a decimal point (1.0e-3, not 1e-3)"
    return ProbeError(f"{where}: {key} must be {_expected(hint)}, got {shown}{hint_text}")


def _coerce(value: Any, hint: Any, where: str, key: str) -> Any:
    """Check JSON/YAML ``value`` against the field annotation ``hint`` and convert it (lists -> tuples,
    ints -> floats, mappings -> nested dataclasses); a mismatch is a ProbeError naming ``where: key``.

    ``bool`` is not accepted as a number nor a number as ``bool``: JSON keeps them apart, and a
    ``true`` where a count belongs is a mistake, not a 1. Annotations this does not know pass unchecked.
    """
    if hint is None or hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or isinstance(hint, types.UnionType):
        if value is None and _NONE in args:
            return None
        for arg in args:
            if arg is _NONE:
                continue
            with contextlib.suppress(ProbeError):
                return _coerce(value, arg, where, key)
        nested = [a for a in args if dataclasses.is_dataclass(a)]
        if len(nested) == 1 and isinstance(value, dict):
            return _coerce(value, nested[0], where, key)  # report the nested key that is wrong
        raise _type_error(value, hint, where, key)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise _type_error(value, hint, where, key)
        return config_from_dict(hint, value, where=where, key=key)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _type_error(value, hint, where, key)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _type_error(value, hint, where, key)
            items = [_coerce(v, a, where, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        elif args:
            items = [_coerce(v, args[0], where, f"{key}[{i}]") for i, v in enumerate(value)]
        else:
            items = list(value)
        return tuple(items) if origin is tuple else items
    if origin is typing.Literal:
        if value not in args:
            raise _type_error(value, hint, where, key)
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _type_error(value, hint, where, key)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(value, hint, where, key)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, hint, where, key)
        return float(value)
    if hint is str or hint is _NONE:
        if not isinstance(value, hint):
            raise _type_error(value, hint, where, key)
        return value
    if isinstance(origin or hint, type) and not isinstance(value, origin or hint):
        raise _type_error(value, hint, where, key)
    return value


def config_from_dict(cls: type[T], data: dict, *, where: str = "config", key: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking every value against its field's annotation.

    Keys absent from ``data`` keep their defaults, so a user's file only lists what it changes. An
    unknown key, a missing required key or a value of the wrong type is a one-line ProbeError naming
    ``where`` (the file or source) and the key path, e.g.
    ``config.json: train.hidden must be an integer, got 'big'``. ``key`` is the path of ``data``
    itself inside an enclosing config ('' at the top).
    """
    if not isinstance(data, dict):
        what = f"{key} must be" if key else "expected"
        raise ProbeError(f"{where}: {what} a mapping of options, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        raise ProbeError(
            f"{where}: unknown key {unknown[0]!r}{' in ' + key if key else ''} for {cls.__name__}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING and f.init]
    missing = [n for n in required if n not in data]
    if missing:
        raise ProbeError(f"{where}: {key or cls.__name__} lacks the required key(s) {', '.join(missing)}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints.get(k), where, f"{key}.{k}" if key else k) for k, v in data.items()}
    return cls(**kwargs)


def read_config_file(path: str | os.PathLike) -> dict:
    """Read a JSON or YAML (``.yaml``/``.yml``) config file into a dict, with one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise ProbeError(f"config file {p} does not exist; give the path of a JSON or YAML file")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(str(exc)) from exc
        else:
            data = json.loads(text)
    except ValueError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ProbeError(f"config file {p} could not be parsed: {first}") from exc
    if not isinstance(data, dict):
        raise ProbeError(f"config file {p} must hold a mapping of options at the top level")
    return data


def merge_config(base: dict, upd: dict, *, cls: type, where: str) -> dict:
    """``upd`` over ``base`` (both dicts of dataclass ``cls``): nested configs merge key by key, so a file only
    lists what it changes; other values (mappings such as ``arch_train`` included) are replaced whole."""
    hints = typing.get_type_hints(cls)
    out = dict(base)
    for k, v in upd.items():
        if k not in base:
            raise ProbeError(f"{where}: unknown key {k!r}; valid keys: {', '.join(sorted(base))}")
        nested = hints.get(k)
        if dataclasses.is_dataclass(nested) and isinstance(base[k], dict) and isinstance(v, dict):
            out[k] = merge_config(base[k], v, where=f"{where}.{k}", cls=nested)
        else:
            out[k] = v
    return out
