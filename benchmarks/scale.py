"""Scale-out and crash-safety benchmark: 1 vs 2 processes, SIGKILL + resume, memory vs data size.

Writes benchmarks/results/scale.json with:
- ddp_max_abs_loss_diff: largest |loss(1 process) - loss(2 processes)| over the logged steps of
  a short laptop-preset run (same global batch and seed, dropout off, gloo on CPU);
- ddp_probe_r2_1proc / ddp_probe_r2_2proc: held-out linear-probe R² of the ball position after
  those runs (``physjepa eval``);
- resume_identical: 1 when a run SIGKILLed at a random moment and resumed ends with exactly the
  weights of an uninterrupted run, else 0;
- rss_growth_8x: peak RSS of training on 8x the episodes divided by peak RSS on 1x, with the
  windows streamed from the file (``data.max_memory_mb=0``); the in-memory ratio is reported
  beside it for contrast.

    python benchmarks/scale.py          # ~10 minutes on 2 CPU cores
    python benchmarks/scale.py --smoke  # the same path at tiny sizes (debug preset), temp dir
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_smoke_args, out_dir, write_result  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "scale"
PY = sys.executable


@dataclass(frozen=True)
class Sizes:
    preset: str = "laptop"
    steps: int = 100  # per episode
    episodes: tuple[int, int, int] = (100, 800, 200)  # 1x, 8x (memory), DDP
    ddp: tuple[str, ...] = (
        "model.pred_dropout=0",
        "train.steps=300",
        "train.batch_size=64",
        "train.log_every=10",
        "train.eval_every=0",
        "train.save_every=100",
        "train.device=cpu",
    )
    resume_steps: int = 60
    resume_save_every: int = 10
    kill_after_s: tuple[float, float] = (2.0, 15.0)
    rss_steps: int = 30


SMOKE = Sizes(
    "debug",
    30,
    (4, 8, 4),
    (
        "model.pred_dropout=0",
        "train.steps=10",
        "train.batch_size=16",
        "train.log_every=5",
        "train.eval_every=0",
        "train.save_every=5",
        "train.device=cpu",
    ),  # fmt: skip
    40,
    5,
    (0.5, 2.0),
    5,
)
S = Sizes()  # main() sets the sizes of this invocation
WORK_DIR = WORK


def sh(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    print("+", " ".join(args), flush=True)
    return subprocess.run(args, check=True, env={**os.environ, **(env or {})}, text=True)


def collect(out: Path, episodes: int) -> Path:
    if not out.exists():
        sh(
            PY,
            "-m",
            "physjepa",
            "collect",
            "--world",
            "ball-drop",
            "--episodes",
            str(episodes),
            "--steps",
            str(S.steps),
            "--seed",
            "0",
            "--workers",
            "2",
            "--out",
            str(out),
        )
    return out


def losses(run: Path) -> list[float]:
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [r["train/loss"] for r in recs if "train/loss" in r]


def probe_r2(run: Path) -> float:
    sh(PY, "-m", "physjepa", "eval", str(run), "--no-viewer")
    ev = json.loads((run / "eval.json").read_text())
    return float(ev["probe"]["linear"]["ball_pos"])


def ddp_pair(data: Path) -> dict:
    runs = {}
    for n in (1, 2):
        run = WORK_DIR / f"ddp{n}"
        shutil.rmtree(run, ignore_errors=True)
        t0 = time.time()
        sh(
            PY,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={n}",
            "-m",
            "physjepa",
            "train",
            "--data",
            str(data),
            "--preset",
            S.preset,
            "--out",
            str(run),
            "--quiet",
            *S.ddp,
            env={"OMP_NUM_THREADS": str(2 // n)},
        )
        runs[n] = (run, time.time() - t0)
    l1, l2 = losses(runs[1][0]), losses(runs[2][0])
    assert len(l1) == len(l2) > 0
    return {
        "ddp_max_abs_loss_diff": max(abs(a - b) for a, b in zip(l1, l2)),
        "ddp_probe_r2_1proc": probe_r2(runs[1][0]),
        "ddp_probe_r2_2proc": probe_r2(runs[2][0]),
        "ddp_train_seconds_1proc": round(runs[1][1], 1),
        "ddp_train_seconds_2proc": round(runs[2][1], 1),
        "ddp_final_loss_1proc": l1[-1],
        "ddp_final_loss_2proc": l2[-1],
    }


def kill_and_resume(data: Path, seed: int = 0) -> dict:
    over = [
        f"train.steps={S.resume_steps}",
        f"train.save_every={S.resume_save_every}",
        f"train.log_every={S.resume_save_every}",
        "train.eval_every=0",
        "train.device=cpu",
    ]
    ref, run = WORK_DIR / "ref", WORK_DIR / "killed"
    for r in (ref, run):
        shutil.rmtree(r, ignore_errors=True)
    base = [PY, "-m", "physjepa", "train", "--quiet"]
    sh(*base, "--data", str(data), "--preset", S.preset, "--out", str(ref), *over)
    rng = random.Random(seed)
    p = subprocess.Popen(
        [*base, "--data", str(data), "--preset", S.preset, "--out", str(run), *over]
    )
    while not (run / "metrics.jsonl").exists():
        time.sleep(0.05)
    delay = rng.uniform(*S.kill_after_s)
    time.sleep(delay)
    killed = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    import torch  # after the subprocesses: keep this process light while they run

    state = (
        torch.load(run / "train_state.pt", weights_only=True)
        if (run / "train_state.pt").exists()
        else None
    )
    killed_at = state["step"] if state else 0
    sh(*base, "--resume", "--out", str(run))
    from safetensors.torch import load_file

    a, b = load_file(str(ref / "model.safetensors")), load_file(str(run / "model.safetensors"))
    same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return {
        "resume_identical": int(same and killed),
        "resume_killed_after_s": round(delay, 2),
        "resume_last_checkpoint_step": killed_at,
    }


RSS_SCRIPT = """
import resource, sys
from physjepa.config import load_preset
from physjepa.training.loop import train
cfg = load_preset(sys.argv[3], sys.argv[4:])
train(cfg, sys.argv[1], sys.argv[2], overwrite=True, progress=False)
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(data: Path, max_memory_mb: float) -> float:
    run = WORK_DIR / "rss_run"
    over = [
        f"train.steps={S.rss_steps}",
        "train.eval_every=0",
        f"train.save_every={S.rss_steps}",
        "train.device=cpu",
        f"data.max_memory_mb={max_memory_mb}",
    ]
    out = subprocess.run(
        [PY, "-c", RSS_SCRIPT, str(data), str(run), S.preset, *over],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    kb = int(next(x for x in out.splitlines() if x.startswith("MAXRSS_KB")).split()[1])
    print(f"peak RSS {data.name} max_memory_mb={max_memory_mb}: {kb / 1024:.0f} MB", flush=True)
    return kb / 1024


def main() -> None:
    global S, WORK_DIR
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_smoke_args(ap)
    a = ap.parse_args()
    S = SMOKE if a.smoke else Sizes()
    results = out_dir(a)
    WORK_DIR = results / "work" / "scale" if a.smoke else WORK
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    n1, n8, nddp = S.episodes
    small = collect(WORK_DIR / "ball_1x.h5", n1)
    big = collect(WORK_DIR / "ball_8x.h5", n8)
    data = collect(WORK_DIR / "ball_ddp.h5", nddp)

    metrics: dict[str, float] = {}
    metrics.update(ddp_pair(data))
    metrics.update(kill_and_resume(data))
    rss = {(n, m): peak_rss_mb(d, m) for n, d in (("1x", small), ("8x", big)) for m in (0, 4096)}
    metrics["rss_1x_stream_mb"] = round(rss[("1x", 0)], 1)
    metrics["rss_8x_stream_mb"] = round(rss[("8x", 0)], 1)
    metrics["rss_growth_8x"] = round(rss[("8x", 0)] / rss[("1x", 0)], 4)
    metrics["rss_growth_8x_in_memory"] = round(rss[("8x", 4096)] / rss[("1x", 4096)], 4)
    notes = (
        "ddp_*: laptop preset with model.pred_dropout=0 (dropout masks are drawn per rank), "
        "300 steps, global batch 64, seed 0, on 200 ball-drop episodes x 100 steps; "
        "1 process (2 threads) vs torchrun --standalone --nproc_per_node=2 (gloo, 1 thread "
        "each); probe R² = held-out linear probe of ball_pos from physjepa eval. "
        "resume_*: laptop preset 60 steps, checkpoint every 10, SIGKILL after a random "
        "delay, then physjepa train --resume; compared bit for bit with an uninterrupted run. "
        f"rss_*: peak RSS (ru_maxrss) of a fresh process training the laptop preset for "
        f"{S.rss_steps} steps on 100 vs 800 ball-drop episodes x 100 steps (64x64); "
        "rss_growth_8x streams the windows (data.max_memory_mb=0), "
        "rss_growth_8x_in_memory loads them (data.max_memory_mb=4096)."
    )
    if a.smoke:
        notes = f"SMOKE RUN (tiny sizes; not a result): {S}. " + notes
    write_result("scale", metrics, notes, out=results)


if __name__ == "__main__":
    main()
