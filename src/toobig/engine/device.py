"""Which torch device a run uses."""

from __future__ import annotations

import torch

from ..config import ConfigError


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine (use cpu or auto)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ConfigError(f"--device: unknown device {device!r} (allowed: auto, cpu, cuda)")
    return torch.device(device)
