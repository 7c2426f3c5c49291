"""Train one variant: [WORLD=reacher] python exp.py NAME override...

(150 scripted episodes, laptop, frameskip 5, SIGReg 0.1, 1200 steps)"""

import os
import sys
import time
from pathlib import Path

from physjepa.config import load_preset
from physjepa.data.collect import collect
from physjepa.training.loop import train

WORLD = os.environ.get("WORLD", "push-t")
W = Path(os.environ.get("I15_WORK", "/tmp/i15/work"))
name, over = sys.argv[1], sys.argv[2:]
data = W / f"{WORLD}-150.h5"
if not data.exists():
    collect(WORLD, data, 150, 100, policy="scripted", seed=0, workers=1)
cfg = load_preset(
    "laptop",
    ["data.frameskip=5", "loss.sigreg_weight=0.1", "train.steps=1200", "train.device=cpu", *over],
)
t = time.perf_counter()
train(cfg, data, W / name, overwrite=True, progress=False)
(W / name / "train_minutes.txt").write_text(f"{(time.perf_counter() - t) / 60:.2f}\n")
print(name, "done", (time.perf_counter() - t) / 60, "min")
