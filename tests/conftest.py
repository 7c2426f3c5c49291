"""Shared fixtures: one tiny ball-drop episode file and one trained debug run per session.

Both are built once with the real library (no mocks) in a session temp dir. Tests must not
modify them: a test that writes into a run copies it first (see ``copy_run``).
"""

from __future__ import annotations

import os

# Before torch loads: OpenMP threads that spin while they wait stall for whole scheduler
# slices when the cores are shared (a 20-step debug run took 1.5-35 s here instead of
# ~0.7 s). PASSIVE keeps torch's default thread count and only lets idle threads sleep.
# Inherited by the CLI subprocesses; set OMP_WAIT_POLICY yourself to override it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import shutil  # noqa: E402
from pathlib import Path

import pytest  # noqa: E402
import torch  # noqa: E402

from physjepa.config import Config, load_preset  # noqa: E402
from physjepa.data.collect import collect  # noqa: E402
from physjepa.training.loop import train  # noqa: E402

#: The tiny file: 12 episodes x 40 steps of 32x32 ball-drop (train/held-out split 10/2).
TINY_EPISODES, TINY_STEPS, TINY_IMAGE = 12, 40, 32
#: The debug preset, shortened, on the CPU: the shared run and the training tests use these.
DEBUG_OVERRIDES = ["train.steps=20", "train.device=cpu"]  # bit-identical reruns need the CPU


@pytest.fixture(autouse=True)
def _threads_unchanged():
    """No test leaves torch's thread count changed for the tests after it (``monitor
    --threads`` and ``train.threads`` set it process-wide; tests/clitools.py puts it back)."""
    threads = torch.get_num_threads()
    yield
    assert torch.get_num_threads() == threads, "torch's thread count leaked out of this test"


@pytest.fixture(scope="session")
def ball_file(tmp_path_factory) -> Path:
    """A tiny ball-drop episode file (read-only for tests)."""
    out = tmp_path_factory.mktemp("data") / "ball.h5"
    return collect(
        "ball-drop", out, episodes=TINY_EPISODES, steps=TINY_STEPS, seed=0, image_size=TINY_IMAGE
    )


@pytest.fixture(scope="session")
def debug_cfg() -> Config:
    """The config of ``debug_run``: the debug preset, 20 steps."""
    return load_preset("debug", DEBUG_OVERRIDES)


@pytest.fixture(scope="session")
def debug_run(tmp_path_factory, ball_file, debug_cfg) -> Path:
    """A run of ``debug_cfg`` on ``ball_file`` (read-only for tests)."""
    run = tmp_path_factory.mktemp("runs") / "debug"
    return train(debug_cfg, ball_file, run, progress=False)


@pytest.fixture
def copy_run(debug_run, tmp_path):
    """A private copy of the shared debug run, for tests that write into a run dir."""

    def _copy(name: str = "run") -> Path:
        dst = tmp_path / name
        shutil.copytree(debug_run, dst)
        return dst

    return _copy


@pytest.fixture(scope="session")
def two_room_run(tmp_path_factory) -> Path:
    """A debug run on 8 scripted two-room episodes at 64x64 (the planning manifest's size),
    frameskip 2 (read-only for tests)."""
    data = tmp_path_factory.mktemp("data") / "two-room.h5"
    collect("two-room", data, episodes=8, steps=30, policy="scripted", seed=0, image_size=64)
    cfg = load_preset("debug", [*DEBUG_OVERRIDES, "data.frameskip=2"])
    return train(cfg, data, tmp_path_factory.mktemp("runs") / "two-room", progress=False)
