"""Hidden params from the predictor's context through the command line: ``physjepa eval
--param-probe`` into eval.json, the ``probe_r2_param_*`` rows of voe.json, and the one-line
refusal of runs whose data varies no hidden param (a debug run on a tiny ball-drop file in
the VoE setting; real files, real models)."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from clitools import assert_one_line_error, cli

from physjepa.config import load_preset
from physjepa.data.collect import collect
from physjepa.data.voe_pairs import VOE_PARAMS
from physjepa.metrics.params import HIDDEN
from physjepa.training.loop import train


@pytest.fixture(scope="module")
def varied_run(tmp_path_factory):
    """A 20-step debug run on 30 x 60 ball-drop episodes in the VoE setting (occluder;
    gravity, restitution, radius, friction and mass drawn per episode), 32x32 frames."""
    d = tmp_path_factory.mktemp("varied")
    data = collect("ball-drop", d / "voe.h5", episodes=30, steps=60, seed=0, image_size=32,
                   params=dict(VOE_PARAMS))  # fmt: skip
    cfg = load_preset("debug", ["train.steps=20", "train.device=cpu"])
    return train(cfg, data, d / "run", progress=False)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_eval_param_probe(varied_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(varied_run, run)
    proc = cli("eval", run, "--param-probe", "--no-viewer", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hidden params: linear probe R²" in proc.stdout
    ev = json.loads((run / "eval.json").read_text())
    pp, m = ev["param_probe"], ev["metrics"]
    assert set(pp["context"]) == {"8", "16"} and pp["history"] == 2
    assert pp["episodes_train"] == ev["episodes_train"] and pp["episodes_test"] == 6
    for name in HIDDEN:
        for length, suffix in (("16", ""), ("8", "_ctx8")):
            assert _same(
                m[f"eval/probe_r2_param_{name}{suffix}"], pp["context"][length][name]["r2"]
            )
        row = pp["latents"]["16"][name]
        assert _same(m[f"eval/probe_r2_param_{name}_event_latents"], row["r2"])
        row = pp["true_state"]["16"][name]
        assert _same(m[f"eval/probe_r2_param_{name}_true_state"], row["r2"])
    assert "eval/probe_r2_param_radius" not in m  # radius is on screen: not a hidden param
    # without the flag, eval.json has no such rows
    proc = cli("eval", run, "--no-viewer", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    again = json.loads((run / "eval.json").read_text())
    assert "param_probe" not in again
    assert not any(k.startswith("eval/probe_r2_param_") for k in again["metrics"])


def test_eval_param_probe_refuses_runs_without_hidden_params(copy_run, two_room_run, tmp_path):
    run = copy_run()  # ball-drop with fixed params: nothing varies
    proc = cli("eval", run, "--param-probe", cwd=tmp_path)
    assert_one_line_error(proc, "eval", "varies none of gravity, restitution, friction, mass")
    assert not (run / "eval.json").exists()
    proc = cli("eval", two_room_run, "--param-probe", cwd=tmp_path)
    assert_one_line_error(proc, "eval", "needs a ball-drop run", "'two-room'")


def test_voe_rows_for_hidden_params(varied_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(varied_run, run)
    args = ["--pairs", "1", "--steps", "30", "--untrained", "1"]
    proc = cli("voe", run, *args, "--pixel-steps", "5", "--oracle-steps", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hidden params R² from the predictor's context" in proc.stdout
    res = json.loads((run / "voe.json").read_text())
    m, ctx = res["metrics"], res["probes"]["params_context"]
    for name in HIDDEN:
        assert _same(m[f"probe_r2_param_{name}"], ctx["context"]["16"][name]["r2"])
        assert _same(m[f"probe_r2_param_{name}_ctx8"], ctx["context"]["8"][name]["r2"])
        assert _same(m[f"probe_r2_param_{name}_event_latents"], ctx["latents"]["16"][name]["r2"])
        assert _same(m[f"probe_r2_param_{name}_true_state"], ctx["true_state"]["16"][name]["r2"])
    # the per-frame-latent probes of every varied param keep their numbers, renamed
    for name in (*HIDDEN, "radius"):
        assert m[f"probe_r2_param_{name}_latents"] == res["probes"]["params_linear"][name]
        assert m[f"probe_r2_param_{name}_latents_mlp"] == res["probes"]["params_mlp"][name]
    assert "probe_r2_param_radius" not in m
