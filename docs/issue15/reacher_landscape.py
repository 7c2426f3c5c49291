"""Reacher's latent cost landscape over the joint angles: python reacher_landscape.py RUN [G].

Renders a 48 x 48 grid of joint angles (velocities 0), encodes every frame and, for G goal
configurations (validation seeds), reports where the latent distance to the goal frame is
smallest: the fingertip distance of the grid's argmin (success needs < 0.04), the Spearman
correlation of latent distance with fingertip distance, and the number of local minima of
the latent distance on the (periodic) grid. A cost with its global minimum away from the goal
or with many local minima cannot be planned, whatever the predictor."""

import json
import sys

import numpy as np
import torch

from physjepa.training.checkpoint import load_run
from physjepa.worlds import make


def spearmanr(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return (np.corrcoef(ra, rb)[0, 1],)


if __name__ == "__main__":
    run, g = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
    model, cfg, info = load_run(run)
    model.eval()
    w = make("reacher", **info.data.params)
    w.reset(seed=0)
    n = 48
    angles = np.linspace(-np.pi, np.pi, n, endpoint=False)
    frames, tips = [], []
    for a in angles:
        for b in angles:
            w.set_sim_state({"joint_angle": [a, b], "joint_vel": [0.0, 0.0]})
            frames.append(w.render())
            tips.append(w.forward([a, b])[1])
    with torch.no_grad():
        z = torch.cat(
            [
                model.encode(torch.as_tensor(np.stack(frames[i : i + 256]))[:, None])[:, 0]
                for i in range(0, len(frames), 256)
            ]
        )
    tips = np.asarray(tips)
    rng = np.random.default_rng(12345)
    out = []
    for _ in range(g):
        k = int(rng.integers(len(frames)))
        d = (z - z[k]).pow(2).sum(-1).numpy().reshape(n, n)
        tip_d = np.linalg.norm(tips - tips[k], axis=1).reshape(n, n)
        nb = [np.roll(np.roll(d, i, 0), j, 1) for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j]
        minima = int((d < np.min(nb, axis=0)).sum())
        mask = np.ones(n * n, bool)
        mask[k] = False
        arg = int(np.argmin(np.where(mask, d.ravel(), np.inf)))
        rho = spearmanr(d.ravel(), tip_d.ravel())[0]
        near = tip_d.ravel() < 0.15
        out.append(
            {
                "argmin_tip_dist": float(tip_d.ravel()[arg]),
                "spearman": float(rho),
                "local_minima": minima,
                "spearman_near": float(spearmanr(d.ravel()[near], tip_d.ravel()[near])[0]),
            }
        )
    keys = out[0].keys()
    print(
        run,
        json.dumps({k: round(float(np.median([o[k] for o in out])), 3) for k in keys}),
        "minima per goal:",
        [o["local_minima"] for o in out],
    )
