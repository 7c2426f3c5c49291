"""Which part of a push does the predictor get wrong?  [IMAGE_SIZE=96] python statediag.py N RUN...

A linear readout latent -> (pusher x, y, block x, y, cos, sin of the block's angle), fitted on
25 frames of each training episode of the run (ridge; held-out R² printed). Then for N
episodes of the seed-1 validation manifest, 48 candidate pushes each (the scripted policy,
25 raw steps, as ranking.py): the readout of the *predicted* final latent (rollout from the
start frame) and of the *true* final frame's latent, against the true final state. Printed:
R² (and correlation, and the spread's ratio) of each variable over the candidates'
deviations from their episode's mean (what ranks candidates within a plan), predicted and
true-frame."""

import os
import sys

import numpy as np
import torch
from pushes import scripted_pushes
from valplan import validation_manifest

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.training.checkpoint import load_run
from physjepa.worlds import make

NAMES = ("pusher_x", "pusher_y", "block_x", "block_y", "cos", "sin")


def target(s):
    a = float(np.asarray(s["block_angle"]).reshape(-1)[0])
    return [*s["agent_pos"], *s["block_pos"], np.cos(a), np.sin(a)]


n = int(sys.argv[1])
m = validation_manifest("push-t", n, int(os.environ.get("IMAGE_SIZE", "64")))  # the runs' frames
world = make("push-t", image_size=m["image_size"], **m["params"])
world.reset(seed=0)
eps = [
    (
        start,
        acts,
        np.stack([f for f, _, _ in fin]),
        np.array([t for _, t, _ in fin]),
        np.r_[e["start"]["agent_pos"], e["start"]["agent_vel"]],  # the start's proprio
        np.stack([p for _, _, p in fin]),
    )
    for e, (start, acts, fin) in zip(
        m["episodes"][:n],
        scripted_pushes(
            world, m["episodes"][:n], lambda w: (w.render(), target(w.sim_state()), w.proprio())
        ),
    )
]


def encode(model, frames, proprio):
    """Frames (N, H, W, 3), proprio (N, P) -> latents (N, D); the proprio is read only by a
    run trained with model.proprio."""
    p = torch.as_tensor(np.asarray(proprio, np.float32))[:, None]
    return model.encode(torch.as_tensor(frames)[:, None], p if model.spec.proprio_dim else None)[
        :, 0
    ]


def within(x, groups):
    return np.concatenate([g - g.mean(0) for g in np.split(x, groups)])


def r2(y, p):
    return 1 - ((y - p) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


for run in sys.argv[2:]:
    model, cfg, info = load_run(run)
    rng = np.random.default_rng(0)
    with torch.no_grad(), EpisodeFile(info.data.path) as f:
        tr, va = split_episodes(f.n_episodes, cfg.data.val_fraction)
        zs, ys = {}, {}
        for k, ids in (("tr", tr), ("va", va)):
            zl, yl = [], []
            for i in ids:
                ep = f.episode(int(i))
                rows = rng.choice(len(ep["pixels"]), 25, replace=False)
                props = ep["proprio"][rows] if "proprio" in ep else np.zeros((len(rows), 4))
                zl.append(encode(model, ep["pixels"][rows], props).numpy())
                st = ep["state"][rows]  # agent_pos, agent_vel, block_pos, block_angle, ...
                yl.append(np.c_[st[:, 0:2], st[:, 4:6], np.cos(st[:, 6]), np.sin(st[:, 6])])
            zs[k], ys[k] = np.concatenate(zl).astype(np.float64), np.concatenate(yl)
    mu, sd = zs["tr"].mean(0), zs["tr"].std(0) + 1e-8
    xt = np.c_[(zs["tr"] - mu) / sd, np.ones(len(zs["tr"]))]
    w = np.linalg.solve(xt.T @ xt + 1e-3 * len(xt) * np.eye(xt.shape[1]), xt.T @ ys["tr"])

    def read(z, mu=mu, sd=sd, w=w):
        return np.c_[(z - mu) / sd, np.ones(len(z))] @ w

    print(run, "readout held-out R²", dict(zip(NAMES, r2(ys["va"], read(zs["va"])).round(3))))
    P, T, Y = [], [], []
    with torch.no_grad():
        for start, acts, finals, states, p0, pf in eps:
            z0 = encode(model, start[None], p0[None])[None]  # (1, 1, D)
            zp = model.rollout(z0, torch.as_tensor(acts, dtype=torch.float32)[None])[0, :, -1]
            zt = encode(model, finals, pf)
            P.append(read(zp.double().numpy()))
            T.append(read(zt.double().numpy()))
            Y.append(states)
    groups = np.cumsum([len(y) for y in Y])[:-1]
    Y, P, T = (within(np.concatenate(x), groups) for x in (Y, P, T))
    print("  within-plan R², predicted final:", dict(zip(NAMES, r2(Y, P).round(3))))
    print("  within-plan R², true final frame:", dict(zip(NAMES, r2(Y, T).round(3))))
    corr = [np.corrcoef(Y[:, j], P[:, j])[0, 1] for j in range(Y.shape[1])]
    ratio = P.std(0) / Y.std(0)
    print("  within-plan correlation, predicted:", dict(zip(NAMES, np.round(corr, 3))))
    print("  within-plan std, predicted / true:", dict(zip(NAMES, ratio.round(2))), flush=True)
