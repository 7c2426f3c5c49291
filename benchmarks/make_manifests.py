"""Regenerate the versioned planning manifests shipped in src/physjepa/planning/manifests/.

    python benchmarks/make_manifests.py [world ...]
    python benchmarks/make_manifests.py --smoke   # 2 episodes per world, into a temp dir

Each manifest holds 100 start/goal pairs (seed 0, goal 25 scripted steps ahead, budget 50
steps). Bump MANIFEST_VERSION in physjepa/planning/manifest.py before changing one that
results were already reported on.

``--smoke`` builds the first 2 episodes of each manifest with the same settings into
``--out-dir`` (the shipped files are left alone) and writes ``manifests.json`` with, per world,
whether they equal the shipped manifest's first 2 (episodes are drawn one after another from
one seed sequence, so a prefix is reproducible): 1 when they do.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_smoke_args, out_dir, write_result  # noqa: E402

from physjepa.planning.manifest import build_manifest, manifest_path  # noqa: E402

# push-t: a few scripted steps first, so the pusher is near the block at the start
WORLDS = {"two-room": {}, "reacher": {}, "push-t": {"warmup": 10}}
EPISODES, SMOKE_EPISODES = 100, 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("worlds", nargs="*", help="worlds to build (default: all)")
    add_smoke_args(ap)
    a = ap.parse_args()
    worlds = a.worlds or list(WORLDS)
    results = out_dir(a) if a.smoke else None
    metrics: dict[str, float] = {}
    for name in worlds:
        t0 = time.time()
        episodes = SMOKE_EPISODES if a.smoke else EPISODES
        m = build_manifest(
            name, episodes=episodes, seed=0, goal_steps=25, budget=50, **WORLDS[name]
        )
        text = json.dumps(m, indent=1, default=list) + "\n"
        if not a.smoke:
            path = manifest_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path} ({len(m['episodes'])} episodes)")
            continue
        path = results / "manifests" / manifest_path(name).name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        shipped = json.loads(manifest_path(name).read_text())["episodes"][:SMOKE_EPISODES]
        metrics[f"{name}_matches_shipped"] = int(json.loads(text)["episodes"] == shipped)
        metrics[f"{name}_seconds"] = round(time.time() - t0, 2)
    if a.smoke:
        write_result(
            "manifests",
            metrics,
            f"SMOKE RUN: the first {SMOKE_EPISODES} episodes of each planning manifest, built "
            "with the shipped settings, compared with the shipped files (1 = equal).",
            out=results,
        )


if __name__ == "__main__":
    main()
