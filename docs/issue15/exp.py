"""Train one variant: [WORLD=reacher] [EPISODES=300] [IMAGE_SIZE=96] python exp.py NAME override...

(150 scripted episodes (or EPISODES: the first N of the planning benchmark's data), laptop,
frameskip 5, SIGReg 0.1, 1200 steps)"""

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
N = int(os.environ.get("EPISODES", "150"))
SIZE = int(os.environ.get("IMAGE_SIZE", "64"))  # the frames' side, pixels
data = W / (f"{WORLD}-{N}.h5" if SIZE == 64 else f"{WORLD}-{N}-{SIZE}px.h5")
if not data.exists():
    collect(WORLD, data, N, 100, policy="scripted", seed=0, image_size=SIZE, workers=1)
cfg = load_preset(
    "laptop",
    ["data.frameskip=5", "loss.sigreg_weight=0.1", "train.steps=1200", "train.device=cpu", *over],
)
t = time.perf_counter()
train(cfg, data, W / name, overwrite=True, progress=False)
(W / name / "train_minutes.txt").write_text(f"{(time.perf_counter() - t) / 60:.2f}\n")
print(name, "done", (time.perf_counter() - t) / 60, "min")
