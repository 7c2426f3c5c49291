"""The one place a device is chosen (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``)."""

from __future__ import annotations

import torch

from physjepa.config import is_device_name
from physjepa.errors import ConfigError


def resolve_device(name: str, what: str = "train.device") -> torch.device:
    """The one place a device is chosen: 'auto' picks cuda, then mps, then cpu.

    ``what`` names the setting in error messages (``train.device``, ``--device``)."""
    if not is_device_name(name):
        raise ConfigError(f"{what}={name!r} is invalid: expected auto, cpu, cuda, cuda:N or mps")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{what}={name!r} but CUDA is not available here; use cpu or auto")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(
            f"{what}={name!r} but this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError(f"{what}='mps' but MPS is not available here; use cpu or auto")
    return torch.device(name)
