"""probe.core.config: device resolution, and the type checks that turn a config file's mistakes into one line."""
from dataclasses import dataclass, field
from typing import Annotated

import pytest
import torch

from probe.core.errors import ProbeError
from probe.core.config import (FLAGS, CheckedConfig, NonNegativeInt, PositiveFloat, PositiveInt, Range,
                               config_from_dict, config_from_layers, config_to_dict, flags_origin, read_config_file,
                               replace_config)
from probe.core.device import resolve_device
from probe.run import PRESETS, RunConfig


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(ProbeError, match="no CUDA device"):
            resolve_device("cuda")


@dataclass(frozen=True)
class Inner:
    path: str                       # required: no default
    weight: float = 1.0


@dataclass(frozen=True)
class Outer:
    count: int = 1
    flag: bool = False
    rate: float = 0.5
    maybe: int | None = None
    names: tuple[str, ...] = ()
    pair: tuple[float, float] = (0.0, 1.0)
    inner: Inner = field(default_factory=lambda: Inner("x"))
    inners: tuple[Inner, ...] = ()


def test_config_from_dict_converts_json_data():
    cfg = config_from_dict(Outer, {"count": 3, "flag": True, "rate": 2, "maybe": None, "names": ["a", "b"],
                                   "pair": [1, 2.5], "inner": {"path": "p"}, "inners": [{"path": "q", "weight": 3}]})
    assert cfg == Outer(3, True, 2.0, None, ("a", "b"), (1.0, 2.5), Inner("p"), (Inner("q", 3.0),))
    assert isinstance(cfg.rate, float) and isinstance(cfg.inners[0].weight, float)
    assert config_from_dict(Outer, {"maybe": 4}).maybe == 4


@pytest.mark.parametrize("data, message", [
    ({"count": "big"}, "f.json: count must be an integer, got 'big'"),
    ({"count": True}, "f.json: count must be an integer, got True"),      # bool is not a count
    ({"count": 2.0}, "f.json: count must be an integer, got 2.0"),
    ({"flag": 1}, "f.json: flag must be true or false, got 1"),          # nor a number a bool
    ({"rate": False}, "f.json: rate must be a number, got False"),
    ({"rate": "1e-3"}, "f.json: rate must be a number, got '1e-3'; write numbers without quotes"),
    ({"maybe": "3"}, "f.json: maybe must be an integer or null, got '3'"),
    ({"names": "ab"}, "f.json: names must be a list of strings, got 'ab'"),
    ({"names": ["a", 1]}, "f.json: names[1] must be a string, got 1"),
    ({"pair": [1]}, "f.json: pair must be a list of 2 numbers, got [1]"),
    ({"inner": 5}, "f.json: inner must be a mapping of options, got 5"),
    ({"inner": {"path": 5}}, "f.json: inner.path must be a string, got 5"),
    ({"inner": {"path": "p", "wieght": 1}}, "f.json: unknown key 'wieght' in inner for Inner"),
    ({"inners": [{"weight": 2}]}, "f.json: inners[0] lacks the required key(s) path"),
    ({"inners": [{"path": "q", "weight": "heavy"}]}, "f.json: inners[0].weight must be a number, got 'heavy'"),
])
def test_config_from_dict_names_the_key_and_the_type(data, message):
    with pytest.raises(ProbeError) as exc:
        config_from_dict(Outer, data, where="f.json")
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_every_preset_round_trips_through_the_checks():
    for cfg in PRESETS.values():
        assert config_from_dict(RunConfig, config_to_dict(cfg)) == cfg


@dataclass(frozen=True)
class Ranged(CheckedConfig):
    units: PositiveInt = 4
    seeds: tuple[NonNegativeInt, ...] = (0,)
    rate: PositiveFloat | None = None
    share: Annotated[float, Range(0, 1, high_open=True)] = 0.0
    inner: Inner = field(default_factory=lambda: Inner("x"))


@pytest.mark.parametrize("data, where, message", [
    ({"units": -64}, "sweep.yaml", "sweep.yaml: units must be a positive integer, got -64"),
    ({"units": -64}, FLAGS, "--units must be a positive integer, got -64"),
    ({"units": "big"}, "f.json", "f.json: units must be an integer, got 'big'"),     # the type comes first
    ({"seeds": [0, -1]}, "f.json", "f.json: seeds[1] must be a non-negative integer, got -1"),
    ({"seeds": [0, -1]}, flags_origin(seeds="--seed"), "--seed must be a non-negative integer, got -1"),
    ({"rate": 0}, "f.json", "f.json: rate must be a positive number, got 0.0"),
    ({"rate": float("inf")}, "f.json", "f.json: rate must be a positive number, got inf"),
    ({"rate": "x"}, "f.json", "f.json: rate must be a number or null, got 'x'"),
    ({"share": 1}, "f.json", "f.json: share must be a number in [0, 1), got 1.0"),
])
def test_a_range_declared_on_the_field_is_checked_where_the_config_is_read(data, where, message):
    with pytest.raises(ProbeError) as exc:
        config_from_dict(Ranged, data, where=where)
    assert str(exc.value) == message


def test_a_range_is_checked_in_python_calls_and_flag_replacements_too():
    with pytest.raises(ProbeError, match=r"^Ranged.seeds\[1\] must be a non-negative integer, got -1$"):
        Ranged(seeds=(0, -1))
    with pytest.raises(ProbeError, match=r"^--units must be a positive integer, got 0$"):
        replace_config(Ranged(), {"units": 0})
    assert replace_config(Ranged(), {"seeds": [1, 2], "rate": 2}) == Ranged(seeds=(1, 2), rate=2.0)
    assert Ranged(rate=None).rate is None and Ranged(units=1, share=0.5).share == 0.5


def test_layers_name_the_file_or_the_flag_each_value_came_from():
    base = config_to_dict(Ranged())
    cfg = config_from_layers(Ranged, base, [({"units": 8}, "a.yaml"), ({"rate": 0.5}, FLAGS)])
    assert (cfg.units, cfg.rate) == (8, 0.5)
    with pytest.raises(ProbeError, match=r"^a.yaml: units must be a positive integer, got 0$"):
        config_from_layers(Ranged, base, [({"units": 0}, "a.yaml"), ({"rate": 0.5}, FLAGS)])
    with pytest.raises(ProbeError, match=r"^--rate must be a positive number, got -0.5$"):
        config_from_layers(Ranged, base, [({"units": 8}, "a.yaml"), ({"rate": -0.5}, FLAGS)])
    with pytest.raises(ProbeError, match=r"^a.yaml: unknown key 'wieght' in inner for Inner"):
        config_from_layers(Ranged, base, [({"inner": {"wieght": 2}}, "a.yaml")])


@pytest.mark.parametrize("name, text, where", [
    ("s.yaml", "train:\n  hidden: 64\n lr: 1.0\n", "line 3, column 2: "),
    ("s.yml", "seeds: [0, 1\n", "line 2, column 1: "),
    ("s.json", '{"seeds": [0, 1],}', "line 1, column 18: Expecting property name"),
    ("s.json", '{"seeds": [0, 1]\n "x": 1}', "line 2, column 2: Expecting ',' delimiter"),
])
def test_a_config_file_that_does_not_parse_names_its_line_and_column(tmp_path, name, text, where):
    (tmp_path / name).write_text(text)
    with pytest.raises(ProbeError) as exc:
        read_config_file(tmp_path / name)
    assert str(exc.value).startswith(f"config file {tmp_path / name} {where}") and "\n" not in str(exc.value)
