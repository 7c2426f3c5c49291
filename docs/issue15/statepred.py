"""Can this predictor learn push-t's contacts at all, given the true state instead of pixels?
python statepred.py DATA STEPS

The same transformer predictor (laptop size: dim 128, depth 3, 4 heads, history 3, rollout
4, frameskip 5) on the true state (pusher x, y, block x, y over the 512-unit table; cos, sin
of the block's angle), with a linear map in and out, trained with the teacher-forced +
rollout MSE on DATA's training episodes (the last 20% held out). Then statediag.py's test:
30 seed-1 validation episodes x 48 scripted pushes of 25 raw steps, rolled out from the true
start state; within-plan correlation and spread ratio of the predicted final state."""

import math
import sys
import time

import numpy as np
import torch
from torch import nn
from valplan import validation_manifest

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.models.predictor import Predictor
from physjepa.worlds import make

FS, H, R, BLOCKS, CANDIDATES = 5, 3, 4, 5, 48
NAMES = ("pusher_x", "pusher_y", "block_x", "block_y", "cos", "sin")
T = H + R
torch.manual_seed(0)


def feats(st):  # (N, 11) file state -> (N, 6)
    return np.c_[st[:, 0:2] / 512, st[:, 4:6] / 512, np.cos(st[:, 6]), np.sin(st[:, 6])]


data, steps = sys.argv[1], int(sys.argv[2])
with EpisodeFile(data) as f:
    tr, va = split_episodes(f.n_episodes, 0.2)
    S = {}
    for k, ids in (("tr", tr), ("va", va)):
        eps = [f.episode(int(i)) for i in ids]
        S[k] = (
            torch.tensor(np.stack([feats(e["state"]) for e in eps]), dtype=torch.float32),
            torch.tensor(np.stack([e["action"] for e in eps]), dtype=torch.float32),
        )
mu = S["tr"][0].reshape(-1, 6).mean(0)
sd = S["tr"][0].reshape(-1, 6).std(0)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.out = nn.Linear(6, 128), nn.Linear(128, 6)
        self.pred = Predictor(128, 2 * FS, H, 3, 4, 4, 0.1)

    def step(self, s, a):  # s (B, t, 6) normalised, a (B, t, A) -> next (B, t, 6)
        return s + self.out(self.pred(self.inp(s), a) - self.inp(s))


model = Model()
span = T * FS


def windows(split, ie, st):
    s, a = S[split]
    fr = st[:, None] + FS * torch.arange(T)[None]
    sw = (s[ie[:, None], fr] - mu) / sd
    aw = a[ie[:, None], st[:, None] + torch.arange(span)[None]].reshape(len(st), T, -1)
    return sw, aw


def losses(sw, aw):
    pred = model.step(sw[:, :H], aw[:, :H])
    lp = (pred - sw[:, 1 : H + 1]).pow(2).mean()
    ctx, outs = torch.cat([sw[:, 1:H], pred[:, -1:]], 1), []
    for k in range(1, R):
        nxt = model.step(ctx, aw[:, k : k + H])[:, -1]
        outs.append(nxt)
        ctx = torch.cat([ctx[:, 1:], nxt[:, None]], 1)
    return lp, (torch.stack(outs, 1) - sw[:, H + 1 :]).pow(2).mean()


g = torch.Generator().manual_seed(0)
E, N = S["tr"][0].shape[:2]
ev = torch.randint(0, S["va"][0].shape[0], (2048,), generator=g)
es = torch.randint(0, N - span + 1, (2048,), generator=g)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
t0 = time.perf_counter()
for i in range(steps):
    for grp in opt.param_groups:
        grp["lr"] = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * i / steps)))
    lp, lr_ = losses(*windows("tr", torch.randint(0, E, (128,), generator=g),
                              torch.randint(0, N - span + 1, (128,), generator=g)))  # fmt: skip
    opt.zero_grad()
    (lp + lr_).backward()
    opt.step()
    if (i + 1) % max(1, steps // 6) == 0:
        model.eval()
        with torch.no_grad():
            vp, vr = losses(*windows("va", ev, es))
        model.train()
        print(f"step {i + 1}: train {lp.item():.4f} {lr_.item():.4f}, held-out {vp.item():.4f} "
              f"{vr.item():.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
model.eval()

m = validation_manifest("push-t", 30)
world = make("push-t", image_size=m["image_size"], **m["params"])
world.reset(seed=0)
Y, P = [], []
for e in m["episodes"]:
    acts, finals = [], []
    for c in range(CANDIDATES):
        world.set_sim_state(e["start"])
        world._plan = None
        rng = np.random.default_rng([e["index"], c])
        seq = [world.scripted_action(rng) for _ in range(FS * BLOCKS)]
        for a in seq:
            world.advance(a)
        acts.append(np.concatenate(seq).reshape(BLOCKS, FS * 2))
        s = world.state()
        finals.append(np.concatenate([s[k] for k in ("agent_pos", "agent_vel", "block_pos",
                                                     "block_angle")])[None])  # fmt: skip
    world.set_sim_state(e["start"])
    s = world.state()
    s0 = np.concatenate([s[k] for k in ("agent_pos", "agent_vel", "block_pos", "block_angle")])
    x = ((torch.tensor(feats(s0[None]), dtype=torch.float32) - mu) / sd).expand(CANDIDATES, 1, 6)
    a = torch.tensor(np.stack(acts), dtype=torch.float32)
    with torch.no_grad():
        ctx, acts_ctx = x, torch.zeros(CANDIDATES, 0, 2 * FS)
        for k in range(BLOCKS):
            acts_ctx = torch.cat([acts_ctx, a[:, k : k + 1]], 1)[:, -H:]
            nxt = model.step(ctx[:, -H:], acts_ctx)[:, -1]
            ctx = torch.cat([ctx, nxt[:, None]], 1)
    P.append((ctx[:, -1] * sd + mu).numpy())
    y = feats(np.concatenate(finals))
    Y.append(y)
Yc = np.concatenate([y - y.mean(0) for y in Y])
Pc = np.concatenate([p - p.mean(0) for p in P])
corr = [np.corrcoef(Yc[:, j], Pc[:, j])[0, 1] for j in range(6)]
print(data, steps, "within-plan correlation, predicted:", dict(zip(NAMES, np.round(corr, 3))))
print("  within-plan std, predicted / true:", dict(zip(NAMES, (Pc.std(0) / Yc.std(0)).round(2))))
