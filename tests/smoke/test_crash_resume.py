"""A training process killed with SIGKILL at random moments resumes with ``--resume`` and ends
with exactly the weights of a run that was never interrupted (CPU, deterministic settings)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from physjepa.config import load_preset
from physjepa.runlog import read_metrics
from physjepa.training.loop import train

# Frequent checkpoints, so kills land before, during and between checkpoint writes.
OVERRIDES = [
    "train.steps=120",
    "train.device=cpu",
    "train.save_every=7",
    "train.log_every=5",
    "train.eval_every=40",
]


def _train(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "physjepa", "train", "--quiet", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(p: subprocess.Popen) -> None:
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, out[-2000:] + err[-2000:]


def _started(log: Path, since: float) -> bool:
    try:
        return log.stat().st_mtime >= since
    except FileNotFoundError:
        return False


def _kill_at_random(p: subprocess.Popen, run: Path, rng: random.Random, since: float) -> bool:
    """SIGKILL ``p`` a random moment after it reached its training loop (it opens or rewrites
    metrics.jsonl there); False if it finished first."""
    deadline = time.time() + 120
    while not _started(run / "metrics.jsonl", since) and p.poll() is None:
        assert time.time() < deadline, "training never started"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.5))
    if p.poll() is not None:
        return False
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    return True


def test_sigkill_at_random_moments_then_resume_is_exact(ball_file, tmp_path):
    # the uninterrupted reference, in this process: the same config the CLI builds
    ref = train(load_preset("debug", OVERRIDES), ball_file, tmp_path / "ref", progress=False)

    run = tmp_path / "killed"
    rng = random.Random(1234)
    since = time.time()
    p = _train("--data", str(ball_file), "--preset", "debug", "--out", str(run), *OVERRIDES)
    kills = 0
    for _ in range(2):  # two kills: one may land in a resumed run
        if not _kill_at_random(p, run, rng, since):
            break
        kills += 1
        since = time.time()
        p = _train("--resume", "--out", str(run))
    _finish(p)
    assert kills >= 1, "the run finished before it could be killed: the test proved nothing"

    w_ref, w_run = (
        load_file(str(ref / "model.safetensors")),
        load_file(str(run / "model.safetensors")),
    )
    assert w_ref.keys() == w_run.keys()
    for k in w_ref:
        assert torch.equal(w_ref[k], w_run[k]), f"{k} differs after {kills} kill(s)"

    # the metrics log is whole: every step logged once, the same losses as the reference
    def losses(r):
        return [(m["step"], m["train/loss"]) for m in read_metrics(r) if "train/loss" in m]

    assert losses(run) == losses(ref)
    assert not [q.name for q in run.iterdir() if q.name.endswith(".tmp")]
