"""Diagnostic: the true simulator as the dynamics, the model's latent distance as the cost.

[COST=latent|encoder|keypoints|pixels] python truedyn.py RUN N: the validation manifest (seed
1) of valplan.py, the default budget. COST=keypoints ranks by the squared distance of the
keypoint encoder's own keypoints (before its head), encoder by its output (before the
projector), pixels by the frames' squared difference.
If this plans as well as the oracle, the latent cost is sound and the predictor is the
limit; if it plans as badly as the model, the representation (the cost) is."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from valplan import validation_manifest

from physjepa.metrics.closed_loop import _goal_of, run_episode, summarise
from physjepa.planning.cost import _reduce
from physjepa.planning.mpc import SimulatorPolicy
from physjepa.planning.registry import build_planner
from physjepa.training.checkpoint import load_run
from physjepa.worlds import make

COST = os.environ.get("COST", "latent")


def _embedding(model):
    """Frames (N, H, W, 3) -> (N, D) vectors whose squared distance is the cost."""
    if COST == "keypoints":
        return lambda x: model.encoder.keypoints(x).flatten(1)
    if COST == "encoder":  # the encoder's output, before the projector
        return lambda x: model.encoder(x)
    if COST == "pixels":
        return lambda x: x.float().flatten(1) / 255.0
    return lambda x: model.encode_pixels(x[:, None])[:, 0]  # what the planning cost compares


class LatentCostOracle(SimulatorPolicy):
    def __init__(self, model, *a, **k):
        super().__init__(*a, **k)
        self.model = model

    def cost_now(self, obs, goal_obs):
        sim, start, fs = self.sim, self.world.sim_state(), self.frameskip
        embed = _embedding(self.model)
        with torch.no_grad():
            zg = embed(torch.as_tensor(goal_obs)[None])[0]

        def cost(actions):
            s, t, a = actions.shape
            raw = actions.detach().cpu().double().numpy().reshape(s, t, fs, a // fs)
            frames = np.empty((s, t, *obs.shape), np.uint8)
            for i in range(s):
                sim.set_sim_state(start)
                for j in range(t):
                    for k in range(fs):
                        sim.advance(raw[i, j, k])
                    frames[i, j] = sim.render()
            with torch.no_grad():
                z = embed(torch.as_tensor(frames).flatten(0, 1)).view(s, t, -1)
            return _reduce((z - zg).pow(2).sum(-1), actions, self.objective, 0.0)

        return cost


if __name__ == "__main__":
    run, n = Path(sys.argv[1]), int(sys.argv[2])
    model, cfg, info = load_run(run)
    model.eval()
    wname = info.data.world
    m = validation_manifest(wname, n, int(model.spec.obs_shape[0]))  # at the run's frame size
    world = make(wname, image_size=m["image_size"], **m["params"])
    world.reset(seed=0)
    fs = cfg.data.frameskip
    low = torch.as_tensor(np.tile(world.action_space.low, fs), dtype=torch.float32)
    high = torch.as_tensor(np.tile(world.action_space.high, fs), dtype=torch.float32)
    res = []
    for e in m["episodes"][:n]:
        planner = build_planner("cem", low, high)
        pol = LatentCostOracle(model, world, _goal_of(world, e), planner, fs)
        res.append(run_episode(world, pol, e, m["budget"]))
    row = {k: v for k, v in summarise(res).items() if k in ("success_rate", "final_distance_mean")}
    name = "truedyn-val.json" if COST == "latent" else f"truedyn-val-{COST}.json"
    (run / name).write_text(json.dumps(row) + "\n")
    print(run, f"true dynamics + {COST} cost", json.dumps(row), flush=True)
