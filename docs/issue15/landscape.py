"""Does the latent cost rank push-t states like the task distance does? landscape.py RUN...

For each of the first 20 manifest episodes: 30 states with the pusher where it starts and
the block at start + a (goal - start) + noise (a in [0, 1]), skipping invalid ones. Reports
the median over episodes of the Spearman correlation between the latent cost to the goal
frame (squared L2, as the planner's) and ``goal_distance``; and the median of
cost(block at the goal pose, pusher where it starts) / cost(start): the share of the start's
cost that the pusher's position alone keeps when the block is already right.
"""

import sys

import numpy as np
import torch

from physjepa.planning.manifest import load_manifest
from physjepa.training.checkpoint import load_run
from physjepa.worlds import make


def ranks(x):
    return np.argsort(np.argsort(x))


m = load_manifest("push-t")
for run in sys.argv[1:]:
    model, _, _ = load_run(run)
    world = make("push-t", image_size=m["image_size"], **m["params"])
    world.reset(seed=0)
    rng = np.random.default_rng(0)
    rhos, shares = [], []
    for e in m["episodes"][:20]:
        start, goal_s = e["start"], e["goal"]
        world.set_sim_state(goal_s)
        goal = world.goal_here()
        frames, dists = [], []
        for _ in range(30):
            a = rng.uniform(0, 1)
            s = {k: list(v) for k, v in start.items()}
            for k in ("block_pos", "block_angle"):
                s[k] = [
                    x + a * (g - x) + rng.normal(0, 10 if k == "block_pos" else 0.1)
                    for x, g in zip(start[k], goal_s[k])
                ]
            if world.valid_sim_state(s):
                world.set_sim_state(s)
                frames.append(world.render())
                dists.append(world.goal_distance(goal))
        s = {k: list(v) for k, v in goal_s.items()}
        s["agent_pos"] = list(start["agent_pos"])
        world.set_sim_state(start)
        extra = [world.render()]
        if world.valid_sim_state(s):
            world.set_sim_state(s)
            extra.append(world.render())
        with torch.no_grad():
            x = torch.as_tensor(np.stack([goal.obs, *frames, *extra]))[:, None]
            z = model.encode(x)[:, 0]
        cost = (z - z[0]).pow(2).sum(-1).numpy()
        if len(frames) > 5:
            rhos.append(np.corrcoef(ranks(cost[1 : 1 + len(frames)]), ranks(dists))[0, 1])
        if len(extra) == 2:
            shares.append(cost[-1] / cost[-2])
    print(
        run,
        f"spearman(latent cost, goal distance) median {np.median(rhos):.2f} "
        f"over {len(rhos)} episodes;",
        f"pusher-only share of the start cost median {np.median(shares):.2f} ({len(shares)} eps)",
    )
