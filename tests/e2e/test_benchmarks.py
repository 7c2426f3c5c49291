"""Every benchmark script's ``--smoke``: the same code path at tiny sizes, in a real
subprocess, so no benchmark can rot. Each must write its result JSON (the format of
``benchmarks/common.py``) into ``--out-dir`` and nothing into ``benchmarks/results/``.

The scripts are found, not listed: every ``benchmarks/*.py`` whose source offers ``--smoke``
runs here. ``test_every_benchmark_has_smoke`` keeps a script from simply not offering it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
#: Not benchmarks themselves.
HELPERS = {"common.py"}
#: Scripts whose --smoke has a test of its own (it writes one file per world and merges them).
OWN_TEST = {"planning.py": "tests/smoke/test_planning_benchmark.py"}


def scripts() -> list[Path]:
    return sorted(p for p in BENCH.glob("*.py") if p.name not in HELPERS)


def with_smoke() -> list[Path]:
    return [
        p for p in scripts() if '"--smoke"' in p.read_text() or "add_smoke_args(" in p.read_text()
    ]


def test_every_benchmark_has_smoke():
    lacking = {p.name for p in scripts()} - {p.name for p in with_smoke()}
    assert not lacking, f"benchmarks without --smoke: {sorted(lacking)}"
    for name, test in OWN_TEST.items():
        assert f'"{name}"' in (ROOT / test).read_text(), f"{test} does not run {name}"


def _results_snapshot() -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in (BENCH / "results").glob("*.json")}


@pytest.mark.parametrize(
    "script", [p for p in with_smoke() if p.name not in OWN_TEST], ids=lambda p: p.stem
)
def test_smoke(script, tmp_path):
    before = _results_snapshot()
    out = tmp_path / "out"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke", "--out-dir", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    written = sorted(out.glob("*.json"))
    assert len(written) == 1, written
    res = json.loads(written[0].read_text())
    assert res["name"] == written[0].stem
    assert res["command"].startswith(f"python benchmarks/{script.name} --smoke")
    assert "SMOKE" in res["notes"]
    assert {"cpu", "cores", "gpu"} <= set(res["machine"])
    metrics = res["metrics"]
    assert metrics, res
    bad = {k: v for k, v in metrics.items() if not _finite(v)}
    assert not bad, f"metrics that are not finite numbers: {bad}"
    if script.name == "make_manifests.py":  # the generator still makes the shipped manifests
        assert all(v == 1 for k, v in metrics.items() if k.endswith("_matches_shipped"))
    assert _results_snapshot() == before, "a smoke run wrote into benchmarks/results/"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def test_smoke_refuses_the_results_dir(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH / "core.py"), "--smoke", "--out-dir", str(BENCH / "results")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "never writes into benchmarks/results" in proc.stderr
