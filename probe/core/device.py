"""Which torch device to run on."""
from __future__ import annotations

from probe.core.errors import ProbeError


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
