"""Experiment only: exp.py with SIGReg of a token latent over all tokens pooled (each frame's
tokens as samples of one distribution, 1/K of the directions) instead of per token position.

    WORLD=reacher python exp_pooled.py NAME override...
"""

import runpy
import sys
from pathlib import Path

import torch

import physjepa.training.loop as loop
from physjepa.models.losses import sigreg

_orig = loop.sigreg_over_time


def pooled(z: torch.Tensor, directions: torch.Tensor, knots: int = 17) -> torch.Tensor:
    d, m = directions.shape
    if z.shape[-1] == d:
        return _orig(z, directions, knots)
    k = z.shape[-1] // d
    dirs = directions[:, : max(1, m // k)]
    zt = z.reshape(z.shape[0], z.shape[1], k, d)  # (B, T, K, d)
    return torch.stack(
        [sigreg(zt[:, i].reshape(-1, d), dirs, knots) for i in range(z.shape[1])]
    ).mean()


loop.sigreg_over_time = pooled
sys.argv = [str(Path(__file__).with_name("exp.py")), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
