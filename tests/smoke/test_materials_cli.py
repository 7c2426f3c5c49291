"""Beam and reaction worlds end to end: collect -> train on sensor vectors -> forecast ->
monitor a stream with malformed rows and an injected fault (file, stdin, a growing file).

In process through ``physjepa.cli.main``, except the stdin stream: that one is a real
``python -m physjepa`` with a pipe."""

from __future__ import annotations

import json
import shutil
import threading
import time

import numpy as np
import pytest
from clitools import assert_one_line_error, cli, subprocess_cli, train_cli

from physjepa.data.episodes import EpisodeFile
from physjepa.metrics.surprise import auroc
from physjepa.worlds import make

ONSET = 45


@pytest.fixture(scope="module")
def beam_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("beam")
    proc = cli("collect", "--world", "beam", "--episodes", "16", "--steps", "60",
               "--policy", "scripted", "--workers", "1", "--out", "beam.h5", cwd=d)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = train_cli("beam.h5", "model.encoder=mlp", "train.steps=60", cwd=d)
    assert proc.returncode == 0, proc.stderr
    return d


def test_collected_sensors_and_the_run_observes_them(beam_run):
    with EpisodeFile(beam_run / "beam.h5") as f:
        assert f.columns["sensors"][0] == (16 * 60, 9)
        assert f.sensor_names == list(make("beam").sensor_names)
        assert "failed" in dict(f.state_spec)
    meta = json.loads((beam_run / "r" / "config.json").read_text())
    assert meta["data"]["obs_key"] == "sensors"
    assert meta["data"]["obs_names"][-1] == "acoustic"
    proc = cli("eval", "r", "--no-viewer", cwd=beam_run)
    assert proc.returncode == 0, proc.stderr


def test_forecast_writes_metrics(beam_run):
    proc = cli("forecast", "r", "--horizon", "10", "--device", "auto", cwd=beam_run)
    assert proc.returncode == 0, proc.stderr
    assert "AUROC" in proc.stdout
    res = json.loads((beam_run / "r" / "forecast.json").read_text())
    assert res["horizon"] == 10 and len(res["scores"]) == res["episodes"] >= 1
    m = res["metrics"]
    # the metrics agree with the per-step scores written beside them: labels rebuilt from
    # the failure steps (1 within K=10 steps before the failure, 0 earlier, -1 after)
    labels = []
    for scores, failed in zip(res["scores"], res["failed_at"]):
        y = np.zeros(len(scores), np.int8)
        if failed is not None:
            y[failed:], y[max(0, failed - 10) : failed] = -1, 1
        labels.append(y)
    y, s = np.concatenate(labels), np.concatenate(res["scores"])
    assert m["failures"] == sum(f is not None for f in res["failed_at"]) >= 1
    assert m["steps_positive"] == (y == 1).sum() > 0 and m["steps_negative"] == (y == 0).sum()
    # (the scores are written rounded to 4 decimals)
    assert m["auroc"] == pytest.approx(auroc(s[y == 1], s[y == 0]), abs=0.01)
    # each held-out episode is judged by the threshold cross-fitted on the others
    thr = np.concatenate(
        [np.full(len(x), t) for x, t in zip(res["scores"], res["episode_thresholds"])]
    )
    assert m["false_alarm_rate"] == pytest.approx(np.mean(s[y == 0] > thr[y == 0]), abs=0.02)
    assert res["threshold_from"].startswith("conformal, cross-fitted")
    assert proc.stdout.count(f"AUROC {m['auroc']:.3f}") == 1


def test_forecast_sets_its_threshold_on_a_calibration_file(beam_run, ball_file):
    proc = cli("collect", "--world", "beam", "--episodes", "6", "--steps", "60", "--seed", "7",
               "--policy", "scripted", "--workers", "1", "--out", "cal.h5",
               cwd=beam_run)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = cli("forecast", "r", "--horizon", "10", "--calibrate", "cal.h5", cwd=beam_run)
    assert proc.returncode == 0, proc.stderr
    res = json.loads((beam_run / "r" / "forecast.json").read_text())
    assert res["threshold_from"] == "conformal on the 6 episodes of cal.h5"
    assert res["episode_thresholds"] == [res["metrics"]["threshold"]] * res["episodes"]
    before = (beam_run / "r" / "forecast.json").read_bytes()
    proc = cli("forecast", "r", "--calibrate", ball_file, cwd=beam_run)
    assert_one_line_error(proc, "forecast", str(ball_file), "'ball-drop'", "'beam'")
    assert (beam_run / "r" / "forecast.json").read_bytes() == before


def _stream_csv(run_dir, path, bad_rows=True):
    """A normal beam stream whose gauge 2 starts drifting hard at row ONSET, with malformed
    rows mixed in; returns the number of good rows."""
    columns = cli("monitor", "r", "--columns", cwd=run_dir).stdout.strip()
    world = make("beam", fault=["drift", ONSET, 2, 0.05])
    world.reset(seed=123)
    rng = np.random.default_rng(0)
    lines = [columns]
    for t in range(70):
        a = world.scripted_action(rng)
        lines.append(",".join(f"{v:.7g}" for v in [*world.sensors(), *a]))
        world.step(a)
        if bad_rows and t in (10, 30):
            lines.append("1,2,three")  # too few fields and not a number
            lines.append(",".join(["nan"] * len(columns.split(","))))
    path.write_text("\n".join(lines) + "\n")
    return 70


def _check_alerts(stdout, good_rows):
    alerts = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert alerts, "no alert for a gauge drifting 5 standard deviations per step"
    hit = [a for a in alerts if a["row"] >= ONSET]
    assert hit and hit[0]["row"] <= ONSET + 3  # found within a few steps
    assert hit[0]["score"] > hit[0]["threshold"]
    assert hit[0]["channel"] == "gauge_top_3"  # channel 2 is the drifting one
    assert hit[0]["top"][0]["channel"] == "gauge_top_3"
    return alerts


def test_monitor_streams_a_file_skips_bad_rows_and_flags_the_fault(beam_run):
    good = _stream_csv(beam_run, beam_run / "stream.csv")
    proc = cli("monitor", "r", "--source", "stream.csv", "--far", "0.001", cwd=beam_run)
    assert proc.returncode == 0, proc.stderr
    _check_alerts(proc.stdout, good)
    err = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    skipped = [e for e in err if "skipped_line" in e]
    assert len(skipped) == 4 and {e["reason"] for e in skipped} == {
        "3 fields, the header has 11",
        "NaN or inf",
    }
    summary = err[-1]
    assert summary["rows"] == good and summary["skipped_rows"] == 4  # it kept running
    assert summary["rows_per_s"] > 0


def test_monitor_channel_check_names_the_channel_and_refuses_pixel_runs(beam_run, debug_run):
    _stream_csv(beam_run, beam_run / "stream.csv", bad_rows=False)
    proc = cli(
        "monitor", "r", "--source", "stream.csv", "--far", "0.001", "--save", cwd=beam_run
    )  # fmt: skip  (sensor rows: the check is on by default)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1])["channel_check"] is True
    alerts = _check_alerts(proc.stdout, 70)
    assert all(len(a["channel_errors"]) == 3 for a in alerts)
    assert {a["raised_by"] for a in alerts} <= {"surprise", "channel check"}
    for a in alerts:  # the check names its worst channel when it raised the alarm
        if a["raised_by"] == "channel check":
            assert a["channel"] == max(a["channel_errors"], key=a["channel_errors"].get)
    saved = json.loads((beam_run / "r" / "monitor.json").read_text())
    assert saved["channel_check"] is True and saved["alerts_total"] == len(alerts)
    proc = cli("monitor", str(debug_run), "--source", str(beam_run / "stream.csv"),
               "--channel-check", cwd=beam_run)  # fmt: skip
    assert_one_line_error(proc, "monitor", "--channel-check", "pixels")
    proc = cli("monitor", "r", "--source", "stream.csv", "--far", "0.001", "--no-channel-check",
               "--save", cwd=beam_run)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1])["channel_check"] is False
    assert all("channel_errors" not in a for a in _check_alerts(proc.stdout, 70))
    assert json.loads((beam_run / "r" / "monitor.json").read_text())["channel_check"] is False
    proc = cli("monitor", "r", "--source", "stream.csv", "--channel-check", "--no-channel-check",
               cwd=beam_run)  # fmt: skip
    assert_one_line_error(proc, "monitor", "contradict")


def test_monitor_without_the_runs_training_data_scores_surprise_alone(beam_run):
    _stream_csv(beam_run, beam_run / "stream.csv", bad_rows=False)
    shutil.copy(beam_run / "beam.h5", beam_run / "normal.h5")
    (beam_run / "beam.h5").rename(beam_run / "beam-away.h5")
    try:  # the check's head is fitted on the training episodes: without them, a note
        args = ("monitor", "r", "--source", "stream.csv", "--far", "0.001", "--calibrate",
                "normal.h5")  # fmt: skip
        proc = cli(*args, cwd=beam_run)
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(x) for x in proc.stderr.strip().splitlines()]
        assert any("no per-channel check" in x.get("note", "") for x in lines)
        assert lines[-1]["channel_check"] is False
        assert_one_line_error(cli(*args, "--channel-check", cwd=beam_run), "monitor",
                              "beam.h5 is missing", "restore it")  # fmt: skip
    finally:
        (beam_run / "beam-away.h5").rename(beam_run / "beam.h5")


def test_monitor_reads_stdin_and_follows_a_growing_file(beam_run):
    good = _stream_csv(beam_run, beam_run / "stream.csv", bad_rows=False)
    text = (beam_run / "stream.csv").read_text()
    proc = subprocess_cli("monitor", "r", "--source", "-", "--far", "0.001", "--device", "auto",
                          input=text, cwd=beam_run)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _check_alerts(proc.stdout, good)

    # a live log: rows appended while the monitor watches the file
    live = beam_run / "live.csv"
    lines = text.splitlines(keepends=True)
    live.write_text("".join(lines[:20]))

    def writer():
        time.sleep(0.5)
        with open(live, "a") as f:
            for line in lines[20:]:
                f.write(line)
                f.flush()
                time.sleep(0.01)

    th = threading.Thread(target=writer)
    th.start()
    proc = cli("monitor", "r", "--source", "live.csv", "--far", "0.001", "--follow",
               "--idle-exit", "3", cwd=beam_run)  # fmt: skip
    th.join()
    assert proc.returncode == 0, proc.stderr
    _check_alerts(proc.stdout, good)
    assert json.loads(proc.stderr.splitlines()[-1])["rows"] == good


def test_monitor_and_forecast_bad_input(beam_run):
    (beam_run / "wrong.csv").write_text("a,b\n1,2\n")
    assert_one_line_error(
        cli("monitor", "r", "--source", "wrong.csv", cwd=beam_run), "monitor", "lacks column"
    )
    assert_one_line_error(
        cli("monitor", "r", "--source", "nope.csv", cwd=beam_run), "monitor", "does not exist"
    )
    assert_one_line_error(
        cli("monitor", "r", "--source", "beam.h5", "--far", "2", cwd=beam_run), "monitor", "--far"
    )
    assert_one_line_error(
        cli("forecast", "r", "--horizon", "0", cwd=beam_run), "forecast", "--horizon"
    )


def test_forecast_and_monitor_refuse_data_of_another_world(beam_run, ball_file):
    """A ball-drop file given to a beam run: one line naming both worlds, nothing written."""
    result = beam_run / "r" / "forecast.json"
    result.write_text('{"metrics": {}}\n')
    before = result.read_bytes()
    proc = cli("forecast", "r", "--data", ball_file, "--device", "auto", cwd=beam_run)
    assert_one_line_error(proc, "forecast", str(ball_file), "'ball-drop'", "'beam'")
    assert result.read_bytes() == before
    _stream_csv(beam_run, beam_run / "stream.csv", bad_rows=False)
    proc = cli("monitor", "r", "--source", "stream.csv", "--calibrate", ball_file, cwd=beam_run)
    assert_one_line_error(proc, "monitor", str(ball_file), "'ball-drop'", "'beam'")
    assert proc.stdout == ""  # no alert was emitted


def test_forecast_refuses_a_world_without_failure(tmp_path):
    proc = cli("collect", "--world", "reaction", "--episodes", "4", "--steps", "20",
               "--policy", "scripted", "--workers", "1", "--out", "re.h5",
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with EpisodeFile(tmp_path / "re.h5") as f:
        assert f.columns["sensors"][0] == (80, 8)
    assert train_cli("re.h5", "model.encoder=mlp", "train.steps=2", cwd=tmp_path).returncode == 0
    assert_one_line_error(cli("forecast", "r", cwd=tmp_path), "forecast", "failed")
    # and an encoder that does not suit the observed column
    proc = train_cli("re.h5", "data.obs=sensors", out="r2", cwd=tmp_path)
    assert_one_line_error(proc, "train", "data.obs='sensors'", "model.encoder=mlp")


def test_monitor_frames_and_episode_files_with_a_pixel_model(beam_run):
    from PIL import Image

    proc = train_cli("beam.h5", "train.steps=4", out="px", cwd=beam_run)  # conv, on pixels
    assert proc.returncode == 0, proc.stderr
    frames = beam_run / "frames"
    frames.mkdir()
    with EpisodeFile(beam_run / "beam.h5") as f:
        px, act = f.load("pixels", [0]), f.load("action", [0])
    for i, im in enumerate(px):
        Image.fromarray(im).save(frames / f"{i:04d}.png")
    np.save(beam_run / "act.npy", act)
    # --threshold 0: every scored step is over it, so alerts come exactly every --cooldown
    # steps from the first scored one
    proc = cli("monitor", "px", "--source", "frames", "--actions", "act.npy", "--threshold", "0",
               "--cooldown", "10", cwd=beam_run)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stderr.splitlines()[-1])
    assert summary["rows"] == len(px) and summary["scored_steps"] == len(px) - 1
    alerts = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(alerts) == summary["alerts"] == -(-summary["scored_steps"] // 10), alerts
    assert np.all(np.diff([a["step"] for a in alerts]) == 10)
    for a in alerts:  # an alert on frames names image regions
        assert a["surprise"] > a["threshold"] == 0.0
        assert len(a["top"][0]["region"]) == 4 and "channel" not in a["top"][0]
    proc = cli("monitor", "px", "--source", "beam.h5", cwd=beam_run)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stderr.splitlines()[-1])
    assert summary["rows"] == 16 * 60 and summary["scored_steps"] == 16 * 59  # 16 streams
    np.save(beam_run / "short.npy", act[:5])
    assert_one_line_error(
        cli("monitor", "px", "--source", "frames", "--actions", "short.npy", cwd=beam_run),
        "monitor",
        "one row per frame",
    )


def test_monitor_a_table_without_actions_and_a_half_written_last_row(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["ep,t,x,v"]
    for ep in range(6):
        x, v = rng.normal(), 0.0
        for t in range(40):
            rows.append(f"{ep},{t * 0.1:.1f},{x:.6f},{v:.6f}")
            v += -0.3 * x - 0.05 * v
            x += 0.1 * v
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    proc = cli("import-table", "log.csv", "--out", "log.h5", "--obs", "x,v", "--episode", "ep",
               "--time", "t", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert train_cli("log.h5", "model.encoder=mlp", "train.steps=4", cwd=tmp_path).returncode == 0
    assert cli("monitor", "r", "--columns", cwd=tmp_path).stdout.strip() == "x,v"
    # a live log whose last row is still being written (no newline yet)
    (tmp_path / "live.csv").write_text(
        "x,v\n" + "\n".join(r.split(",", 2)[2] for r in rows[1:31]) + "\n0.1"
    )
    proc = cli("monitor", "r", "--source", "live.csv", "--follow", "--idle-exit", "1",
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stderr.splitlines()[-1])
    assert summary["rows"] == 30 and summary["skipped_rows"] == 1  # the half row, at the end
