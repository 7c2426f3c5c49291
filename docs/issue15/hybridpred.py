"""Does the pusher's true position, given beside the latent, let the predictor learn the
block's contacts?  [PROPRIO=1] python hybridpred.py RUN DATA STEPS

statepred.py's predictor and test, but the frame is the run's frozen latent (its encoder on
the pixels), with the pusher's true (x, y) appended when PROPRIO=1 (as a robot knows its own
effector), a linear map in and out, every dimension normalised by its training std. The
block's final position is read from the predicted latent part by statediag.py's linear
readout (fitted on training frames); within-plan correlation and spread ratio as there."""

import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from valplan import validation_manifest

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.models.predictor import Predictor
from physjepa.training.checkpoint import load_run
from physjepa.worlds import make

FS, H, R, BLOCKS, CANDIDATES = 5, 3, 4, 5, 48
T = H + R
PROPRIO = os.environ.get("PROPRIO") == "1"
torch.manual_seed(0)
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
run, data, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
enc, cfg, _ = load_run(run)
enc.eval()


@torch.no_grad()
def frame_feats(pixels, agent):  # (N, H, W, 3), (N, 2) -> (N, D [+ 2])
    z = torch.cat([enc.encode(torch.as_tensor(pixels[i : i + 512])[:, None])[:, 0]
                   for i in range(0, len(pixels), 512)])  # fmt: skip
    return torch.cat([z, torch.as_tensor(agent / 512, dtype=torch.float32)], 1) if PROPRIO else z


S, Z, B = {}, [], []
with EpisodeFile(data) as f:
    tr, va = split_episodes(f.n_episodes, 0.2)
    for k, ids in (("tr", tr), ("va", va)):
        xs, acts = [], []
        for i in ids:
            e = f.episode(int(i))
            xs.append(frame_feats(e["pixels"], e["state"][:, 0:2]))
            acts.append(torch.as_tensor(e["action"], dtype=torch.float32))
            if k == "tr":
                Z.append(xs[-1][::4, : cfg.model.dim])
                B.append(e["state"][::4, 4:6])
        S[k] = (torch.stack(xs), torch.stack(acts))
D = S["tr"][0].shape[-1]
ZD = D - 2 if PROPRIO else D
Zr = torch.cat(Z)[:, :ZD].double().numpy()
Br = np.concatenate(B)
zmu, zsd = Zr.mean(0), Zr.std(0) + 1e-8
xr = np.c_[(Zr - zmu) / zsd, np.ones(len(Zr))]
w_read = np.linalg.solve(xr.T @ xr + 1e-3 * len(xr) * np.eye(xr.shape[1]), xr.T @ Br)
mu = S["tr"][0].reshape(-1, D).mean(0)
sd = S["tr"][0].reshape(-1, D).std(0) + 1e-6


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.out = nn.Linear(D, 128), nn.Linear(128, D)
        self.pred = Predictor(128, 2 * FS, H, 3, 4, 4, 0.1)

    def step(self, s, a):
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
    if (i + 1) % max(1, steps // 4) == 0:
        print(f"step {i + 1}: train {lp.item():.4f} {lr_.item():.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
model.eval()
torch.save(model.state_dict(), f"/tmp/i15/hybrid-{int(PROPRIO)}.pt")

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
        finals.append(world.state()["block_pos"])
    world.set_sim_state(e["start"])
    x0 = frame_feats(world.render()[None], world.state()["agent_pos"][None].astype(np.float64))
    x = ((x0 - mu) / sd).expand(CANDIDATES, 1, D)
    a = torch.tensor(np.stack(acts), dtype=torch.float32)
    with torch.no_grad():
        ctx, acts_ctx = x, torch.zeros(CANDIDATES, 0, 2 * FS)
        for k in range(BLOCKS):
            acts_ctx = torch.cat([acts_ctx, a[:, k : k + 1]], 1)[:, -H:]
            ctx = torch.cat([ctx, model.step(ctx[:, -H:], acts_ctx)[:, -1:]], 1)
    zf = (ctx[:, -1] * sd + mu)[:, :ZD].double().numpy()
    P.append(np.c_[(zf - zmu) / zsd, np.ones(len(zf))] @ w_read)
    Y.append(np.stack(finals))
Yc = np.concatenate([y - y.mean(0) for y in Y])
Pc = np.concatenate([p - p.mean(0) for p in P])
corr = [np.corrcoef(Yc[:, j], Pc[:, j])[0, 1] for j in range(2)]
print(run, "proprio" if PROPRIO else "latent only", steps,
      "within-plan block correlation (x, y):", np.round(corr, 3),
      "spread ratio:", (Pc.std(0) / Yc.std(0)).round(2))  # fmt: skip

if os.environ.get("PLAN"):
    import physjepa.metrics.closed_loop as cl
    import physjepa.planning.policy as policy_mod
    from physjepa.metrics.closed_loop import evaluate_planning
    from physjepa.planning.cost import _reduce

    worlds = []
    _make = cl.make

    def make_and_keep(*a, **k):
        worlds.append(_make(*a, **k))
        return worlds[-1]

    cl.make = make_and_keep

    class Hybrid(nn.Module):
        """The planner's view: encode(pixels) -> the normalised [latent, pusher] of now."""

        def __init__(self):
            super().__init__()
            self.m, self.enc, self.spec, self.history = model, enc, enc.spec, H

        def encode(self, x):
            agent = worlds[0].state()["agent_pos"][None].astype(np.float64)
            return ((frame_feats(x[0].cpu().numpy(), agent) - mu) / sd)[None]

        def rollout(self, z_hist, actions, past_actions=None):
            b, s_, t, adim = actions.shape
            ctx = z_hist[0][None].expand(s_, -1, -1)
            acts = past_actions[0][None].expand(s_, -1, -1)
            outs = []
            for k in range(t):
                acts = torch.cat([acts, actions[0][:, k : k + 1]], 1)
                c = ctx[:, -H:]
                nxt = self.m.step(c, acts[:, -c.shape[1] :])[:, -1]
                outs.append(nxt)
                ctx = torch.cat([ctx, nxt[:, None]], 1)
            return torch.stack(outs, 1)[None]

    def latent_part_cost(model_, z_hist, past, z_goal, objective="sum", action_weight=0.0):
        g = (z_goal * sd + mu)[:ZD]

        def cost(actions):
            z = model_.rollout(z_hist[None], actions[None], past[None])[0]  # (S, T, D)
            dist = ((z * sd + mu)[..., :ZD] - g).pow(2).sum(-1)
            return _reduce(dist, actions, objective, action_weight)

        return cost

    policy_mod.latent_cost = latent_part_cost
    n = int(os.environ["PLAN"])
    with torch.no_grad():
        res, _ = evaluate_planning(
            Hybrid().eval(), "push-t", m["params"], FS, episodes=n, seed=0, baselines=(),
            record=0, manifest=validation_manifest("push-t", n),
        )  # fmt: skip
    r_ = res["results"]["model"]
    print("PLAN", "proprio" if PROPRIO else "latent only", n, "episodes: success",
          r_["success_rate"], "final distance", round(r_["final_distance_mean"], 1),
          "ms/plan", round(r_["ms_per_plan"], 1), flush=True)  # fmt: skip
