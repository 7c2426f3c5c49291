"""GPU check: the CUDA, bf16 and torch.compile paths of training, and CUDA planning rollouts.

Run on a machine with a CUDA GPU (it refuses to run without one). It collects ball-drop data,
trains the `gpu` preset for a few steps in fp32, bf16, and bf16 + torch.compile, and reports
training frames per second (median over the logged windows after the first) and peak GPU
memory of each; then times a planning-sized rollout (32 candidates x 5 blocks) on the GPU.
Writes benchmarks/results/gpu.json.

    python benchmarks/gpu_check.py                 # ~3-5 minutes on one H200
    python benchmarks/gpu_check.py --steps 40 --no-compile
    python benchmarks/gpu_check.py --smoke         # the same code on the CPU, tiny sizes

``--smoke`` runs on the CPU where there is no GPU (so the suite can run it anywhere): the debug
preset, 10 steps per variant on 4 episodes, without torch.compile (it needs a C++ toolchain
and minutes); peak memory is then the process's peak RSS and the rollout is timed with a wall
clock. Its numbers say nothing about a GPU; it checks that the script still runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_smoke_args, out_dir, write_result  # noqa: E402

from physjepa.config import load_preset  # noqa: E402
from physjepa.data.collect import collect  # noqa: E402
from physjepa.training.checkpoint import load_run  # noqa: E402
from physjepa.training.loop import train  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "gpu"


def peak_mem_mb(device: str) -> float:
    """Peak GPU memory since the last reset (CUDA), else the process's peak RSS (CPU)."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_variant(
    name: str, data: Path, steps: int, overrides: list[str], work: Path, preset: str, device: str
) -> dict:
    run = work / name
    log_every = min(10, max(1, steps // 3))
    cfg = load_preset(
        preset,
        [
            f"train.steps={steps}",
            f"train.log_every={log_every}",
            "train.eval_every=0",
            f"train.save_every={steps}",
            f"train.device={device}",
            *overrides,
        ],
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    train(cfg, data, run, overwrite=True, progress=False)
    wall = time.time() - t0
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    fps = [r["train/frames_per_s"] for r in recs if "train/frames_per_s" in r]
    fps = fps[1:] or fps  # the first window includes warm-up
    losses = [r["train/loss"] for r in recs if "train/loss" in r]
    out = {
        "frames_per_s": statistics.median(fps),
        "peak_mem_mb": peak_mem_mb(device),
        "wall_s": wall,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }
    print(name, json.dumps(out), flush=True)
    return out


@torch.no_grad()
def time_rollout(
    run: Path, device: str = "cuda", samples: int = 32, blocks: int = 5, repeats: int = 50
) -> float:
    """Milliseconds for one planning-sized rollout (CUDA events on the GPU, a wall clock on
    the CPU)."""
    model, cfg, info = load_run(run, device=device)
    h, a = cfg.data.history, info.shape.action_dim
    obs = torch.zeros(1, h, *info.shape.obs_shape, dtype=torch.uint8, device=device)
    z = model.encode(obs)  # (1, h, D)
    past = torch.zeros(1, h - 1, a, device=device)
    acts = torch.randn(1, samples, blocks, a, device=device)  # (1, S, T, A)
    for _ in range(5):
        model.rollout(z, acts, past)
    if device != "cuda":
        t0 = time.perf_counter()
        for _ in range(repeats):
            model.rollout(z, acts, past)
        return (time.perf_counter() - t0) * 1000 / repeats
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
    add_smoke_args(ap)
    a = ap.parse_args()
    results = out_dir(a)
    if a.smoke:  # on the CPU unless there is a GPU; see the module docstring
        device = "cuda" if torch.cuda.is_available() else "cpu"
        preset, a.steps, a.episodes, steps_per_ep = "debug", 10, 4, 30
        a.no_compile = True
        work = results / "work" / "gpu"
    else:
        if not torch.cuda.is_available():
            raise SystemExit(
                "gpu_check.py needs a CUDA GPU; none is visible here (--smoke runs on the CPU)"
            )
        device, preset, steps_per_ep, work = "cuda", "gpu", 100, WORK
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = collect(
        "ball-drop", work / "ball.h5", episodes=a.episodes, steps=steps_per_ep, seed=0,
        workers=2 if a.smoke else 8,
    )  # fmt: skip

    metrics: dict[str, float] = {}
    variants: dict[str, dict] = {}

    def record(name: str, over: list[str]) -> None:
        r = train_variant(name, data, a.steps, over, work, preset, device)
        variants[name] = r
        metrics[f"{name}_frames_per_s"] = round(r["frames_per_s"], 1)
        metrics[f"{name}_peak_mem_mb"] = round(r["peak_mem_mb"], 1)
        metrics[f"{name}_last_loss"] = round(r["last_loss"], 5)

    def write() -> None:  # after every variant, so a timeout keeps what was measured
        notes = (
            f"gpu preset (dim 192, conv 64-128-256, predictor depth 6, batch 256 windows x "
            f"7 frames), {a.steps} steps per variant on {a.episodes} ball-drop episodes x "
            "100 steps; frames/s is the median of the 10-step log windows after the first; "
            "peak memory is torch.cuda.max_memory_allocated over the variant's run; "
            "rollout_32x5_ms is one planning-sized latent rollout (32 candidates x 5 "
            "blocks) timed with CUDA events over 50 repeats."
        )
        if a.smoke:
            notes = (
                f"SMOKE RUN on {device} (tiny sizes; not a result): debug preset, {a.steps} steps "
                f"per variant on {a.episodes} episodes x {steps_per_ep} steps, no compile; on the "
                "CPU peak memory is the process's peak RSS and the rollout a wall-clock time. "
                + notes
            )
        write_result(
            "gpu",
            metrics,
            notes,
            extra={"variants": variants, "torch": torch.__version__, "device": device},
            out=results,
        )

    record("fp32", [])
    record("bf16", ["train.precision=bf16"])
    metrics["rollout_32x5_ms"] = round(time_rollout(work / "fp32", device), 3)
    write()
    if not a.no_compile:
        record("bf16_compile", ["train.precision=bf16", "train.compile=true"])
        write()


if __name__ == "__main__":
    main()
