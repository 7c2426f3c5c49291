"""Oracle-only success on the first N manifest episodes (no model: the simulator plans).

python oracle.py WORLD N SAMPLES ITERATIONS ELITES HORIZON [setting=value ...]
"""

import sys
import time

import numpy as np
import torch

from physjepa.metrics.closed_loop import _goal_of, run_episode
from physjepa.planning.manifest import load_manifest
from physjepa.planning.mpc import SimulatorPolicy
from physjepa.planning.registry import build_planner
from physjepa.worlds import make

torch.set_num_threads(1)
world_name, n = sys.argv[1], int(sys.argv[2])
samples, iters, elites, horizon = map(int, sys.argv[3:7])
extra = {k: float(v) for k, v in (x.split("=") for x in sys.argv[7:])}
fs = 5
m = load_manifest(world_name)
world = make(world_name, image_size=m["image_size"], **m["params"])
world.reset(seed=0)
low = torch.tensor(np.tile(world.action_space.low, fs))
high = torch.tensor(np.tile(world.action_space.high, fs))
settings = {"samples": samples, "iterations": iters, "elites": elites, **extra}
ok, t0 = [], time.time()
for e in m["episodes"][:n]:
    planner = build_planner("cem", low, high, **settings)
    pol = SimulatorPolicy(world, _goal_of(world, e), planner, fs, horizon, 1, "sum", 0)
    r = run_episode(world, pol, e, m["budget"])
    ok.append(r["success"])
    print(e["index"], r["success"], round(r["final_distance"], 3), f"{time.time() - t0:.0f}s")
print(
    f"{world_name} oracle cem {settings} horizon {horizon}: {np.mean(ok):.2f} on {n} episodes, "
    f"{(time.time() - t0) / n:.1f} s/episode"
)
