"""Share of push-t steps in which the block moves (contact) under a collection policy.

python contact.py EPISODES STEPS scripted|random
"""

import math
import sys

import numpy as np

from physjepa.worlds import make

eps, steps, pol = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
w = make("push-t", image_size=64)
moved, total, travel = 0, 0, []
for e in range(eps):
    w.reset(seed=e)
    rng = np.random.default_rng(1000 + e)
    disp = 0.0
    for _ in range(steps):
        s0 = w.sim_state()
        w.advance(w.scripted_action(rng) if pol == "scripted" else w.random_action(rng))
        s = w.sim_state()
        d = math.dist(s0["block_pos"], s["block_pos"])
        disp += d
        moved += d + 50 * abs(s["block_angle"][0] - s0["block_angle"][0]) > 0.5
        total += 1
    travel.append(disp)
print(
    f"policy={pol} episodes={eps} steps={steps}: block moves in {moved / total:.3f} of steps; "
    f"mean block travel per episode {np.mean(travel):.1f} units; "
    f"episodes with travel < 20: {np.mean(np.array(travel) < 20):.2f}"
)
