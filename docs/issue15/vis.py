"""Latent visibility of runs: python vis.py RUN... (32 start states, 0.1 of each range)."""

import json
import sys

from physjepa.metrics.visibility import visibility_of_run

for run in sys.argv[1:]:
    v = visibility_of_run(run, starts=32)
    print(
        run,
        json.dumps(
            {
                k: (round(x["visibility"], 3), round(x["latent_distance"], 3), x["starts"])
                for k, x in v.items()
            }
        ),
    )
