"""Config plumbing shared by every stage: user errors, dataclass <-> JSON/YAML, atomic writes."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import typing
from pathlib import Path
from typing import Any, Iterator, TypeVar

T = TypeVar("T")


class ProbeError(Exception):
    """A problem with the user's input: the CLI prints it on one line and exits with code 2.

    The message should name the problem and the fix, e.g.
    ``"unknown construction 'foo': choose from simple, pp, ..."``.
    """


def config_to_dict(cfg: Any) -> dict:
    """Turn a (nested) dataclass config into plain JSON-able data (tuples become lists)."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Coerce JSON data into the annotated field type (nested dataclasses, tuples)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value, where=where)
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], where) for v in value)
        return tuple(value)
    if origin is typing.Union or str(origin) == "types.UnionType":
        for arg in typing.get_args(hint):
            if arg is type(None) and value is None:
                return None
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return config_from_dict(arg, value, where=where)
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def config_from_dict(cls: type[T], data: dict, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys are a ProbeError naming the key.

    Keys absent from ``data`` keep their defaults, so a user's file only lists what it changes.
    """
    if not isinstance(data, dict):
        raise ProbeError(f"{where}: expected a mapping of options, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ProbeError(
            f"{where}: unknown key {unknown[0]!r} for {cls.__name__}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints.get(k), f"{where}.{k}") for k, v in data.items()}
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    """Refuse an existing non-empty folder unless ``overwrite``; return the path."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ProbeError(f"output path {out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ProbeError(f"output folder {out} exists and is not empty; pass --overwrite or choose another --out")
    return out


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out``, on error it is removed.

    This is how every stage avoids leaving half-written output: nothing appears at ``out`` until the
    whole stage has finished.
    """
    out = check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
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


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; asking for 'cuda' without one is a ProbeError."""
    if device not in ("auto", "cuda"):
        return device
    import torch  # here, not at the top: config must stay importable without torch's start-up cost

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise ProbeError("--device cuda but no CUDA device is available; use --device cpu or auto")
    return "cpu"
