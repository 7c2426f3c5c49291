"""Held-out rollout error ratio and probe R² of runs: python evalrun.py RUN... (no viewer)."""

import json
import sys

from physjepa.options import EvalOptions
from physjepa.recipes.evaluate import evaluate

for run in sys.argv[1:]:
    m = evaluate(EvalOptions(run=run, no_viewer=True))["metrics"]
    print(run, json.dumps({k: round(v, 3) for k, v in m.items()}))
