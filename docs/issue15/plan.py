"""Plan a run at the default budget: python plan.py RUN N [oracle] [random] (writes RUN/plan.json)."""

import json
import sys

from physjepa.eval.closed_loop import plan_run

run, n, base = sys.argv[1], int(sys.argv[2]), tuple(x for x in sys.argv[3:])
r = plan_run(run, episodes=n, seed=0, planner="cem", baselines=base, gifs=0)
print(
    run,
    json.dumps(
        {
            k: {kk: v[kk] for kk in ("success_rate", "final_distance_mean", "ms_per_plan")}
            for k, v in r["results"].items()
        }
    ),
)
