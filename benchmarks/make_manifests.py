"""Regenerate the versioned planning manifests shipped in src/physjepa/eval/manifests/.

    python benchmarks/make_manifests.py [world ...]

Each manifest holds 100 start/goal pairs (seed 0, goal 25 scripted steps ahead, budget 50
steps). Bump MANIFEST_VERSION in physjepa/planning/manifest.py before changing one that
results were already reported on.
"""

from __future__ import annotations

import json
import sys

from physjepa.planning.manifest import build_manifest, manifest_path

# push-t: a few scripted steps first, so the pusher is near the block at the start
WORLDS = {"two-room": {}, "reacher": {}, "push-t": {"warmup": 10}}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(WORLDS):
        m = build_manifest(name, episodes=100, seed=0, goal_steps=25, budget=50, **WORLDS[name])
        path = manifest_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(m, indent=1, default=list) + "\n")
        print(f"wrote {path} ({len(m['episodes'])} episodes)")
