"""Configs: dataclass <-> JSON/YAML, every value checked against its field's annotation and range, nested merges.

A config is checked once, where it is made, and an error names a value the way its user gave it (its
:class:`Origin`): ``sweep.yaml: train.hidden must be a positive integer, got -64`` for a file's key,
``--hidden must be a positive integer, got -64`` for a command-line flag, ``TrainConfig.hidden must be ...``
for a Python call. A field's allowed values are declared once, on the field: a number's :class:`Range`
(``hidden: PositiveInt``), a text's choices (``optimizer: Annotated[str, OneOf(OPTIMIZERS)]``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import numbers
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

from probe.core.errors import ProbeError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a number field admits, declared on the field: ``Annotated[int, Range(1, text=...)]``.

    Only finite numbers lie in a range. ``config_from_dict`` checks it where a config is read, a
    :class:`CheckedConfig` when it is made in Python, and the command-line flags generated from the
    field (``probe.cli.options``) go through the same check.
    """

    low: float | None = None        # smallest value admitted (None: no bound)
    high: float | None = None       # largest value admitted (None: no bound)
    low_open: bool = False          # the bound ``low`` itself is not admitted
    high_open: bool = False         # nor ``high``
    text: str = ""                  # what an error says the value must be ('a positive integer')

    def admits(self, value: float) -> bool:
        """Whether ``value`` (a finite number) lies in the range."""
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        if self.text:
            return self.text
        low = "" if self.low is None else f"{'(' if self.low_open else '['}{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}{')' if self.high_open else ']'}"
        if low and high:
            return f"a number in {low}, {high}"
        return (f"a number {'>' if self.low_open else '>='} {self.low:g}" if low
                else f"a number {'<' if self.high_open else '<='} {self.high:g}")


@dataclasses.dataclass(frozen=True)
class OneOf:
    """The values a text field admits, declared on the field: ``Annotated[str, OneOf(("sgd", "adam"))]``;
    checked wherever a :class:`Range` is."""

    choices: tuple[str, ...]

    def admits(self, value: Any) -> bool:
        return value in self.choices

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


PositiveInt = Annotated[int, Range(1, text="a positive integer")]
NonNegativeInt = Annotated[int, Range(0, text="a non-negative integer")]
PositiveFloat = Annotated[float, Range(0, low_open=True, text="a positive number")]
NonNegativeFloat = Annotated[float, Range(0, text="0 or a positive number")]


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a config's values came from, so that an error names a value the way its user gave it.

    ``kind`` file: ``LABEL: key`` (a file's path, or what the values are, e.g. 'run config');
    flags: ``--key`` (``renames`` maps a field to a flag of another name); call: ``LABEL.key`` (a class).
    """

    label: str
    kind: str = "file"                          # file | flags | call
    renames: tuple[tuple[str, str], ...] = ()   # flags: (field, flag) where the flag is not --field-name

    def name(self, key: str) -> str:
        """How an error names the value at key path ``key`` ('train.hidden', 'seeds[1]'; '' = the whole)."""
        if self.kind == "flags" and key:
            top = re.split(r"[.\[]", key, maxsplit=1)[0]
            return dict(self.renames).get(top, "--" + top.replace("_", "-"))
        if self.kind == "call":
            return f"{self.label}.{key}" if key else self.label
        return f"{self.label}: {key}" if key else self.label


def flags_origin(**renames: str) -> Origin:
    """The origin of values given as command-line flags (``renames``: field -> its flag where they differ)."""
    return Origin("command-line options", "flags", tuple(renames.items()))


FLAGS = flags_origin()


def _origin(where: str | Origin) -> Origin:
    return where if isinstance(where, Origin) else Origin(str(where))


class _OutOfRange(ProbeError):
    """A value of the right type outside its field's range (a union does not try its other types)."""


def config_to_dict(cfg: Any) -> dict:
    """Turn a (nested) dataclass config into plain JSON-able data (tuples become lists)."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def field_values(cfg: Any, cls: type) -> dict:
    """The values of ``cfg``'s fields that dataclass ``cls`` (a base of its class) declares, as keyword arguments:
    how a config built on a shared base (``TrainConfig`` on ``ModelShape``) makes the other one (``ModelConfig``)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)}


_NONE = type(None)


def _bare(hint: Any) -> Any:
    """``hint`` without an ``Annotated`` wrapper (its declared range)."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint


def _expected(hint: Any) -> str:
    """How an error message names the type ``hint`` asks for ('an integer', 'a list of strings', ...)."""
    hint = _bare(hint)
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
    hint = _bare(hint)
    plurals = {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}
    return plurals.get(hint) or ("mappings of options" if dataclasses.is_dataclass(hint) else _expected(hint))


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _type_error(value: Any, hint: Any, where: Origin, key: str) -> ProbeError:
    hint_text = ""
    wants_number = _bare(hint) is float or float in map(_bare, typing.get_args(hint))
    if wants_number and isinstance(value, str):
        with contextlib.suppress(ValueError):
            float(value)
            # YAML 1.1 (PyYAML) reads 1e-3 as text: only 1.0e-3 or 0.001 are numbers there
            hint_text = "; write numbers without quotes, and in YAML with a decimal point (1.0e-3, not 1e-3)"
    return ProbeError(f"{where.name(key)} must be {_expected(hint)}, got {_shown(value)}{hint_text}")


def _check_range(value: Any, ranges: list, where: Origin, key: str) -> None:
    for r in ranges:
        checked = isinstance(value, str) if isinstance(r, OneOf) else \
            isinstance(value, numbers.Real) and not isinstance(value, bool)
        if checked and not r.admits(value):
            raise _OutOfRange(f"{where.name(key)} must be {r.describe()}, got {_shown(value)}")


def _coerce(value: Any, hint: Any, where: Origin, key: str) -> Any:
    """Check JSON/YAML ``value`` against the field annotation ``hint`` and its declared :class:`Range`, and
    convert it (lists -> tuples, ints -> floats, mappings -> nested dataclasses); a mismatch is a ProbeError
    naming the value as ``where`` names ``key``.

    ``bool`` is not accepted as a number nor a number as ``bool``: JSON keeps them apart, and a
    ``true`` where a count belongs is a mistake, not a 1. Annotations this does not know pass unchecked.
    """
    if hint is None or hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        value = _coerce(value, args[0], where, key)
        _check_range(value, [m for m in args[1:] if isinstance(m, (Range, OneOf))], where, key)
        return value
    if origin is typing.Union or isinstance(hint, types.UnionType):
        if value is None and _NONE in args:
            return None
        for arg in args:
            if arg is _NONE:
                continue
            try:
                return _coerce(value, arg, where, key)
            except _OutOfRange:
                raise
            except ProbeError:
                continue
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


@functools.lru_cache(maxsize=None)
def field_hints(cls: type) -> dict[str, Any]:
    """{field: its annotation} of dataclass ``cls``, ranges (``Annotated``) kept."""
    return typing.get_type_hints(cls, include_extras=True)


def config_from_dict(cls: type[T], data: dict, *, where: str | Origin = "config", key: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking every value against its field's annotation and range.

    Keys absent from ``data`` keep their defaults, so a user's file only lists what it changes. An
    unknown key, a missing required key, a value of the wrong type or out of its field's range is a
    one-line ProbeError naming the value as ``where`` (an :class:`Origin`, or a file's path or other
    label) names it, e.g. ``config.json: train.hidden must be an integer, got 'big'`` or
    ``--hidden must be a positive integer, got 0``. ``key`` is the path of ``data`` itself inside an
    enclosing config ('' at the top). A class with an ``upgrade(data) -> data`` classmethod (``CheckedConfig``)
    first turns what an earlier version wrote into today's keys.
    """
    where = _origin(where)
    if not isinstance(data, dict):
        what = f"{where.name(key)} must be" if key else f"{where.name('')}: expected"
        raise ProbeError(f"{what} a mapping of options, got {type(data).__name__}")
    data = cls.upgrade(data) if hasattr(cls, "upgrade") else data
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        raise ProbeError(
            f"{where.label}: unknown key {unknown[0]!r}{' in ' + key if key else ''} for {cls.__name__}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING and f.init]
    missing = [n for n in required if n not in data]
    if missing:
        raise ProbeError(f"{where.label}: {key or cls.__name__} lacks the required key(s) {', '.join(missing)}")
    hints = field_hints(cls)
    kwargs = {k: _coerce(v, hints.get(k), where, f"{key}.{k}" if key else k) for k, v in data.items()}
    return cls(**kwargs)


def replace_config(cfg: T, changes: dict, *, where: str | Origin = FLAGS) -> T:
    """``cfg`` with the fields in ``changes`` replaced, each value checked (and converted) as
    :func:`config_from_dict` checks it; an error names it as ``where`` does (default: as a flag)."""
    where = _origin(where)
    names = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ProbeError(f"{where.label}: unknown key {unknown[0]!r} for {type(cfg).__name__}; "
                         f"valid keys: {', '.join(sorted(names))}")
    hints = field_hints(type(cfg))
    return dataclasses.replace(cfg, **{k: _coerce(v, hints.get(k), where, k) for k, v in changes.items()})


def _ranges(hint: Any) -> list:
    return [m for m in typing.get_args(hint)[1:] if isinstance(m, (Range, OneOf))] \
        if typing.get_origin(hint) is Annotated else []


def _check_ranges_of(value: Any, hint: Any, where: Origin, key: str) -> None:
    """The range checks of :func:`_coerce` alone, on a value made in Python (no type conversion)."""
    if value is None:
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        hints = field_hints(type(value))
        for f in dataclasses.fields(value):
            _check_ranges_of(getattr(value, f.name), hints.get(f.name), where, f"{key}.{f.name}" if key else f.name)
        return
    _check_range(value, _ranges(hint), where, key)
    hint = _bare(hint)
    if typing.get_origin(hint) is typing.Union or isinstance(hint, types.UnionType):
        for arg in typing.get_args(hint):
            _check_range(value, _ranges(arg), where, key)
    elif typing.get_origin(hint) in (tuple, list) and isinstance(value, (tuple, list)):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        for i, v in enumerate(value):
            if args:
                _check_ranges_of(v, args[min(i, len(args) - 1)], where, f"{key}[{i}]")


def check_ranges(cfg: Any, *, where: str | Origin | None = None) -> None:
    """Check every field of the dataclass instance ``cfg`` (nested configs too) against its declared range;
    an error names the field as a Python call does (``TrainConfig.hidden must be ...``) unless ``where``."""
    _check_ranges_of(cfg, None, _origin(where) if where is not None else Origin(type(cfg).__name__, "call"), "")


class CheckedConfig:
    """Base of a config dataclass whose declared ranges are checked when it is made in Python
    (``TrainConfig(hidden=0)`` is a ProbeError naming ``TrainConfig.hidden``); configs read from files or
    flags are checked before, by :func:`config_from_dict`, naming the file's key or the flag."""

    def __post_init__(self) -> None:
        check_ranges(self)

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """``data`` as an earlier version wrote it -> today's keys (:func:`config_from_dict` calls it first);
        a config whose keys changed overrides it."""
        return data


def nest_keys(data: dict, cls: type, name: str) -> dict:
    """``data`` with its keys that are fields of ``cls``'s nested config ``name`` but not of ``cls`` itself moved
    into ``data[name]`` (over what it holds): a config whose options moved into a nested config (an analysis'
    training options into its ``train``) still reads what was written before."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    nested = {f.name for f in dataclasses.fields(_bare(field_hints(cls)[name]))}
    moved = {k: v for k, v in data.items() if k not in fields and k in nested}
    if not moved:
        return data
    inner = data.get(name)
    if not isinstance(inner, dict):     # not given: the moved keys change the field's default, as they did then
        f = fields[name]
        inner = config_to_dict(f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
    return {**{k: v for k, v in data.items() if k not in moved}, name: {**inner, **moved}}


def read_config_file(path: str | os.PathLike) -> dict:
    """Read a JSON or YAML (``.yaml``/``.yml``) config file into a dict, with one-line errors (a syntax
    error names its line and column)."""
    p = Path(path)
    if not p.is_file():
        raise ProbeError(f"config file {p} does not exist; give the path of a JSON or YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[:exc.start].count(b"\n") + 1
        raise ProbeError(f"config file {p} line {line}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ProbeError(f"config file {p}{at}: {problem}; fix the YAML there (nested keys indented by "
                             "spaces, a space after each colon)") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProbeError(f"config file {p} line {exc.lineno}, column {exc.colno}: {exc.msg}; fix the JSON "
                             "there (keys and strings in double quotes, no trailing commas)") from exc
    if not isinstance(data, dict):
        raise ProbeError(f"config file {p} must hold a mapping of options at the top level")
    return data


def merge_config(base: dict, upd: dict, *, cls: type) -> dict:
    """``upd`` over ``base`` (both dicts of dataclass ``cls``): nested configs merge key by key, so a file only
    lists what it changes; other values (mappings such as ``arch_train`` included) are replaced whole. Keys
    are not checked here: :func:`config_from_dict` checks the result, naming where the values came from."""
    hints = field_hints(cls)
    out = dict(base)
    for k, v in upd.items():
        nested = _bare(hints.get(k))
        if dataclasses.is_dataclass(nested) and isinstance(base.get(k), dict) and isinstance(v, dict):
            out[k] = merge_config(base[k], v, cls=nested)
        else:
            out[k] = v
    return out


def config_from_layers(cls: type[T], base: dict, layers: typing.Sequence[tuple[dict, str | Origin]]) -> T:
    """``cls`` from ``base`` (trusted values, e.g. a preset) updated by each ``(values, origin)`` layer in turn
    (a file, then flags); each layer is checked as it is added, so an error names the file key or the flag
    its value came from."""
    data = dict(base)
    cfg = None
    for values, where in layers:
        data = merge_config(data, values, cls=cls)
        cfg = config_from_dict(cls, data, where=where)
    return cfg if cfg is not None else config_from_dict(cls, data)
