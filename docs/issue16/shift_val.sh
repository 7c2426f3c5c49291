#!/bin/bash
# A validation split that shifts as the test's ood split does, from the training ranges alone:
# train the voe benchmark's model (laptop preset, 300 random-policy episodes x 100 steps, seed
# 0) on the lower 60% of every varied range, then make pairs whose params lie above those
# sub-ranges (ood_params of them: still inside the full training ranges, except radius up to
# 0.081) and in them (id), seed 3. The suite's test pairs (seed 0) are never touched.
#   bash docs/issue16/shift_val.sh [WORK]   (default benchmarks/work/voe-shift; about 6 min)
#   python docs/issue16/score_val.py WORK id ood   with PAIRS=WORK/shift_pairs.h5
set -euo pipefail
W=${1:-benchmarks/work/voe-shift}
mkdir -p "$W"
OCC='[0.6, 0.45, 0.82, 0.67]'
SUB='{"gravity": [0.6, 1.08], "restitution": [0.6, 0.78], "radius": [0.06, 0.072], "friction": [0.1, 0.34], "mass": [0.5, 1.4]}'
[ -f "$W/train.h5" ] || physjepa collect --world ball-drop --out "$W/train.h5" --episodes 300 \
  --steps 100 --seed 0 --param "occluder=$OCC" --param "vary=$SUB"
[ -f "$W/run/model.safetensors" ] || physjepa train --preset laptop --data "$W/train.h5" \
  --out "$W/run" --quiet
[ -f "$W/shift_pairs.h5" ] || physjepa voe generate --out "$W/shift_pairs.h5" --pairs 50 \
  --seed 3 --param "occluder=$OCC" --param "vary=$SUB"
