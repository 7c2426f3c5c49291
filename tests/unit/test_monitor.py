"""``physjepa monitor``: what ``--save`` writes into the run (``monitor.json``, bounded in
size), and a video read directly (real MP4s written here with PyAV), frame for frame as
``physjepa convert`` imports it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from clitools import assert_one_line_error, cli, train_cli
from videos import write_video

from physjepa.data.episodes import EpisodeFile
from physjepa.recipes.monitor import MonitorRecord


def _stdout_alerts(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _summary(proc) -> dict:
    return json.loads(proc.stderr.strip().splitlines()[-1])


# -- monitor.json ------------------------------------------------------------------------------
def test_the_record_pools_the_trace_by_max_and_stays_bounded():
    rng = np.random.default_rng(0)
    raw = rng.gamma(2.0, 1.0, 5003)
    raw[[0, 700, 701, 2500]] = np.nan  # stream starts: nothing scored there
    raw[3001] = 1e3  # one spike
    rec = MonitorRecord(points=64, max_alerts=7)
    rec.scores(raw[:64])
    assert len(rec.trace()["max"]) == 64 and rec.width == 1  # full, not yet pooled
    rec = MonitorRecord(points=64, max_alerts=7)
    at, positions = 0, []
    while at < len(raw):
        n = int(rng.integers(0, 300))
        positions.append((rec.scores(raw[at : at + n]), at))
        for i in range(n):
            rec.alert(at + i, {"step": at + i})
        at += n
    assert all(got == want for got, want in positions)  # scores() returns the position
    tr = rec.trace()
    w, got = tr["every"], tr["max"]
    assert tr["steps"] == len(raw) and len(got) <= 64 and w == 128  # 5003 / 64 -> 128 a bin
    assert len(got) == -(-len(raw) // w)
    for j, v in enumerate(got):
        chunk = raw[j * w : (j + 1) * w]
        want = None if np.isnan(chunk).all() else float(f"{np.nanmax(chunk):.6g}")
        assert v == want, j
    assert max(v for v in got if v is not None) == 1e3  # the spike survives pooling
    assert [a["position"] for a in rec.alerts] == list(range(7))  # only the first 7 are kept


def test_monitor_save_writes_the_alerts_it_emitted_and_the_trace(tmp_path, copy_run, ball_file):
    run = copy_run()
    args = ["monitor", run, "--source", ball_file, "--far", "0.05", "--cooldown", "3"]
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (run / "monitor.json").exists()  # only with --save
    proc = cli(*args, "--save", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary, printed = _summary(proc), _stdout_alerts(proc)
    assert summary["wrote"] == str(run / "monitor.json")
    res = json.loads((run / "monitor.json").read_text())
    assert res["source"] == str(ball_file) and res["threshold_from"] == "calibration"
    assert res["threshold"] == pytest.approx(summary["threshold"], abs=1e-6)
    assert res["far"] == 0.05 and res["calibration_steps"] == summary["calibration_steps"]
    assert res["rows"] == summary["rows"] == 12 * 40
    assert res["alerts_total"] == summary["alerts"] == len(printed) >= 1
    # every alert as it was printed, plus where it sits in the source (12 streams of 40
    # steps back to back) and its time from the run's data rate
    saved = res["alerts"]
    assert [{k: a[k] for k in printed[0]} for a in saved] == printed
    assert [a["position"] for a in saved] == [40 * a["stream"] + a["step"] for a in saved]
    fps = res["fps"]
    assert fps > 0 and all(a["time_s"] == pytest.approx(a["row"] / fps, abs=1e-3) for a in saved)
    tr = res["trace"]
    assert tr["every"] == 1 and tr["steps"] == 12 * 40 and len(tr["max"]) == 12 * 40
    assert sum(v is not None for v in tr["max"]) == res["scored_steps"] == 12 * 39
    for a in saved:  # the trace holds each alert's surprise (alerts round to 6 decimals)
        assert tr["max"][a["position"]] == pytest.approx(a["surprise"], abs=1e-6)
        assert a["surprise"] > res["threshold"]
    # --threshold given: recorded as such
    proc = cli(*args, "--save", "--threshold", "1e9", cwd=tmp_path)
    res = json.loads((run / "monitor.json").read_text())
    assert res["threshold_from"] == "--threshold" and res["threshold"] == 1e9
    assert res["alerts"] == [] and res["alerts_total"] == 0


# -- a video as the source ---------------------------------------------------------------------


@pytest.fixture
def ball_video(tmp_path, ball_file):
    """Episode 0 of the ball file as a 64 x 80 MP4 (twice the size, black bars left and right:
    not the run's 32 x 32), its actions in ``act.npy`` and, for ``convert``, in ``ball.csv``."""
    with EpisodeFile(ball_file) as f:
        px, act = f.load("pixels", [0]), f.load("action", [0])
    big = px.repeat(2, axis=1).repeat(2, axis=2)
    write_video(tmp_path / "ball.mp4", np.pad(big, ((0, 0), (0, 0), (8, 8), (0, 0))))
    np.save(tmp_path / "act.npy", act)
    rows = ["ax,ay"] + [",".join(f"{v:.9g}" for v in a) for a in act]
    (tmp_path / "ball.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "ball.mp4"


def test_monitor_reads_a_video_frame_for_frame_as_convert_imports_it(
    tmp_path, debug_run, ball_video
):
    # --threshold 0 and --cooldown 1: an alert at every scored step, so every surprise shows
    every = ["--threshold", "0", "--cooldown", "1"]
    proc = cli("monitor", debug_run, "--source", ball_video, "--actions", "act.npy", *every,
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary, from_video = _summary(proc), _stdout_alerts(proc)
    assert summary["rows"] == 40 and summary["scored_steps"] == 39 == len(from_video)
    assert [a["line"] for a in from_video] == list(range(2, 41))  # 1-based frame positions
    # the same video imported by convert (centre-cropped and resized the same way), monitored
    # as an episode file: the same surprise at every step, the same regions to blame
    proc = cli("convert", ball_video, "--to", "ball_video.h5", "--size", "32", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = cli("monitor", debug_run, "--source", "ball_video.h5", *every, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from_file = _stdout_alerts(proc)

    def key(a):
        return a["step"], a["row"], a["surprise"], a["top"]

    assert list(map(key, from_video)) == list(map(key, from_file))
    # and the actions were used: without them (zeros) the surprises differ
    proc = cli("monitor", debug_run, "--source", ball_video, *every, cwd=tmp_path)
    assert [a["surprise"] for a in _stdout_alerts(proc)] != [a["surprise"] for a in from_video]


def test_monitor_refuses_a_broken_video_or_a_run_that_does_not_see_frames(
    tmp_path, debug_run, ball_file, ball_video
):
    data = ball_video.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # copied while being written
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    for name in ("cut.mp4", "noise.mp4"):  # (what PyAV finds wrong with a cut file varies)
        proc = cli("monitor", debug_run, "--source", name, cwd=tmp_path)
        line = assert_one_line_error(proc, "monitor", f"error: {name} ", "re-encode it")
        assert "video" in line and proc.stdout == ""
    np.save(tmp_path / "short.npy", np.zeros((5, 2), np.float32))
    proc = cli("monitor", debug_run, "--source", ball_video, "--actions", "short.npy",
               cwd=tmp_path)  # fmt: skip
    assert_one_line_error(proc, "monitor", "short.npy", "(40, 2)", "one row per frame")
    # a model of state vectors cannot take frames
    proc = train_cli(ball_file, "data.obs=state", "model.encoder=mlp", "train.steps=2",
                     out="vec", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = cli("monitor", "vec", "--source", ball_video, cwd=tmp_path)
    assert_one_line_error(
        proc, "monitor", "is a video, but the run observes state (vectors of 4 channels)",
        "--columns",
    )  # fmt: skip
