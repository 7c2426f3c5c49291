"""Plan a run at the default budget: python plan.py RUN N [oracle] [random].

Writes RUN/plan.json."""

import json
import sys

from physjepa.options import PlanOptions
from physjepa.recipes.plan import plan_run

run, n, base = sys.argv[1], int(sys.argv[2]), ",".join(sys.argv[3:])
r = plan_run(PlanOptions(run=run, episodes=n, seed=0, planner="cem", baselines=base, gifs=0))
print(
    run,
    json.dumps(
        {
            k: {kk: v[kk] for kk in ("success_rate", "final_distance_mean", "ms_per_plan")}
            for k, v in r["results"].items()
        }
    ),
)
