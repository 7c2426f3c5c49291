"""Choose the per-channel check's settings on *validation* fault streams (seeds 9,000,000+,
never the benchmark's test streams at 1,000,000+): the materials benchmark's beam run, the
check fitted on its training episodes and calibrated on its validation episodes as
``physjepa monitor --channel-check`` does, then AUROC per beam fault (40 matched streams).

    python docs/issue16/channel_val.py [lag ...]   # after python benchmarks/materials.py
    STREAMS=100 python docs/issue16/channel_val.py 15 20 30
    MARGINS=1,1.5,2 python docs/issue16/channel_val.py 20   # channel part over margin x its level
    KINDS=beam_stiffness SEED=9500000 STREAMS=200 python docs/issue16/channel_val.py 20
"""

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import materials as M  # noqa: E402

from physjepa.data.episodes import EpisodeFile, split_episodes  # noqa: E402
from physjepa.metrics.anomaly import (  # noqa: E402
    calibrate,
    episode_parts,
    fault_metrics,
    fit_channel_check,  # noqa: E402
)
from physjepa.training.checkpoint import load_run  # noqa: E402

KINDS = os.environ.get("KINDS", "beam_stiffness,beam_crack,gauge_stuck,gauge_drift").split(",")
SEED = int(os.environ.get("SEED", 9_000_000))
MARGINS = [float(x) for x in os.environ.get("MARGINS", "1").split(",")]


def main() -> None:
    lags = [int(x) for x in sys.argv[1:]] or [20]
    run = M.WORK / "runs" / "beam"
    model, cfg, info = load_run(run)
    key = info.data.obs_key
    with EpisodeFile(info.data.path) as f:
        tr, va = split_episodes(f.n_episodes, cfg.data.val_fraction)
        train = [(ep[key], ep["action"]) for ep in map(f.episode, map(int, tr))]
        val = [(ep[key], ep["action"]) for ep in map(f.episode, map(int, va))]
    n = int(os.environ.get("STREAMS", 40))
    streams = {k: M.fault_streams(k, n, SEED + i) for i, k in enumerate(KINDS)}
    out = {}
    for lag in lags:
        t0 = time.time()
        check = fit_channel_check(train, 1, M.FAR, lag=lag)
        cal = calibrate(model, val, M.FAR, 1, check)
        parts = {}
        for kind, st in streams.items():
            normal = [episode_parts(model, s[0][0], s[0][1], 1, check) for s in st]
            faulted = [episode_parts(model, s[1][0], s[1][1], 1, check) for s in st]
            parts[kind] = (normal, faulted, [t for _, _, t in st])
        base = cal.channel_scale
        for margin in MARGINS:
            key = f"{lag}" if margin == 1 else f"{lag}-margin{margin:g}"
            cal.channel_scale = base * margin
            out[key] = {}
            for kind, (normal, faulted, onsets) in parts.items():
                m = fault_metrics([cal.score(*p) for p in normal], [cal.score(*p) for p in faulted],
                                  onsets, 0.0, M.WINDOW)  # fmt: skip
                alone = fault_metrics([p[0] for p in normal], [p[0] for p in faulted], onsets, 0.0)
                out[key][kind] = {
                    "auroc": round(m["auroc"], 4),
                    "surprise_auroc": round(alone["auroc"], 4),
                }
            print(key, json.dumps(out[key]), f"{time.time() - t0:.0f} s", flush=True)
    (run / f"channel-val-{n}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
