"""``physjepa monitor``: what ``--save`` writes into the run (``monitor.json``, bounded in
size)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from clitools import cli

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
