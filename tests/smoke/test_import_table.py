"""``physjepa import-table`` end to end (in process, through ``main``): a CSV log of a damped
spring-mass system becomes an episode file, a model trains on it with the command the import
prints (debug preset, MLP encoder on the sensors), its loss falls, and ``physjepa eval`` runs.

Measured (100 steps; data seeds 0-1, train seeds 0-2): last-10 / first-10 mean loss 0.46-0.52,
and the prediction term alone 0.48-0.85.
"""

from __future__ import annotations

import csv
import json
import shlex

import numpy as np
from clitools import assert_one_line_error, cli

from physjepa.data.episodes import EpisodeFile

EPISODES, ROWS, DT = 20, 60, 0.05
STEPS = 100
LOSS_RATIO = 0.7


def spring_csv(path, seed: int = 0) -> None:
    """Damped spring-mass, x'' = -k x - c x' + force, semi-implicit Euler; random force."""
    rng = np.random.default_rng(seed)
    k, c = 4.0, 0.5
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "ep", "x", "v", "force"])
        for ep in range(EPISODES):
            x, v = rng.uniform(-1, 1, 2)
            for i in range(ROWS):
                force = rng.uniform(-1, 1)
                w.writerow([f"{i * DT:.3f}", f"run{ep}", f"{x:.6f}", f"{v:.6f}", f"{force:.6f}"])
                v += (-k * x - c * v + force) * DT
                x += v * DT


def test_import_train_eval(tmp_path):
    spring_csv(tmp_path / "spring.csv")
    before = (tmp_path / "spring.csv").read_bytes()
    proc = cli(
        "import-table", "spring.csv", "--out", "d/spring.h5", "--obs", "x,v",
        "--action", "force", "--episode", "ep", "--time", "t", "--state", "x,v", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"{EPISODES} episode(s), {EPISODES * ROWS} rows, 2 sensor channel(s)" in proc.stdout
    assert "fps 20" in proc.stdout and "d/spring.h5" in proc.stdout
    imported = proc.stdout.splitlines()
    assert (tmp_path / "spring.csv").read_bytes() == before
    with EpisodeFile(tmp_path / "d" / "spring.h5") as f:
        assert f.n_episodes == EPISODES and set(f.ep_len) == {ROWS}
        assert f.sensor_names == ["x", "v"] and f.fps == 20.0 and f.world == "table"

    proc = cli("inspect", "d/spring.h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "world 'table'" in proc.stdout and "sensors" in proc.stdout

    # train with the command the import printed, plus the debug preset
    (hint,) = [line for line in imported if line.startswith("train on it:")]
    args = shlex.split(hint.split(":", 1)[1])
    assert args[:2] == ["physjepa", "train"] and "model.encoder=mlp" in args
    out = args[args.index("--out") + 1]
    extra = [f"train.steps={STEPS}", "train.log_every=1", "train.eval_every=0"]
    # (options before the hint's arguments: argparse takes the overrides as one run of words)
    proc = cli(
        "train", "--preset", "debug", "--quiet", *args[2:], "train.device=cpu", *extra, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / out
    meta = json.loads((run / "config.json").read_text())
    assert meta["data"]["obs_key"] == "sensors" and meta["data"]["world"] == "table"
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    assert len(losses) == STEPS
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < LOSS_RATIO * first, (first, last)
    pred = [r["train/loss_pred"] for r in records if "train/loss_pred" in r]
    assert np.mean(pred[-10:]) < np.mean(pred[:10]), "the prediction term itself falls"

    proc = cli("eval", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rollout error vs horizon" in proc.stdout
    ev = json.loads((run / "eval.json").read_text())
    assert ev["episodes_heldout"] == 4 and len(ev["rollout"]["model"]) == 4
    # the --state columns are what the probe reads back from the latents
    assert set(ev["probe"]["linear"]) == {"x", "v"}
    assert min(ev["probe"]["linear"].values()) > 0.9, ev["probe"]


def test_import_errors_are_one_line(tmp_path):
    spring_csv(tmp_path / "spring.csv")
    proc = cli(
        "import-table", "spring.csv", "--out", "d/x.h5", "--obs", "x,speed", cwd=tmp_path
    )  # fmt: skip
    assert_one_line_error(proc, "import-table", "'speed'", "'t', 'ep', 'x', 'v', 'force'")
    assert not (tmp_path / "d" / "x.h5").exists()
    (tmp_path / "spring.csv").write_text("t,x\n0,1\n1,oops\n")
    proc = cli("import-table", "spring.csv", "--out", "d/x.h5", "--obs", "x", cwd=tmp_path)
    assert_one_line_error(proc, "import-table", "line 3", "'x'", "'oops'")
    (tmp_path / "spring.csv").write_text("t,x\n0,1\n1,2\n")
    assert (
        cli("import-table", "spring.csv", "--out", "x.h5", "--obs", "x", cwd=tmp_path).returncode
        == 0
    )
    proc = cli("import-table", "spring.csv", "--out", "x.h5", "--obs", "x", cwd=tmp_path)
    assert_one_line_error(proc, "import-table", "x.h5", "already exists", "--overwrite")
