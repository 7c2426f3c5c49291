"""How large is the Monte-Carlo dropout spread beside the latent's move?

    python docs/issue16/mc_ratio.py [WORK]   # default benchmarks/work/voe-shift

On every 8th pair record of the shifted validation split (``docs/issue16/shift_val.sh``; its
possible video), the mean over frames (from the rollout horizon on) of the spread of 8
dropout-on predictions (``score_val.mc_spread``) and of the latent's move over the same
steps, per split. A spread that tracked the size shift's error would grow against the move
out of range."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_val import mc_spread  # noqa: E402

from physjepa.data.voe_pairs import read_pairs  # noqa: E402
from physjepa.metrics.surprise import latent_move, model_steps  # noqa: E402
from physjepa.runs import Run  # noqa: E402

work = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/work/voe-shift")
run = Run.open(work / "run")
model = run.load_model("cpu").eval()
h, k, fs = model.history, run.config.data.rollout, run.config.data.frameskip
f, records = read_pairs(work / "shift_pairs.h5")
out: dict[str, list] = {"id": [], "ood": []}
with f, torch.no_grad():
    for i in range(0, len(records), 8):
        ep = f.episode(2 * i)
        obs, act = model_steps(ep["pixels"], ep["action"], fs)
        z = model.encode(obs[None])[0]
        spread, move = mc_spread(model, z, act, h, k, 8), latent_move(z, k)
        out[records[i]["split"]].append((float(spread[k:].mean()), float(move[k:].mean())))
for split, rows in out.items():
    a = np.array(rows)
    print(
        f"{split}: {len(a)} videos, mean spread {a[:, 0].mean():.5f}, mean move "
        f"{a[:, 1].mean():.5f}, spread / move {a[:, 0].mean() / a[:, 1].mean():.4f}"
    )
