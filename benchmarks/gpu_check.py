"""GPU check: the CUDA, bf16 and torch.compile paths of training, and CUDA planning rollouts.

Run on a machine with a CUDA GPU (it refuses to run without one). It collects ball-drop data,
trains the `gpu` preset for a few steps in fp32, bf16, and bf16 + torch.compile, and reports
training frames per second (median over the logged windows after the first) and peak GPU
memory of each; then times a planning-sized rollout (32 candidates x 5 blocks) on the GPU.
Writes benchmarks/results/gpu.json.

    python benchmarks/gpu_check.py                 # ~3-5 minutes on one H200
    python benchmarks/gpu_check.py --steps 40 --no-compile
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

from physjepa.config import load_preset  # noqa: E402
from physjepa.data.collect import collect  # noqa: E402
from physjepa.training.checkpoint import load_run  # noqa: E402
from physjepa.training.loop import train  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "gpu"


def train_variant(name: str, data: Path, steps: int, overrides: list[str]) -> dict:
    run = WORK / name
    cfg = load_preset(
        "gpu",
        [
            f"train.steps={steps}",
            "train.log_every=10",
            "train.eval_every=0",
            f"train.save_every={steps}",
            "train.device=cuda",
            *overrides,
        ],
    )
    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    train(cfg, data, run, overwrite=True, progress=False)
    wall = time.time() - t0
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    fps = [r["train/frames_per_s"] for r in recs if "train/frames_per_s" in r][1:]
    losses = [r["train/loss"] for r in recs if "train/loss" in r]
    out = {
        "frames_per_s": statistics.median(fps),
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20,
        "wall_s": wall,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }
    print(name, json.dumps(out), flush=True)
    return out


@torch.no_grad()
def time_rollout(run: Path, samples: int = 32, blocks: int = 5, repeats: int = 50) -> float:
    """Milliseconds for one planning-sized rollout on the GPU (CUDA events)."""
    model, cfg, meta = load_run(run, device="cuda")
    h, a = cfg.data.history, meta["spec"]["action_dim"]
    obs = torch.zeros(1, h, *meta["spec"]["obs_shape"], dtype=torch.uint8, device="cuda")
    z = model.encode(obs)  # (1, h, D)
    past = torch.zeros(1, h - 1, a, device="cuda")
    acts = torch.randn(1, samples, blocks, a, device="cuda")  # (1, S, T, A)
    for _ in range(5):
        model.rollout(z, acts, past)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        model.rollout(z, acts, past)
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check.py needs a CUDA GPU; none is visible here")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    data = collect("ball-drop", WORK / "ball.h5", episodes=a.episodes, steps=100, seed=0, workers=8)

    metrics: dict[str, float] = {}
    results: dict[str, dict] = {}

    def record(name: str, over: list[str]) -> None:
        r = train_variant(name, data, a.steps, over)
        results[name] = r
        metrics[f"{name}_frames_per_s"] = round(r["frames_per_s"], 1)
        metrics[f"{name}_peak_mem_mb"] = round(r["peak_mem_mb"], 1)
        metrics[f"{name}_last_loss"] = round(r["last_loss"], 5)

    def write() -> None:  # after every variant, so a timeout keeps what was measured
        write_result(
            "gpu",
            metrics,
            notes=(
                f"gpu preset (dim 192, conv 64-128-256, predictor depth 6, batch 256 windows x "
                f"7 frames), {a.steps} steps per variant on {a.episodes} ball-drop episodes x "
                "100 steps; frames/s is the median of the 10-step log windows after the first; "
                "peak memory is torch.cuda.max_memory_allocated over the variant's run; "
                "rollout_32x5_ms is one planning-sized latent rollout (32 candidates x 5 "
                "blocks) timed with CUDA events over 50 repeats."
            ),
            extra={"variants": results, "torch": torch.__version__},
        )

    record("fp32", [])
    record("bf16", ["train.precision=bf16"])
    metrics["rollout_32x5_ms"] = round(time_rollout(WORK / "fp32"), 3)
    write()
    if not a.no_compile:
        record("bf16_compile", ["train.precision=bf16", "train.compile=true"])
        write()


if __name__ == "__main__":
    main()
