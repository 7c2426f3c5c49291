"""The HTML report: self-contained, correct numbers, and robust to missing inputs."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from physjepa.config import load_preset
from physjepa.data.collect import collect
from physjepa.options import ForecastOptions, MonitorOptions
from physjepa.recipes.forecast import run_forecast
from physjepa.recipes.monitor import monitor
from physjepa.report import write_report
from physjepa.report.plots import loss_curves_png, png_data_uri, rollout_error_png
from physjepa.training.loop import train

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CONFIG = {
    "config": {
        "preset": "ball-drop-small",
        "data": {"path": "data/ball.h5", "batch_size": 64},
        "model": {"latent_dim": 128, "encoder": "cnn"},
        "loss": {"sigreg_weight": 0.1, "rollout_steps": 4},
        "train": {"steps": 1500, "lr": 1e-3},
        "eval": {"horizon": 10},
    },
    "spec": {"obs_shape": [64, 64, 3], "action_dim": 2, "history": 3},
    "data": {
        "path": "data/ball.h5",
        "world": "ball-drop",
        "params": {"gravity": 9.81},
        "state_spec": [["ball_pos", [1, 2]], ["ball_vel", [1, 2]]],
        "train_episodes": 240,
        "val_episodes": 60,
    },
    "n_params": 123456,
    "physjepa_version": "0.1.0",
}

HORIZON = list(range(1, 11))
EVAL = {
    "step": 1500,
    "checkpoint_sha256": "ab12cd34ef56" + "0" * 52,
    "rollout": {
        "horizon": HORIZON,
        "model": [0.01 * h for h in HORIZON],
        "baseline": [0.05 * h for h in HORIZON],
        "ratio": [0.2] * 9 + [float("nan")],
        "n_windows": 1800,
    },
    "probe": {
        "features": "latents of the last 2 frames, concatenated",
        "linear": {"ball_pos": 0.98, "ball_vel": 0.93},
        "n_train": 20000,
        "n_test": 5000,
    },
    "collapse": {
        "std_min": 0.3,
        "std_mean": 0.9,
        "std_max": 1.4,
        "effective_rank": 95.2,
        "dim": 128,
    },
    "metrics": {"eval/rollout_ratio_h10": 0.3, "eval/probe_r2_ball_pos": 0.98},
    "seconds": 12.3,
}


def tiny_png(w: int = 4, h: int = 3) -> bytes:
    """A valid RGB PNG written with zlib only."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = b"".join(
        b"\x00" + b"".join(bytes([x * 60 % 256, y * 80 % 256, 128]) for x in range(w))
        for y in range(h)
    )
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def metrics_lines() -> list[str]:
    lines = []
    for step in range(25, 1501, 25):
        decay = math.exp(-step / 500)
        rec = {
            "step": step,
            "time_s": step * 0.12,
            "train/loss": 0.2 + decay,
            "train/loss_pred": 0.1 + 0.5 * decay,
            "train/loss_rollout": 0.15 + 0.6 * decay,
            "train/sigreg": 1.0 + 3 * decay,
            "train/lr": 1e-3,
            "train/grad_norm": 1.3,
            "train/frames_per_s": 2100.0,
        }
        if step == 50:
            del rec["train/loss_rollout"]  # any line may lack any key
        lines.append(json.dumps(rec))
        if step % 500 == 0:
            lines.append(
                json.dumps(
                    {
                        "step": step,
                        "eval/loss_pred": 0.1 + 0.4 * decay,
                        "eval/probe_r2_ball_pos": 0.9,
                    }
                )
            )
    return lines


def make_run(root: Path, *, metrics=True, eval_=True, strip=True, truncate=False) -> Path:
    run = root / "runs" / "ball-demo"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(CONFIG, indent=2))
    if metrics:
        text = "\n".join(metrics_lines()) + "\n"
        if truncate:
            text += '{"step": 1525, "train/loss": 0.2'  # killed mid-write
        (run / "metrics.jsonl").write_text(text)
    if eval_:
        (run / "eval.json").write_text(json.dumps(EVAL))  # NaN written as bare NaN
    if strip:
        (run / "rollout_strip.png").write_bytes(tiny_png())
    return run


def img_sources(html: str) -> list[str]:
    imgs = re.findall(r"<img\b[^>]*>", html)
    srcs = [re.search(r'src="([^"]*)"', tag) for tag in imgs]
    assert all(srcs), "every <img> needs a src"
    return [m.group(1) for m in srcs]


def assert_self_contained(html: str) -> None:
    refs = re.findall(r'(?:src|href)\s*=\s*["\']?([^"\'\s>]*)', html, flags=re.I)
    assert not [r for r in refs if r.lower().startswith(("http:", "https:", "//"))]
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html
    for src in img_sources(html):
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :], validate=True).startswith(PNG_SIGNATURE)


def test_tiny_png_is_valid():
    png = tiny_png()
    assert png.startswith(PNG_SIGNATURE) and png.endswith(b"IEND\xaeB`\x82")


def test_full_report(tmp_path):
    run = make_run(tmp_path)
    out = write_report(run)
    assert out == run / "report.html" and out.is_file()
    html = out.read_text(encoding="utf-8")
    assert_self_contained(html)
    # loss curves, rollout plot, strip image
    assert len(img_sources(html)) == 3
    assert tiny_png() in [base64.b64decode(s.split(",", 1)[1]) for s in img_sources(html)]
    for text in (
        "ball-demo",
        "ball-drop",
        "ab12cd34ef56",
        "123,456",
        "240",
        "ball_pos",
        "ball_vel",
    ):
        assert text in html
    assert "0.980" in html and "0.930" in html  # probe R², 3 decimals
    assert "95.200" in html and "0.300" in html  # collapse
    assert "n/a" in html  # NaN ratio at h=10
    text_only = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "", html)
    assert not re.search(r"\bnan\b", text_only, flags=re.I)
    assert "<details>" in html and "sigreg_weight" in html  # resolved config
    assert "physjepa eval" not in html
    assert not list(run.glob(".report.*"))  # no temp file left behind


def test_strings_are_escaped(tmp_path):
    run = make_run(tmp_path)
    ev = dict(EVAL, probe=dict(EVAL["probe"], linear={"<script>x</script>": 0.5}))
    (run / "eval.json").write_text(json.dumps(ev))
    html = write_report(run).read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_config_only(tmp_path):
    run = make_run(tmp_path, metrics=False, eval_=False, strip=False)
    html = write_report(run).read_text()
    assert_self_contained(html)
    assert "physjepa eval runs/ball-demo" in html
    assert img_sources(html) == []
    assert "No metrics.jsonl records" in html
    assert "ball-drop" in html and "<details>" in html


def test_empty_dir_and_broken_files(tmp_path):
    run = tmp_path / "runs" / "empty"
    run.mkdir(parents=True)
    assert "config.json is missing" in write_report(run).read_text()
    (run / "config.json").write_text("{not json")
    (run / "eval.json").write_text("[1, 2]")
    (run / "rollout_strip.png").write_bytes(b"GIF89a")
    html = write_report(run).read_text()
    assert "config.json is unreadable" in html
    assert "eval.json is not a JSON object" in html
    assert "not a PNG" in html


def test_truncated_metrics_line(tmp_path):
    run = make_run(tmp_path, truncate=True)
    (run / "metrics.jsonl").open("a").write("\n\n[1,2]\nnot json\n")
    html = write_report(run).read_text()
    assert_self_contained(html)
    assert len(img_sources(html)) == 3
    assert "1,500" in html  # last complete step; the truncated 1525 line is skipped


def test_partial_eval(tmp_path):
    run = make_run(tmp_path)
    (run / "eval.json").write_text(
        json.dumps({"step": 10, "probe": {"linear": {"ball_pos": None}}})
    )
    html = write_report(run).read_text()
    assert "no rollout results" in html and "no collapse diagnostics" in html
    assert "n/a" in html


def test_plots_degrade_to_none():
    assert loss_curves_png([]) is None
    assert (
        loss_curves_png([{"step": 1}, {"train/loss": 1.0}, {"step": 2, "train/loss": float("nan")}])
        is None
    )
    assert rollout_error_png({}) is None
    assert rollout_error_png({"horizon": [1, 2], "model": None}) is None


@pytest.mark.parametrize("n", [1, 5])
def test_plots_return_png(n):
    recs = [{"step": i, "train/loss": 1.0 / (i + 1), "eval/loss_pred": 0.5} for i in range(n)]
    png = loss_curves_png(recs)
    assert png is not None and png.startswith(PNG_SIGNATURE)
    ro = {
        "horizon": list(range(1, n + 1)),
        "model": [0.1] * n,
        "baseline": [0.2] * n,
        "ratio": [0.5] * n,
    }
    png = rollout_error_png(ro)
    assert png is not None and png.startswith(PNG_SIGNATURE)
    assert png_data_uri(png).startswith("data:image/png;base64,iVBORw0KGgo")


def test_visibility_table_flags_what_the_latent_barely_sees(tmp_path):
    run = make_run(tmp_path)
    vis = {
        "agent_pos": {"visibility": 1.0, "latent_distance": 4.0, "move": 51.2, "reference": True},
        "block_pos": {"visibility": 0.05, "latent_distance": 0.2, "move": 51.2},
        "block_angle": {"visibility": 0.6, "latent_distance": 2.4, "move": 0.628},
    }
    (run / "eval.json").write_text(json.dumps(dict(EVAL, visibility=vis)))
    html = write_report(run).read_text()
    section = html.split("<h2>Latent visibility</h2>", 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", section)[1:]  # after the header
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    assert [c[0] for c in cells] == ["agent_pos", "block_pos", "block_angle"]
    assert [c[1] for c in cells] == ["1.000", "0.050", "0.600"]
    assert [c[-1] for c in cells] == ["reference", "low", ""]


def test_visibility_section_says_why_it_is_missing(tmp_path):
    run = make_run(tmp_path)
    note = "world 'ball-drop' has no restorable state"
    (run / "eval.json").write_text(json.dumps(dict(EVAL, visibility=None, visibility_note=note)))
    html = write_report(run).read_text()
    section = html.split("<h2>Latent visibility</h2>", 1)[1].split("</section>", 1)[0]
    assert "has no restorable state; the probe R² above is what there is." in section


# -- failure forecast and monitor: real results of a real run ----------------------------------
@pytest.fixture(scope="module")
def beam_run(tmp_path_factory) -> Path:
    """A debug run on beam sensors (16 scripted episodes, some fail) with a real
    ``forecast.json`` and a real ``monitor.json`` (the run's own episodes streamed, 5% false
    alarms: a few alerts). Read-only: tests that change it copy it."""
    root = tmp_path_factory.mktemp("beam")
    data = collect("beam", root / "beam.h5", episodes=16, steps=60, policy="scripted", workers=1)
    cfg = load_preset("debug", ["model.encoder=mlp", "train.steps=10", "train.device=cpu"])
    run = train(cfg, data, root / "runs" / "beam", progress=False)
    run_forecast(ForecastOptions(run=str(run), horizon=10))
    alerts: list[dict] = []
    monitor(MonitorOptions(run=str(run), source=str(data), far=0.05, save=True), alerts.append,
            lambda info: None)  # fmt: skip
    assert alerts, "the fixture needs alerts to show"
    return run


def section(html: str, title: str) -> str:
    return html.split(f"<h2>{title}</h2>", 1)[1].split("</section>", 1)[0]


def cells(html: str) -> list[list[str]]:
    """The data rows of the tables in ``html`` (header rows left out), cells unescaped."""
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    out = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    return [[c.replace("&amp;", "&").replace("&#x27;", "'") for c in r] for r in out if r]


def test_forecast_section_shows_the_numbers_of_forecast_json(beam_run, tmp_path):
    run = Path(shutil.copytree(beam_run, tmp_path / "beam"))
    html = write_report(run).read_text()
    res = json.loads((run / "forecast.json").read_text())
    m = res["metrics"]
    body = section(html, "Failure forecast")
    table = dict(r for r in cells(body) if len(r) == 2)
    assert table["AUROC: fails within K=10 steps"] == f"{m['auroc']:.3f}"
    assert table["median lead time (steps)"] == f"{m['lead_steps_median']:.1f}"
    assert table["failures warned"] == f"{m['warned']:.0%}"
    assert table["false-alarm rate (measured)"] == f"{m['false_alarm_rate']:.2%}"
    assert table["false-alarm rate (target)"] == "1.00%"
    assert table["alarm threshold"] == f"{m['threshold']:.4f}"
    assert table["held-out failures"] == str(m["failures"]) != "0"
    assert f"{res['episodes']} held-out episodes" in body
    srcs = img_sources(body)  # the score plot: a real PNG
    assert len(srcs) == 1 and base64.b64decode(srcs[0].split(",", 1)[1]).startswith(PNG_SIGNATURE)
    assert_self_contained(html)


def test_monitor_section_shows_the_alerts_of_monitor_json(beam_run, tmp_path):
    run = Path(shutil.copytree(beam_run, tmp_path / "beam"))
    html = write_report(run).read_text()
    res = json.loads((run / "monitor.json").read_text())
    body = section(html, "Monitor")
    rows = cells(body)
    summary = {r[0]: r[1] for r in rows if len(r) == 2}
    assert summary["source"] == res["source"]
    assert summary["threshold"] == f"{res['threshold']:.6g}"
    assert summary["threshold from"].startswith("calibrated at 5.00% false alarms per step on ")
    assert f"{res['calibration_steps']:,} normal steps" in summary["threshold from"]
    assert summary["rows read"] == f"{res['rows']:,}" == "960"
    assert summary["alerts"] == str(res["alerts_total"])
    # the timeline: one row per alert, in order, with its stream, step, time, surprise and
    # the channels to blame (those with no share left out after the first)
    timeline = [r for r in rows if len(r) == 5]
    alerts = res["alerts"]
    assert len(timeline) == len(alerts) == res["alerts_total"] >= 1
    for row, a in zip(timeline, alerts):
        assert row[:4] == [
            str(a["stream"]),
            str(a["step"]),
            f"{a['time_s']:.2f}",
            f"{a['score']:.6g}",  # the monitor's score (with the per-channel check)
        ]
        if a["raised_by"] == "channel check":  # the check's channels, over their 99% level
            worst = list(a["channel_errors"].items())[:3]
            assert row[4] == "channel check: " + ", ".join(f"{c} {v:.1f}x" for c, v in worst)
            continue
        parts = [t for i, t in enumerate(a["top"]) if i == 0 or t["share"] != 0]
        assert row[4] == ", ".join(f"{t['channel']} {t['share']:.0%}" for t in parts)
    assert any(0 in [t["share"] for t in a["top"]] for a in alerts)  # so the rule is tested
    assert len(img_sources(body)) == 1  # the surprise trace with the alerts marked


def test_forecast_and_monitor_sections_say_which_command_writes_them(tmp_path):
    html = write_report(make_run(tmp_path)).read_text()
    assert "forecast.json is missing; " in section(html, "Failure forecast")
    assert "`physjepa forecast runs/ball-demo`" in section(html, "Failure forecast")
    body = section(html, "Monitor")
    assert "monitor.json is missing; `physjepa monitor runs/ball-demo --source FILE --save`" in body


def test_a_corrupt_forecast_or_monitor_file_is_one_line_in_its_section(beam_run, tmp_path):
    run = Path(shutil.copytree(beam_run, tmp_path / "beam"))
    text = (run / "forecast.json").read_text()
    (run / "forecast.json").write_text(text[: len(text) // 2])  # cut mid-write
    (run / "monitor.json").write_text("[1, 2]")
    html = write_report(run).read_text()
    for title, needle in [
        ("Failure forecast", "forecast.json is unreadable (JSONDecodeError"),
        ("Monitor", "monitor.json is not a JSON object"),
    ]:
        msgs = re.findall(r'<p class="msg">(.*?)</p>', section(html, title), re.S)
        assert len(msgs) == 1 and needle in msgs[0] and "\n" not in msgs[0], msgs
    # hand-edited with the wrong types: the section still renders what it can
    (run / "monitor.json").write_text('{"alerts": 5, "trace": "x", "threshold": "high"}')
    html = write_report(run).read_text()
    body = section(html, "Monitor")
    assert "Could not render" not in body and "no alerts" in body
    assert ["threshold", "n/a"] in cells(body)
    # the rest of the report is all there
    assert len(img_sources(section(html, "Loss curves"))) == 1
    assert "<details>" in section(html, "Resolved config")


def test_monitor_section_of_a_pixel_run_names_image_regions(copy_run, ball_file):
    """A pixel model's alerts blame image regions; a long timeline lists its first 100."""
    run = copy_run()
    alerts: list[dict] = []
    opts = MonitorOptions(run=str(run), source=str(ball_file), threshold=0.0, cooldown=1, save=True)
    monitor(opts, alerts.append, lambda info: None)
    res = json.loads((run / "monitor.json").read_text())
    assert res["alerts_total"] == len(res["alerts"]) == 12 * 39  # every scored step
    body = section(write_report(run).read_text(), "Monitor")
    assert ["threshold from", "given with --threshold"] in cells(body)
    timeline = [r for r in cells(body) if len(r) == 5]
    assert len(timeline) == 100 and "The first 100 of 468 alerts are listed." in body
    for row, a in zip(timeline, res["alerts"]):
        r0, c0, r1, c1 = a["top"][0]["region"]
        assert row[4].startswith(f"rows {r0}-{r1}, cols {c0}-{c1} {a['top'][0]['share']:.0%}")
