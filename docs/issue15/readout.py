"""Plan with a keypoint readout as the cost, on the validation manifest (seed 1).

    [READOUT=linear|mlp] python readout.py RUN N

The keypoint encoder's own keypoints (before its head) weigh the T's turn as geometry does:
``truedyn.py`` with ``COST=keypoints`` plans 0.40 where the latent distance plans 0.13. The
predictor predicts latents, not keypoints, so this fits a readout latent -> keypoints on the
run's training frames (the encoder's own features: no simulator state involved), reports its
held-out R², and plans with ``|R(z_pred) - R(z_goal)|^2`` in place of the latent distance.
Writes RUN/plan-val-readout-<kind>.json."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from valplan import validation_manifest

import physjepa.planning.policy as policy_mod
from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.metrics.closed_loop import evaluate_planning
from physjepa.planning.cost import _reduce
from physjepa.training.checkpoint import load_run

KIND = os.environ.get("READOUT", "linear")


@torch.no_grad()
def frames_and_targets(model, cfg, info, per_episode: int = 25):
    key = info.data.obs_key
    rng = np.random.default_rng(0)
    with EpisodeFile(info.data.path) as f:
        tr, va = split_episodes(f.n_episodes, cfg.data.val_fraction)
        out = []
        for ids in (tr, va):
            zs, kps = [], []
            for e in ids:
                x = f.episode(int(e))[key]
                x = torch.as_tensor(x[rng.choice(len(x), per_episode, replace=False)])
                zs.append(model.encode(x[:, None])[:, 0])
                kps.append(model.encoder.keypoints(x).flatten(1))
            out.append((torch.cat(zs), torch.cat(kps)))
    return out


def fit(z, kp, kind):
    if kind == "linear":
        zc = torch.cat([z, torch.ones(len(z), 1)], 1).double()
        eye = torch.eye(zc.shape[1]).double()
        w = torch.linalg.solve(zc.T @ zc + 1e-3 * eye, zc.T @ kp.double()).float()
        return lambda q: torch.cat([q, torch.ones(*q.shape[:-1], 1)], -1) @ w
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(z.shape[1], 256), torch.nn.GELU(), torch.nn.Linear(256, kp.shape[1])
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(3000):
        i = torch.randint(len(z), (512,))
        loss = (net(z[i]) - kp[i]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return net


def r2(pred, y):
    return float(1 - (pred - y).pow(2).sum() / (y - y.mean(0)).pow(2).sum())


if __name__ == "__main__":
    run, n = Path(sys.argv[1]), int(sys.argv[2])
    model, cfg, info = load_run(run)
    model.eval()
    (ztr, ktr), (zva, kva) = frames_and_targets(model, cfg, info)
    R = fit(ztr, ktr, KIND)
    with torch.no_grad():
        fit_r2 = {"train": r2(R(ztr), ktr), "held_out": r2(R(zva), kva)}
    print("readout R2", fit_r2, flush=True)

    def readout_cost(model, z_hist, past, z_goal, objective="sum", action_weight=0.0):
        with torch.no_grad():
            g = R(z_goal)

        def cost(actions):
            z = model.rollout(z_hist[None], actions[None], past[None])[0]  # (S, T, D)
            return _reduce((R(z) - g).pow(2).sum(-1), actions, objective, action_weight)

        return cost

    policy_mod.latent_cost = readout_cost
    world = info.data.world
    res, _ = evaluate_planning(
        model, world, info.data.params, cfg.data.frameskip, episodes=n, seed=0,
        baselines=(), record=0, manifest=validation_manifest(world, n),
    )  # fmt: skip
    keys = ("success_rate", "final_distance_mean", "ms_per_plan")
    row = {k: res["results"]["model"][k] for k in keys}
    row["readout_r2"] = fit_r2
    (run / f"plan-val-readout-{KIND}.json").write_text(json.dumps(row, indent=2) + "\n")
    print(run, KIND, json.dumps(row), flush=True)
