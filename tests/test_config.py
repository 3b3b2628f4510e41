"""probe.config: device resolution shared by training, number prediction and scoring."""
import pytest
import torch

from probe.config import ProbeError, resolve_device


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(ProbeError, match="no CUDA device"):
            resolve_device("cuda")
