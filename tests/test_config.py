"""probe.core.config: device resolution, and the type checks that turn a config file's mistakes into one line."""
from dataclasses import dataclass, field

import pytest
import torch

from probe.core.errors import ProbeError
from probe.core.config import config_from_dict, config_to_dict
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
