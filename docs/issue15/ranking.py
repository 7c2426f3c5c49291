"""Does the model rank candidate pushes like the simulator does? [VAL=30] ranking.py RUN...

For each of the first 20 push-t manifest episodes (VAL=N: N episodes of the seed-1
validation manifest instead): 48 candidate action sequences of 25 raw
steps (5 blocks), each the scripted policy with its own seed (so most of them push the block),
played in the simulator from the start state. Spearman correlation, over the candidates,
between the true final goal_distance and (a) the latent cost of the *true* final frame
(encoder only) and (b) the latent cost of the model's *predicted* final latent (rollout from
the start frame, as the planner does at an episode's first step); and (c) between the
true final frame's latent cost and the pusher's distance to where it stood in the goal
frame (which the task distance ignores); (d) between the predicted and the true final
frame's latent costs (the predictor's fidelity where the planner needs it). Medians over
episodes.
"""

import os
import sys

import numpy as np
import torch
from pushes import scripted_pushes

from physjepa.planning.manifest import load_manifest
from physjepa.training.checkpoint import load_run
from physjepa.worlds import make


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return np.corrcoef(ra, rb)[0, 1]


if os.environ.get("VAL"):
    from valplan import validation_manifest

    m = validation_manifest("push-t", int(os.environ["VAL"]))
else:
    m = load_manifest("push-t")
world = make("push-t", image_size=m["image_size"], **m["params"])
world.reset(seed=0)
episodes = []
for e in m["episodes"][: int(os.environ.get("VAL", 20))]:
    world.set_sim_state(e["goal"])
    goal = world.goal_here()
    pusher_goal = e["goal"]["agent_pos"]
    ((start_obs, acts, measured),) = scripted_pushes(
        world,
        [e],
        lambda w, goal=goal, pusher_goal=pusher_goal: (
            w.render(),
            w.goal_distance(goal),
            np.hypot(*np.subtract(w.sim_state()["agent_pos"], pusher_goal)),
        ),
    )
    finals, dists, pushers = (np.array(x) for x in zip(*measured))
    episodes.append((goal.obs, start_obs, acts, finals, dists, pushers))

for run in sys.argv[1:]:
    model, _, _ = load_run(run)
    enc, pred, push, fid = [], [], [], []
    with torch.no_grad():
        for goal_obs, start_obs, acts, finals, dists, pushers in episodes:
            if np.ptp(dists) < 1e-6:
                continue
            z_goal = model.encode(torch.as_tensor(goal_obs)[None, None])[0, 0]
            z0 = model.encode(torch.as_tensor(start_obs)[None, None])[:, :1]  # (1, 1, D)
            z_true = model.encode(torch.as_tensor(finals)[:, None])[:, 0]
            z_pred = model.rollout(z0, torch.as_tensor(acts, dtype=torch.float32)[None])[0, :, -1]
            enc.append(spearman((z_true - z_goal).pow(2).sum(-1).numpy(), dists))
            push.append(spearman((z_true - z_goal).pow(2).sum(-1).numpy(), pushers))
            pred.append(spearman((z_pred - z_goal).pow(2).sum(-1).numpy(), dists))
            fid.append(
                spearman(
                    (z_pred - z_goal).pow(2).sum(-1).numpy(),
                    (z_true - z_goal).pow(2).sum(-1).numpy(),
                )
            )
    print(
        run,
        f"spearman with the true final distance, median over {len(enc)} episodes: "
        f"encoder (true final frame) {np.median(enc):.2f}, "
        f"predictor (rollout) {np.median(pred):.2f}; "
        f"true frame's cost with the pusher's distance to its goal place {np.median(push):.2f}; "
        f"predicted cost with the true frame's cost {np.median(fid):.2f}",
    )
