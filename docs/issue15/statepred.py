"""Can this predictor learn push-t's contacts at all, given the true state instead of pixels?
python statepred.py DATA STEPS

The same transformer predictor (laptop size: dim 128, depth 3, 4 heads, history 3, rollout
4, frameskip 5) on the true state (pusher x, y, block x, y over the 512-unit table; cos, sin
of the block's angle), with a linear map in and out, trained with the teacher-forced +
rollout MSE on DATA's training episodes (the last 20% held out; pushes.py). Then
statediag.py's test: 30 seed-1 validation episodes x 48 scripted pushes of 25 raw steps,
rolled out from the true start state; within-plan correlation and spread ratio of the
predicted final state."""

import sys

import numpy as np
import torch
from pushes import fit_vector_predictor, scripted_pushes, within_plan
from valplan import validation_manifest

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.worlds import make

NAMES = ("pusher_x", "pusher_y", "block_x", "block_y", "cos", "sin")
torch.manual_seed(0)


def feats(agent, block, angle):  # (N, 2), (N, 2), (N,) -> (N, 6)
    return np.c_[agent / 512, block / 512, np.cos(angle), np.sin(angle)]


def world_feats(world):
    s = world.state()
    return feats(s["agent_pos"][None], s["block_pos"][None], s["block_angle"])[0]


data, steps = sys.argv[1], int(sys.argv[2])
with EpisodeFile(data) as f:
    tr, va = split_episodes(f.n_episodes, 0.2)
    S = {}
    for k, ids in (("tr", tr), ("va", va)):
        eps = [f.episode(int(i)) for i in ids]
        S[k] = (
            torch.tensor(
                np.stack(
                    [feats(e["state"][:, 0:2], e["state"][:, 4:6], e["state"][:, 6]) for e in eps]
                ),
                dtype=torch.float32,
            ),
            torch.tensor(np.stack([e["action"] for e in eps]), dtype=torch.float32),
        )
model, mu, sd = fit_vector_predictor(S, steps)

m = validation_manifest("push-t", 30)
world = make("push-t", image_size=m["image_size"], **m["params"])
world.reset(seed=0)
Y, P = [], []
for e, (_, acts, finals) in zip(m["episodes"], scripted_pushes(world, m["episodes"], world_feats)):
    world.set_sim_state(e["start"])
    x0 = (torch.tensor(world_feats(world)[None], dtype=torch.float32) - mu) / sd
    x = x0.expand(len(acts), 1, -1)
    P.append((model.roll(x, torch.tensor(acts, dtype=torch.float32)) * sd + mu).numpy())
    Y.append(np.stack(finals))
corr, spread = within_plan(Y, P)
print(data, steps, "within-plan correlation, predicted:", dict(zip(NAMES, corr.round(3))))
print("  within-plan std, predicted / true:", dict(zip(NAMES, spread.round(2))))
