"""Does the pusher's true position, given beside the latent, let the predictor learn the
block's contacts?  [PROPRIO=1] python hybridpred.py RUN DATA STEPS

statepred.py's predictor and test (pushes.py), but the frame is the run's frozen latent
(its encoder on the pixels), with the pusher's true (x, y) appended when PROPRIO=1 (as a
robot knows its own effector), a linear map in and out, every dimension normalised by its
training std. The block's final position is read from the predicted latent part by
statediag.py's linear readout (fitted on training frames); within-plan correlation and
spread ratio as there.
PLAN=N then plans N seed-1 validation episodes in closed loop at the default budget with it
(the latent part's squared distance to the goal frame's as the cost; the pusher's position
read from the simulator at each step) and prints the success rate."""

import os
import sys

import numpy as np
import torch
from pushes import FS, H, fit_vector_predictor, scripted_pushes, within_plan
from torch import nn
from valplan import validation_manifest

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.training.checkpoint import load_run
from physjepa.worlds import make

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
model, mu, sd = fit_vector_predictor(S, steps)
torch.save(model.state_dict(), f"/tmp/i15/hybrid-{int(PROPRIO)}.pt")

m = validation_manifest("push-t", 30)
world = make("push-t", image_size=m["image_size"], **m["params"])
world.reset(seed=0)
Y, P = [], []
pushes = scripted_pushes(world, m["episodes"], lambda w: w.state()["block_pos"])
for e, (start, acts, finals) in zip(m["episodes"], pushes):
    world.set_sim_state(e["start"])
    x0 = frame_feats(start[None], world.state()["agent_pos"][None].astype(np.float64))
    x = ((x0 - mu) / sd).expand(len(acts), 1, D)
    final = model.roll(x, torch.tensor(acts, dtype=torch.float32))
    zf = (final * sd + mu)[:, :ZD].double().numpy()
    P.append(np.c_[(zf - zmu) / zsd, np.ones(len(zf))] @ w_read)
    Y.append(np.stack(finals))
corr, spread = within_plan(Y, P)
print(run, "proprio" if PROPRIO else "latent only", steps,
      "within-plan block correlation (x, y):", corr.round(3),
      "spread ratio:", spread.round(2))  # fmt: skip

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
