"""Shared by statediag.py, statepred.py, hybridpred.py and ranking.py: scripted candidate
pushes from manifest starts, and a small vector predictor (the laptop predictor between a
linear map in and out) trained with the teacher-forced + rollout MSE."""

import math
import time

import numpy as np
import torch
from torch import nn

from physjepa.models.predictor import Predictor

FS, BLOCKS, CANDIDATES = 5, 5, 48  # frameskip, blocks per candidate, candidates per start
H, R = 3, 4  # the laptop preset's history and rollout
T = H + R


def scripted_pushes(world, entries, measure):
    """For each manifest entry: (start frame, action blocks (CANDIDATES, BLOCKS, 2 FS), a list
    of ``measure(world)`` after each candidate). Each candidate is the scripted policy with its
    own seed, played for BLOCKS * FS raw steps from the entry's start state."""
    out = []
    for e in entries:
        world.set_sim_state(e["start"])
        start = world.render()
        acts, measured = [], []
        for c in range(CANDIDATES):
            world.set_sim_state(e["start"])
            world._plan = None  # the scripted policy's private push plan starts afresh
            rng = np.random.default_rng([e["index"], c])
            seq = [world.scripted_action(rng) for _ in range(FS * BLOCKS)]
            for a in seq:
                world.advance(a)
            acts.append(np.concatenate(seq).reshape(BLOCKS, FS * 2))
            measured.append(measure(world))
        out.append((start, np.stack(acts), measured))
    return out


class VectorPredictor(nn.Module):
    """Predicts the next normalised vector (D,) from up to H of them and their action blocks."""

    def __init__(self, d: int):
        super().__init__()
        self.inp, self.out = nn.Linear(d, 128), nn.Linear(128, d)
        self.pred = Predictor(128, 2 * FS, H, 3, 4, 4, 0.1)

    def step(self, s, a):  # s (B, t, D) normalised, a (B, t, A) -> next (B, t, D)
        return s + self.out(self.pred(self.inp(s), a) - self.inp(s))

    @torch.no_grad()
    def roll(self, x0, acts):
        """x0 (C, 1, D) normalised start, acts (C, BLOCKS, A) -> the final vector (C, D)."""
        ctx, a_ctx = x0, acts[:, :0]
        for k in range(acts.shape[1]):
            a_ctx = torch.cat([a_ctx, acts[:, k : k + 1]], 1)[:, -H:]
            ctx = torch.cat([ctx, self.step(ctx[:, -H:], a_ctx)[:, -1:]], 1)
        return ctx[:, -1]


def fit_vector_predictor(S, steps):
    """S = {"tr": (x (E, N, D), raw actions (E, N, 2)), ...}: every dimension normalised by its
    training std, windows of T model steps from any start frame, batch 128, AdamW at 1e-3 with
    a cosine decay to a tenth. Returns (model in eval mode, mu, sd)."""
    d = S["tr"][0].shape[-1]
    mu = S["tr"][0].reshape(-1, d).mean(0)
    sd = S["tr"][0].reshape(-1, d).std(0) + 1e-6
    model, span = VectorPredictor(d), T * FS

    def windows(ie, st):
        s, a = S["tr"]
        fr = st[:, None] + FS * torch.arange(T)[None]
        sw = (s[ie[:, None], fr] - mu) / sd
        aw = a[ie[:, None], st[:, None] + torch.arange(span)[None]].reshape(len(st), T, -1)
        return sw, aw

    g = torch.Generator().manual_seed(0)
    e, n = S["tr"][0].shape[:2]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    t0 = time.perf_counter()
    for i in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * i / steps)))
        sw, aw = windows(
            torch.randint(0, e, (128,), generator=g),
            torch.randint(0, n - span + 1, (128,), generator=g),
        )
        pred = model.step(sw[:, :H], aw[:, :H])
        lp = (pred - sw[:, 1 : H + 1]).pow(2).mean()
        ctx, outs = torch.cat([sw[:, 1:H], pred[:, -1:]], 1), []
        for k in range(1, R):
            nxt = model.step(ctx, aw[:, k : k + H])[:, -1]
            outs.append(nxt)
            ctx = torch.cat([ctx[:, 1:], nxt[:, None]], 1)
        lr_ = (torch.stack(outs, 1) - sw[:, H + 1 :]).pow(2).mean()
        opt.zero_grad()
        (lp + lr_).backward()
        opt.step()
        if (i + 1) % max(1, steps // 4) == 0:
            print(f"step {i + 1}: train {lp.item():.4f} {lr_.item():.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    return model.eval(), mu, sd


def within_plan(truth, pred):
    """Lists of (C, K) arrays per start -> (correlation per column, spread ratio per column)
    of the deviations from each start's mean."""
    y = np.concatenate([t - t.mean(0) for t in truth])
    p = np.concatenate([q - q.mean(0) for q in pred])
    corr = np.array([np.corrcoef(y[:, j], p[:, j])[0, 1] for j in range(y.shape[1])])
    return corr, p.std(0) / y.std(0)
