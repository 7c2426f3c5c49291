"""The first thing every user runs: ``physjepa demo``, the installed console script, in a real
subprocess, the way ``make demo`` runs it. Scaled down only in size: the debug preset and 8
episodes instead of the laptop preset and 300."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def console_script() -> str:
    """The ``physjepa`` script installed beside this interpreter (what ``make demo`` calls)."""
    script = Path(sys.executable).parent / "physjepa"
    if not script.exists():
        found = shutil.which("physjepa")
        if found is None:
            pytest.fail("the physjepa console script is not installed (pip install -e .)")
        return found
    return str(script)


def _demo(cwd) -> subprocess.CompletedProcess:
    args = ["--preset", "debug", "--episodes", "8", "--out", "runs/demo", "--data", "data/ball.h5"]
    return subprocess.run(
        [console_script(), "demo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )


def test_demo_end_to_end_console_script(tmp_path):
    proc = _demo(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]", "demo finished"):
        assert step in out, out
    run = tmp_path / "runs" / "demo"
    report = run / "report.html"
    assert f"report: {report.resolve()}" in out
    assert (tmp_path / "data" / "ball.h5").stat().st_size > 0
    for name in ("config.json", "model.safetensors", "metrics.jsonl", "eval.json"):
        assert (run / name).is_file(), name
    res = json.loads((run / "eval.json").read_text())
    assert res["metrics"], res
    assert "<html" in report.read_text().lower()
    # the second `make demo` reuses its own data and replaces its own run
    again = _demo(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[1/4] reusing data/ball.h5" in again.stdout
