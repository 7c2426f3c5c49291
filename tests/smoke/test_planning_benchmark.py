"""benchmarks/planning.py --smoke: the benchmark's own code path at tiny sizes, one world,
writing only into a temp dir, and merging per-world results into planning.json."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "planning.py"
COMMITTED = ROOT / "benchmarks" / "results" / "planning.json"


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_smoke_run_writes_one_world_and_merges_the_others(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    old = {  # what an earlier session left: another world's numbers, and a stale two-room one
        "name": "planning",
        "metrics": {"success_reacher": 0.5, "success_two_room": -1.0, "ms_per_plan": 49.0},
        "runs": {"reacher-s0": {"model": {"ms_per_plan": 40.0}}},
    }
    (out / "planning.json").write_text(json.dumps(old))
    before = _digest(COMMITTED)
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--world", "two-room", "--seeds", "0"]
    cmd += ["--out-dir", str(out), "--work-dir", str(tmp_path / "work")]
    # cut short: one piece of the quality-budget oracle (1 of 2 episodes in the smoke sizes)
    proc = subprocess.run([*cmd, "--oracle-chunks", "1"], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "has 1 of 2 episodes; run again to go on" in proc.stdout
    cut = json.loads((out / "planning-two-room.json").read_text())
    assert "oracle_success_two_room_quality" not in cut["metrics"]
    assert cut["runs"]["two-room-quality-oracle"]["episodes"] == 1
    oracle_part = out / "planning-parts" / "two-room-quality-oracle.json"
    first = json.loads(oracle_part.read_text())["episodes"]
    # the next run goes on from the saved piece: episode 1 only, nothing retrained
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test episodes 1-1" in proc.stdout and "test episodes 0-0" not in proc.stdout
    assert "reusing two-room-s0.json" in proc.stdout
    assert _digest(COMMITTED) == before  # the committed results are never touched
    saved_oracle = json.loads(oracle_part.read_text())["episodes"]
    assert len(saved_oracle) == 2 and saved_oracle[0] == first[0]

    part = json.loads((out / "planning-two-room.json").read_text())
    m = part["metrics"]
    oracle = part["runs"]["two-room-quality-oracle"]
    assert oracle["episodes"] == 2
    assert m["oracle_success_two_room_quality"] == oracle["row"]["success_rate"]
    assert oracle["row"]["success_rate"] == sum(e["success"] for e in saved_oracle) / 2
    for key in ("success_two_room", "oracle_success_two_room", "random_success_two_room",
                "success_two_room_quality", "oracle_success_two_room_quality"):  # fmt: skip
        assert 0.0 <= m[key] <= 1.0, key
    assert m["visibility_two_room_agent_pos"] == 1.0  # the agent is its own reference
    run = part["runs"]["two-room-s0"]
    assert run["planner_quality"]["samples"] == 8  # the smoke budget, not the default's 32
    assert run["visibility"]["agent_pos"]["starts"] == 4

    merged = json.loads((out / "planning.json").read_text())
    assert merged["metrics"]["success_reacher"] == 0.5  # another world's number is kept
    assert merged["metrics"]["success_two_room"] == m["success_two_room"]  # the stale one is not
    assert "ms_per_plan" not in merged["metrics"]
    ms = sorted([40.0, run["model"]["ms_per_plan"]])
    assert merged["metrics"]["ms_per_plan_median"] == sum(ms) / 2
    assert set(merged["runs"]) == {
        "reacher-s0",
        "two-room-s0",
        "two-room-quality-validation",
        "two-room-quality-oracle",
    }
    val = merged["runs"]["two-room-quality-validation"]  # the budget checked off the test set
    assert val["manifest_seed"] == 1 and val["request"]["episodes"] == 1
    assert m["oracle_success_two_room_quality_validation"] == val["oracle"]["success_rate"]

    # a fresh machine (no work dir) with the committed parts: nothing is trained or planned
    saved = json.loads((out / "planning-parts" / "two-room-s0.json").read_text())
    assert saved["protocol"]["seed"] == 0 and saved["success"] == m["success_two_room"]
    shutil.rmtree(tmp_path / "work")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "reusing two-room-s0.json" in proc.stdout and "training" not in proc.stdout
    assert not (tmp_path / "work" / "two-room-s0").exists()
    again = json.loads((out / "planning-two-room.json").read_text())
    assert again["metrics"] == m and again["runs"] == part["runs"]
    # another protocol (here: another quality budget seed set) does not reuse the part
    proc = subprocess.run([*cmd, "--quality-seeds", ""], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training two-room-s0" in proc.stdout


def test_smoke_refuses_to_write_the_committed_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--world", "two-room"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "--smoke never writes the committed results" in proc.stderr
