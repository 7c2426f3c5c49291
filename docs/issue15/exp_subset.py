"""Train exp.py's push-t settings on a slice of an episode file:
python exp_subset.py FILE FIRST STOP NAME   (e.g. the planning benchmark's push-t.h5 150 300)

(laptop, frameskip 5, SIGReg 0.1, 1200 steps; the slice is copied to $I15_WORK/NAME.h5)"""

import os
import sys
import time
from pathlib import Path

from physjepa.config import load_preset
from physjepa.data.episodes import EpisodeFile, EpisodeWriter
from physjepa.training.loop import train

src, lo, hi, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
W = Path(os.environ.get("I15_WORK", "/tmp/i15/work"))
W.mkdir(parents=True, exist_ok=True)
out = W / f"{name}.h5"
if not out.exists():
    with EpisodeFile(src) as f, EpisodeWriter(out, f.attrs()) as w:
        for i in range(lo, hi):
            w.append(f.episode(i))
cfg = load_preset(
    "laptop", ["data.frameskip=5", "loss.sigreg_weight=0.1", "train.steps=1200", "train.device=cpu"]
)
t = time.perf_counter()
train(cfg, out, W / name, overwrite=True, progress=False)
print(name, "done", (time.perf_counter() - t) / 60, "min", flush=True)
