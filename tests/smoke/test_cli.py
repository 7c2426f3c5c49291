"""Every CLI command end to end through ``physjepa.cli.main`` in this process (see
``tests/clitools.py``), and one-line errors for bad input. The entry points themselves run as
real processes elsewhere: the console script in tests/e2e/test_demo.py, ``python -m physjepa``
in tests/smoke/test_materials_cli.py (stdin) and test_crash_resume.py, torchrun in
tests/distributed."""

from __future__ import annotations

import json
import re
import shutil

import h5py
import numpy as np
import pytest
from clitools import assert_one_line_error, assert_usage_error, cli, stderr_lines, train_cli

from physjepa import cli as physjepa_cli
from physjepa.data.episodes import EpisodeFile
from physjepa.device import resolve_device
from physjepa.options import NoOptions
from physjepa.runs import Run


# -- the happy path ----------------------------------------------------------------------------
def test_worlds(tmp_path):
    proc = cli("worlds", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ball-drop:" in proc.stdout and "two-room:" in proc.stdout
    assert "gravity=1.0" in proc.stdout and "max_speed=0.05" in proc.stdout


def test_collect_then_inspect(tmp_path):
    args = "--world ball-drop --episodes 3 --steps 6 --image-size 32 --workers 1 --seed 2"
    proc = cli(
        "collect", *args.split(), "--param", "gravity=2.0", "--out", "d/ball.h5", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote d/ball.h5" in proc.stdout
    assert stderr_lines(proc) == [], proc.stderr
    with EpisodeFile(tmp_path / "d" / "ball.h5") as f:
        assert f.n_episodes == 3 and f.n_steps == 18 and f.params["gravity"] == 2.0
        assert f.attrs()["seed"] == 2

    proc = cli("inspect", "d/ball.h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "world 'ball-drop', 3 episodes, 18 steps" in out
    for col, shape, dtype in [
        ("pixels", "(18, 32, 32, 3)", "uint8"),
        ("action", "(18, 2)", "float32"),
        ("state", "(18, 4)", "float32"),
        ("ep_offset", "(3,)", "int64"),
        ("ep_len", "(3,)", "int32"),
    ]:
        assert re.search(rf"^\s+{col}\s+{re.escape(shape)}\s+{dtype}$", out, re.M), (col, out)
    assert "state: ball_pos (1, 2), ball_vel (1, 2)" in out
    assert '"gravity": 2.0' in out  # params
    assert "format=physjepa-episodes" in out


def test_train_eval_report(tmp_path, ball_file):
    proc = train_cli(ball_file, "train.steps=4", "train.log_every=2", out="runs/r", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr  # --quiet: no progress bar
    assert "run saved in runs/r" in proc.stdout
    run = tmp_path / "runs" / "r"
    meta = json.loads((run / "config.json").read_text())
    assert meta["config"]["preset"] == "debug" and meta["config"]["train"]["steps"] == 4
    assert (run / "model.safetensors").is_file() and (run / "train_state.pt").is_file()

    # --resume continues to more steps without --data; without --quiet the resolved config
    # goes to stdout and the progress bar to stderr (nothing else there)
    proc = cli("train", "--out", "runs/r", "--resume", "train.steps=6", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"preset": "debug"' in proc.stdout and "parameters" in proc.stdout
    assert "6/6" in proc.stderr and stderr_lines(proc) == [], proc.stderr
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 6

    proc = cli("eval", "runs/r", "--device", "auto", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rollout error vs horizon" in proc.stdout and "ball_pos" in proc.stdout
    ev = json.loads((run / "eval.json").read_text())
    assert {"rollout", "probe", "collapse", "metrics"} <= set(ev)
    assert ev["step"] == 6 and ev["episodes_heldout"] == 2
    assert len(ev["rollout"]["model"]) == 4  # debug preset: eval.horizon=4
    assert set(ev["probe"]["linear"]) == {"ball_pos", "ball_vel"}
    assert ev["collapse"]["dim"] == 32
    assert ev["visibility"] is None and "lists no state variables" in ev["visibility_note"]
    assert (run / "rollout_strip.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    proc = cli("report", "runs/r", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = (run / "report.html").read_text()
    assert str((run / "report.html").resolve()) in proc.stdout
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "data:image/png;base64," in html  # plots are inlined ...
    # ... and nothing is fetched from elsewhere: no external scripts, styles or images
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html, re.I)
    assert not re.search(r"""src\s*=\s*["'](?!data:)""", html, re.I)
    assert "<script src" not in html.lower() and "<link" not in html.lower()


# -- bad input: non-zero exit, exactly one line on stderr, no traceback --------------------------
def test_error_missing_data_file(tmp_path):
    proc = train_cli("nope.h5", cwd=tmp_path)
    assert_one_line_error(proc, "train", "nope.h5", "not found", "physjepa collect")


def test_error_non_hdf5_file(tmp_path):
    (tmp_path / "junk.h5").write_bytes(b"this is not an HDF5 file\n" * 100)
    proc = cli("inspect", "junk.h5", cwd=tmp_path)
    assert_one_line_error(proc, "inspect", "junk.h5", "not a readable HDF5 file")


def test_error_unknown_world(tmp_path):
    proc = cli("collect", "--world", "moon", "--episodes", 1, "--out", "x.h5", cwd=tmp_path)
    assert_one_line_error(proc, "collect", "moon", "ball-drop", "two-room")
    assert not (tmp_path / "x.h5").exists()


def test_error_unknown_world_param(tmp_path):
    args = "--world ball-drop --episodes 1 --param gravty=2 --out x.h5"
    proc = cli("collect", *args.split(), cwd=tmp_path)
    assert_one_line_error(proc, "collect", "gravty", "gravity")


def test_error_unknown_config_key(tmp_path, ball_file):
    proc = train_cli(ball_file, "model.nope=1", cwd=tmp_path)
    assert_one_line_error(proc, "train", "model.nope", "dim", "conv_widths", "pred_depth")


def test_error_wrong_type(tmp_path, ball_file):
    proc = train_cli(ball_file, "model.dim=abc", cwd=tmp_path)
    assert_one_line_error(proc, "train", "model.dim", "'abc'", "int")


def test_error_unknown_preset(tmp_path, ball_file):
    proc = train_cli(ball_file, preset="huge", cwd=tmp_path)
    assert_one_line_error(proc, "train", "huge", "debug", "laptop", "gpu")


def test_error_run_dir_holds_a_run(tmp_path, ball_file, copy_run):
    run = copy_run("r")
    before = (run / "model.safetensors").read_bytes()
    proc = train_cli(ball_file, cwd=tmp_path)
    assert_one_line_error(proc, "train", "already holds a run", "--resume", "--overwrite")
    assert (run / "model.safetensors").read_bytes() == before


def test_error_eval_on_a_dir_that_is_not_a_run(tmp_path):
    (tmp_path / "notarun").mkdir()
    proc = cli("eval", "notarun", cwd=tmp_path)
    assert_one_line_error(proc, "eval", "notarun", "not a run directory")
    proc = cli("report", "notarun", cwd=tmp_path)
    assert_one_line_error(proc, "report", "not a run directory")


def test_error_eval_on_a_corrupt_checkpoint(tmp_path, copy_run):
    run = copy_run("r")
    (run / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(2048))
    proc = cli("eval", "r", cwd=tmp_path)
    assert_one_line_error(proc, "eval", "not a valid safetensors file")


def test_error_nan_in_data(tmp_path, ball_file):
    bad = tmp_path / "nan.h5"
    shutil.copy(ball_file, bad)
    with h5py.File(bad, "r+") as f:
        f["state"][45, 1] = np.nan
    proc = train_cli("nan.h5", cwd=tmp_path)
    assert_one_line_error(proc, "train", "NaN", "row 45", "episode 1, step 5")


def test_error_collect_would_overwrite(tmp_path, ball_file):
    shutil.copy(ball_file, tmp_path / "b.h5")
    args = "--world ball-drop --episodes 1 --steps 2 --out b.h5"
    proc = cli("collect", *args.split(), cwd=tmp_path)
    assert_one_line_error(proc, "collect", "already exists", "--overwrite")


def test_error_train_without_data(tmp_path):
    proc = cli("train", "--preset", "debug", "--out", "r", cwd=tmp_path)
    assert_one_line_error(proc, "train", "--data is required")


def test_demo_never_overwrites_other_data_or_runs(tmp_path, ball_file, copy_run):
    import hashlib

    # ball_file has 12 episodes, not the demo's 300: it is someone else's data
    data = tmp_path / "mine.h5"
    shutil.copy(ball_file, data)
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    proc = cli("demo", "--data", data, "--out", "d", cwd=tmp_path)
    assert_one_line_error(proc, "demo", "never overwrites")
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before
    assert not (tmp_path / "d").exists()

    # a run trained on other data is not replaced either
    run = copy_run("run")
    weights = (run / "model.safetensors").read_bytes()
    proc = cli("demo", "--data", data, "--episodes", "12", "--out", run, cwd=tmp_path)
    assert_one_line_error(proc, "demo", "only replaces its own runs")
    assert (run / "model.safetensors").read_bytes() == weights


# -- planning ------------------------------------------------------------------------------------
def test_plan_then_report(tmp_path, two_room_run):
    run = tmp_path / "tr"
    shutil.copytree(two_room_run, run)
    proc = cli(
        "plan",
        run,
        "--episodes",
        "2",
        "--set",
        "samples=8",
        "--set",
        "iterations=2",
        "--horizon",
        "2",
        "--gifs",
        "1",
        "--world",
        "two-room",
        "--device",
        "auto",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "success" in proc.stdout and "oracle" in proc.stdout and "random" in proc.stdout
    plan = json.loads((run / "plan.json").read_text())
    assert plan["world"] == "two-room" and len(plan["checkpoint_sha256"]) == 64
    assert plan["gifs"] == ["plan_ep0.gif"] and (run / "plan_ep0.gif").read_bytes()[:4] == b"GIF8"
    assert plan["planner"]["samples"] == 8 and plan["episodes"] == 2
    assert plan["device"] == str(resolve_device("auto"))  # 'auto' resolved once, recorded
    assert cli("report", run, cwd=tmp_path).returncode == 0
    html = (run / "report.html").read_text()
    assert "Planning (closed loop)" in html and "data:image/gif;base64," in html


def test_error_plan_bad_inputs(tmp_path, two_room_run, debug_run):
    assert_one_line_error(
        cli("plan", two_room_run, "--set", "samples=1", cwd=tmp_path), "plan", "samples=1"
    )
    assert_one_line_error(
        cli("plan", two_room_run, "--set", "bogus=3", cwd=tmp_path), "plan", "bogus"
    )
    assert_one_line_error(
        cli("plan", two_room_run, "--planner", "nope", cwd=tmp_path), "plan", "cem, gd, mppi"
    )
    assert_one_line_error(
        cli("plan", two_room_run, "--world", "push-t", cwd=tmp_path), "plan", "not 'push-t'"
    )
    assert_one_line_error(
        cli("plan", debug_run, cwd=tmp_path), "plan", "no planning manifest for world 'ball-drop'"
    )


def test_bad_option_values_name_the_flag(tmp_path, two_room_run):
    """Rules of the options dataclasses: one line naming the flag, nothing written."""
    proc = cli("plan", two_room_run, "--episodes", "0", cwd=tmp_path)
    assert_one_line_error(proc, "plan", "--episodes=0", "an integer >= 1")
    proc = cli("plan", two_room_run, "--horizon", "2", "--execute", "3", cwd=tmp_path)
    assert_one_line_error(proc, "plan", "--execute=3", "--horizon=2")
    proc = cli("plan", two_room_run, "--device", "gpu", cwd=tmp_path)
    assert_one_line_error(proc, "plan", "--device='gpu'", "auto, cpu, cuda")
    proc = cli("monitor", two_room_run, "--far", "2", cwd=tmp_path)
    assert_one_line_error(proc, "monitor", "--far=2.0", "a rate in (0, 1)")
    proc = cli("collect", "--world", "ball-drop", "--episodes", "0", "--out", "x.h5", cwd=tmp_path)
    assert_one_line_error(proc, "collect", "--episodes=0")
    assert not (two_room_run / "plan.json").exists() and not (tmp_path / "x.h5").exists()


def test_flags_argparse_refuses_name_the_flag(tmp_path, two_room_run):
    """What argparse refuses (a flag of another command, a value of the wrong kind): exit 2,
    its usage, then an error line naming the flag."""
    assert_usage_error(cli("plan", two_room_run, "--far", cwd=tmp_path), "plan", "--far")
    assert_usage_error(
        cli("plan", two_room_run, "--episodes", "x", cwd=tmp_path), "plan", "--episodes"
    )
    assert_usage_error(cli("collect", "--out", "x.h5", cwd=tmp_path), "collect", "--world")
    assert not (two_room_run / "plan.json").exists()


@pytest.mark.parametrize(
    "bug",
    [ValueError("a bug of ours"), np.linalg.LinAlgError("Singular matrix"), KeyError("bug")],
    ids=["ValueError", "LinAlgError", "KeyError"],
)
def test_an_internal_error_keeps_its_traceback(tmp_path, monkeypatch, bug):
    """Only errors we raise on purpose become one line: a plain ValueError or a numpy error
    inside a handler is a bug, and main lets it through with its traceback."""

    def handler(o):
        raise bug

    cmd = physjepa_cli.Command(NoOptions, handler, "worlds, broken")
    monkeypatch.setitem(physjepa_cli.COMMANDS, "worlds", cmd)
    with pytest.raises(type(bug)) as info:
        physjepa_cli.main(["worlds"])
    assert info.value is bug


# -- data of another world, and places that cannot be written ----------------------------------
def test_eval_refuses_data_of_another_world_and_keeps_eval_json(tmp_path, copy_run, two_room_run):
    run = copy_run()
    (run / "eval.json").write_text('{"metrics": {"eval/probe_r2_ball_pos": 0.5}}\n')
    before = (run / "eval.json").read_bytes()
    other = Run.open(two_room_run).data.path
    proc = cli("eval", run, "--data", other, "--device", "auto", cwd=tmp_path)
    assert_one_line_error(
        proc, "eval", str(other), "is not data for the run", "'two-room'", "'ball-drop'"
    )
    assert (run / "eval.json").read_bytes() == before
    assert not (run / "rollout_strip.png").exists()


def test_train_resume_refuses_other_data(tmp_path, copy_run, two_room_run):
    run = copy_run()
    weights, log = (run / "model.safetensors").read_bytes(), (run / "metrics.jsonl").read_bytes()
    other = Run.open(two_room_run).data.path
    proc = cli("train", "--out", run, "--resume", "--data", other, "--quiet", cwd=tmp_path)
    assert_one_line_error(proc, "train", "--resume continues on the run's own data", str(other))
    assert (run / "model.safetensors").read_bytes() == weights
    assert (run / "metrics.jsonl").read_bytes() == log


def test_collect_into_a_place_that_cannot_be_written(tmp_path):
    (tmp_path / "afile").write_text("x")
    args = ["collect", "--world", "ball-drop", "--episodes", "1", "--steps", "2"]
    for out, needles in [
        ("/proc/x.h5", ["cannot write /proc/x.h5", "choose an output path"]),
        ("afile/x.h5", ["cannot write afile/x.h5", "afile is a file, not a folder"]),
    ]:
        proc = cli(*args, "--workers", "1", "--out", out, cwd=tmp_path)
        line = assert_one_line_error(proc, "collect", *needles)
        assert "errno" not in line.lower() and "Unable to" not in line, line
    assert (tmp_path / "afile").read_text() == "x"


def test_eval_reports_latent_visibility_in_a_world_with_a_state(tmp_path, two_room_run):
    run = tmp_path / "tr"
    shutil.copytree(two_room_run, run)
    proc = cli("eval", run, "--no-viewer", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "latent visibility" in proc.stdout
    ev = json.loads((run / "eval.json").read_text())
    vis = ev["visibility"]
    assert set(vis) == {"agent_pos"} and vis["agent_pos"]["reference"]
    assert vis["agent_pos"]["visibility"] == 1.0 and vis["agent_pos"]["starts"] == 32
    assert vis["agent_pos"]["latent_distance"] > 0
    assert ev["metrics"]["eval/visibility_agent_pos"] == 1.0
