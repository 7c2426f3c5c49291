"""Rough ms per plan (2 rollouts of 32 x 5 blocks), models timed in turn (not for publication)."""

import sys
import time

import torch

from physjepa.config import load_preset
from physjepa.models.world_model import ModelSpec, build_world_model

torch.set_num_threads(2)
confs = [[], *[o.split() for o in sys.argv[1:]]]
models = []
for over in confs:
    m = build_world_model(load_preset("laptop", over).model, ModelSpec((64, 64, 3), 10, 3)).eval()
    D = m.encode(torch.zeros(1, 1, 64, 64, 3, dtype=torch.uint8)).shape[-1]
    models.append((m, torch.randn(1, 3, D)))
ts = [[] for _ in confs]
past = torch.randn(1, 2, 10)
with torch.no_grad():
    for _r in range(20):
        for i, (m, z) in enumerate(models):
            t = time.perf_counter()
            for _ in range(2):
                out = m.rollout(z, torch.randn(1, 32, 5, 10), past)
                (out - z[:, -1]).pow(2).sum(-1)
            ts[i].append((time.perf_counter() - t) * 1000)
for over, t in zip(confs, ts):
    t.sort()
    print(" ".join(over) or "vector", f"median {t[len(t) // 2]:.1f} ms, min {t[0]:.1f}")
