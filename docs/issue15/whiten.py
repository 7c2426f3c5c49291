"""A whitened planning cost: [MODE=step|state] [LAM=0.1] [EPS=300] python whiten.py RUN N [true]

The latent distance to the goal measured in units of how the latent moves: W = (S + lam *
tr(S) / D * I)^(-1/2), S the covariance of the encoder part's change over one action block
(MODE=step: ``frameskip`` raw frames) or of the latent itself (MODE=state), from the first EPS
episodes of the run's training data (never the manifests). The planner then ranks by
|W (z - z_goal)|^2. A direction the action moves fast (the pusher) counts less; one that
moves rarely (the block, its angle) counts more.

Plans the seed-1 validation manifest of valplan.py (N episodes, default budget) with the model,
and with ``true`` also with the true simulator (truedyn.py) under the same cost. Writes
RUN/whiten-MODE.json."""

import json
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
import truedyn
from valplan import plan_validation, validation_manifest

import physjepa.planning.policy as policy_mod
from physjepa.metrics.closed_loop import _goal_of, run_episode, summarise
from physjepa.planning.cost import _reduce
from physjepa.planning.registry import build_planner
from physjepa.training.checkpoint import load_run
from physjepa.training.cost_metric import step_whitener, whitener
from physjepa.worlds import make

MODE = os.environ.get("MODE", "step")
LAM = float(os.environ.get("LAM", "0.1"))
EPS = int(os.environ.get("EPS", "300"))


def fit(model, path: Path, fs: int) -> torch.Tensor:
    with h5py.File(path, "r") as f:
        off, ln = f["ep_offset"][:EPS], f["ep_len"][:EPS]
        zs = []
        with torch.no_grad():
            for o, n in zip(off, ln, strict=True):
                x = torch.as_tensor(f["pixels"][o : o + n])
                zs.append(model.encode_pixels(x[None])[0].double())
    if MODE == "step":
        return step_whitener(zs, fs, LAM)
    return whitener(torch.cat(zs), LAM)


if __name__ == "__main__":
    run, n, true = Path(sys.argv[1]), int(sys.argv[2]), "true" in sys.argv[3:]
    model, cfg, info = load_run(run)
    model.eval()
    fs = cfg.data.frameskip
    W = fit(model, Path(info.data.path), fs)

    def latent_cost(model, z_hist, past_actions, z_goal, objective="sum", action_weight=0.0):
        g = z_goal @ W

        def cost(actions):
            z = model.rollout(z_hist[None], actions[None], past_actions[None])[0]
            dist = (model.cost_part(z) @ W - g).pow(2).sum(dim=-1)
            return _reduce(dist, actions, objective, action_weight)

        return cost

    policy_mod.latent_cost = latent_cost
    world_name = info.data.world
    m = validation_manifest(world_name, n, int(model.spec.obs_shape[0]))
    out = {"model": plan_validation(model, cfg, info, n)["model"]}
    print(run, MODE, LAM, "model", json.dumps(out["model"]), flush=True)
    if true:
        base = truedyn._embedding(model)
        truedyn._embedding = lambda _m: lambda x: base(x) @ W
        world = make(world_name, image_size=m["image_size"], **m["params"])
        world.reset(seed=0)
        low = torch.as_tensor(np.tile(world.action_space.low, fs), dtype=torch.float32)
        high = torch.as_tensor(np.tile(world.action_space.high, fs), dtype=torch.float32)
        rows = []
        for e in m["episodes"][:n]:
            pol = truedyn.LatentCostOracle(
                model, world, _goal_of(world, e), build_planner("cem", low, high), fs
            )
            rows.append(run_episode(world, pol, e, m["budget"]))
        out["true"] = {
            k: v for k, v in summarise(rows).items() if k in ("success_rate", "final_distance_mean")
        }
        print(run, MODE, LAM, "true dynamics", json.dumps(out["true"]), flush=True)
    (run / f"whiten-{MODE}-{LAM}.json").write_text(json.dumps(out, indent=1) + "\n")
