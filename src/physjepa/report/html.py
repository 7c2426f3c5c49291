"""Self-contained HTML report for one run directory.

``write_report(run_dir)`` reads ``config.json``, ``metrics.jsonl``, ``eval.json``,
``rollout_strip.png``, ``plan.json``, ``voe.json``, ``forecast.json`` and ``monitor.json``
(each optional) and writes
``run_dir/report.html``: one file with inline CSS and images embedded as base64 data URIs,
so it opens offline and can be mailed or archived alone. A missing or broken input turns its
section into a short message; it never stops the rest of the report.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from html import escape
from pathlib import Path

from physjepa.fileio import atomic_write_text
from physjepa.report.plots import (
    forecast_scores_png,
    loss_curves_png,
    monitor_trace_png,
    png_data_uri,
    rollout_error_png,
    voe_curves_png,
)
from physjepa.runlog import read_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:960px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777}.msg{color:#8a5a00;background:#fff8e6;padding:.4em .7em;border-radius:4px}
img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:.8em;overflow-x:auto}
code{background:#f3f3f3;padding:0 .2em}
"""


def fmt(x, spec: str = ".3f") -> str:
    """Format a float with ``spec`` (ints get thousands commas); NaN or non-numbers give "n/a"."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return "n/a"
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:,}" if isinstance(x, int) else format(x, spec)


def _msg(text: str) -> str:
    return f'<p class="msg">{escape(text)}</p>'


def _img(png: bytes | None, alt: str) -> str:
    return f'<img src="{png_data_uri(png)}" alt="{escape(alt)}">' if png else ""


def _table(header: list[str], rows: list[list[str]], num_cols: int = 0) -> str:
    """A ``<table>``; cells are escaped here, the last ``num_cols`` are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        first = len(row) - num_cols
        cells = "".join(
            f'<td class="num">{escape(c)}</td>' if i >= first else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _read_json(path: Path) -> tuple[dict | None, str | None]:
    """(object, None) on success, (None, reason) if the file is missing or unreadable."""
    if not path.is_file():
        return None, "missing"
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return None, f"unreadable ({type(e).__name__}: {e})"
    return (obj, None) if isinstance(obj, dict) else (None, "not a JSON object")


def _header(cfg: dict | None, cfg_err: str | None, ev: dict | None) -> str:
    cfg = cfg or {}
    data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    spec = cfg.get("spec") if isinstance(cfg.get("spec"), dict) else {}
    sha = (ev or {}).get("checkpoint_sha256")
    state = data.get("state_spec") if isinstance(data.get("state_spec"), list) else []
    state_txt = ", ".join(f"{s[0]} {s[1]}" for s in state if isinstance(s, list) and len(s) == 2)
    episodes = f"{fmt(data.get('train_episodes'))} / {fmt(data.get('val_episodes'))}"
    shapes = " / ".join(str(spec.get(k, "n/a")) for k in ("obs_shape", "action_dim", "history"))
    rows = [
        ["world", str(data.get("world", "n/a"))],
        ["report generated", dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")],
        ["checkpoint sha256", str(sha)[:12] if sha else "n/a"],
        ["eval step", fmt((ev or {}).get("step"))],
        ["parameters", fmt(cfg.get("n_params"))],
        ["data", str(data.get("path", "n/a"))],
        ["episodes (train / val)", episodes],
        ["obs shape / action dim / history", shapes],
        ["state variables", state_txt or "n/a"],
        ["physjepa version", str(cfg.get("physjepa_version", "n/a"))],
    ]
    out = _table(["field", "value"], rows)
    if cfg_err:
        out += _msg(f"config.json is {cfg_err}.")
    return out


def _losses(records: list[dict]) -> str:
    if not records:
        return _msg("No metrics.jsonl records yet.")
    png = loss_curves_png(records)
    if png is None:
        return _msg("metrics.jsonl has no loss values to plot.")
    last = {k: v for r in records for k, v in r.items() if k.startswith(("train/", "eval/"))}
    rows = [[k, fmt(v, ".4g")] for k, v in sorted(last.items())]
    steps = [r["step"] for r in records if isinstance(r.get("step"), int | float)]
    note = (
        f'<p class="muted">{len(records)} records, last step '
        f"{fmt(max(steps) if steps else None)}.</p>"
    )
    return (
        _img(png, "loss curves")
        + note
        + "<h3>Latest value of each metric</h3>"
        + _table(["metric", "value"], rows, 1)
    )


def _rollout(ev: dict) -> str:
    ro = ev.get("rollout")
    if not isinstance(ro, dict) or not ro.get("horizon"):
        return _msg("eval.json has no rollout results.")
    cols = [
        ro.get(k) if isinstance(ro.get(k), list) else [] for k in ("model", "baseline", "ratio")
    ]
    rows = [
        [str(h), *(fmt(c[i] if i < len(c) else None) for c in cols)]
        for i, h in enumerate(ro["horizon"])
    ]
    note = (
        '<p class="muted">Latent prediction error, normalised; the baseline predicts that the '
        "latent stays the same. ratio = model / baseline (below 1 beats the baseline). "
        f"{escape(fmt(ro.get('n_windows')))} windows.</p>"
    )
    table = _table(["horizon", "model", "baseline", "ratio"], rows, 3)
    return _img(rollout_error_png(ro), "rollout error against horizon") + note + table


def _probe(ev: dict) -> str:
    pr = ev.get("probe")
    lin = pr.get("linear") if isinstance(pr, dict) else None
    if not isinstance(lin, dict) or not lin:
        return _msg("eval.json has no probe results.")
    rows = [[str(k), fmt(v)] for k, v in lin.items()]
    note = (
        '<p class="muted">Linear probe R² on held-out data. Features: '
        f"{escape(str(pr.get('features', 'n/a')))}; "
        f"{escape(fmt(pr.get('n_train')))} train / {escape(fmt(pr.get('n_test')))} test "
        "samples.</p>"
    )
    return note + _table(["state variable", "R²"], rows, 1)


#: Below this, the planning cost barely sees a variable (issue 15's target for task variables).
VISIBLE = 0.3


def _visibility(ev: dict) -> str:
    vis = ev.get("visibility")
    if not isinstance(vis, dict) or not vis:
        why = ev.get("visibility_note") or "eval.json has no visibility table"
        return _msg(f"{why}; the probe R² above is what there is.")
    rows = []
    for name, v in vis.items():
        x = v.get("visibility") if isinstance(v, dict) else None
        flag = "reference" if v.get("reference") else ("low" if _num(x) and x < VISIBLE else "")
        rows.append([str(name), fmt(x), fmt(v.get("latent_distance")), fmt(v.get("move")), flag])
    note = (
        '<p class="muted">Each variable is moved alone (through the simulator state) by a '
        "fixed fraction of its range; visibility = the latent distance that move causes ÷ the "
        "distance caused by moving the reference (the agent or controlled joint) as far, median "
        f"over start states. 1 = the planning cost sees it as well as the agent; below {VISIBLE} "
        "(low) the planner is nearly blind to it.</p>"
    )
    return note + _table(["variable", "visibility", "latent distance", "move", ""], rows, 3)


def _num(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _collapse(ev: dict) -> str:
    co = ev.get("collapse")
    if not isinstance(co, dict) or not co:
        return _msg("eval.json has no collapse diagnostics.")
    labels = {
        "std_min": "per-dim std, min",
        "std_mean": "per-dim std, mean",
        "std_max": "per-dim std, max",
        "effective_rank": "effective rank",
        "dim": "latent dim",
    }
    keys = [k for k in labels if k in co] + [k for k in co if k not in labels]
    rows = [[labels.get(k, k), fmt(co[k])] for k in keys]
    note = (
        '<p class="muted">A std near 0 or an effective rank far below the latent dim signals '
        "collapse.</p>"
    )
    return note + _table(["diagnostic", "value"], rows, 1)


def _strip(path: Path) -> str:
    if not path.is_file():
        return _msg("rollout_strip.png not found; `physjepa eval` writes it.")
    png = path.read_bytes()
    if not png.startswith(PNG_SIGNATURE):
        return _msg("rollout_strip.png is not a PNG file.")
    return _img(png, "real frames beside frames decoded from predicted latents")


def _planning(run_dir: Path) -> str:
    plan, err = _read_json(run_dir / "plan.json")
    if plan is None:
        return _msg(
            f"plan.json is {err}; for a world with a task, `physjepa plan runs/{run_dir.name}` "
            "evaluates closed-loop planning."
        )
    res = plan.get("results") if isinstance(plan.get("results"), dict) else {}
    labels = {
        "model": "world model + planner",
        "oracle": "same planner, true simulator, task-space cost (reference)",
        "random": "random actions (floor)",
    }
    rows = [
        [
            labels.get(k, k),
            fmt(r.get("success_rate"), ".0%")
            if isinstance(r.get("success_rate"), float)
            else "n/a",
            fmt(r.get("final_distance_mean")),
            fmt(r.get("ms_per_plan"), ".1f"),
        ]
        for k, r in res.items()
        if isinstance(r, dict)
    ]
    pl = plan.get("planner") if isinstance(plan.get("planner"), dict) else {}
    note = (
        f'<p class="muted">{escape(fmt(plan.get("episodes")))} episodes of manifest '
        f"v{escape(str((plan.get('manifest') or {}).get('version', '?')))}, budget "
        f"{escape(fmt(plan.get('budget')))} steps; planner {escape(json.dumps(pl))}, horizon "
        f"{escape(fmt(plan.get('horizon')))} blocks of {escape(fmt(plan.get('frameskip')))} "
        f"steps, cost on {escape(str(plan.get('objective')))} steps. Left: the world; right: the "
        "goal.</p>"
    )
    table = _table(["policy", "success", "final distance", "ms / plan"], rows, 3)
    if plan.get("discriminating") is False:
        table = (
            _msg(
                "Not discriminating: random actions succeed in at least half of the episodes, "
                "so this success rate says little about the model. Make success stricter."
            )
            + table
        )
    gifs = []
    for name in plan.get("gifs") or []:
        p = run_dir / Path(str(name)).name  # never outside the run directory
        data = p.read_bytes() if p.is_file() else b""
        if data.startswith(b"GIF8"):
            uri = "data:image/gif;base64," + base64.b64encode(data).decode("ascii")
            gifs.append(f'<img src="{uri}" alt="{escape(p.name)}">')
    return table + note + "".join(gifs)


def _voe(run_dir: Path) -> str:
    res, err = _read_json(run_dir / "voe.json")
    if res is None:
        return _msg(
            f"voe.json is {err}; for a ball-drop model, `physjepa voe runs/{run_dir.name}` "
            "measures surprise on possible / impossible video pairs."
        )
    table = res.get("table") if isinstance(res.get("table"), dict) else {}
    plain = res.get("score") == "relative"  # then the latent error alone is a column too
    cols = ["physjepa", *(["physjepa_plain"] if plain else []), "untrained", "pixel", "oracle"]

    def cell(row: dict, split: str, key: str) -> str:
        v = (row.get(split) or {}).get(key) if isinstance(row.get(split), dict) else None
        if key == "untrained" and isinstance(v, float):
            sd = row[split].get("untrained_std")
            return f"{fmt(v, '.1%')} ± {fmt(sd, '.1%')}" if isinstance(sd, float) else fmt(v, ".1%")
        return fmt(v, ".1%")

    rows = [
        [prop + (" (not mechanics)" if prop == "colour" else "")]
        + [cell(row, split, c) for c in cols for split in ("id", "ood")]
        for prop, row in table.items()
        if isinstance(row, dict)
    ]
    header = ["property"] + [f"{c} {s}" for c in cols for s in ("id", "ood")]
    m = res.get("metrics") if isinstance(res.get("metrics"), dict) else {}
    probe_rows = [
        [k[len("probe_r2_") :], fmt(v)] for k, v in m.items() if k.startswith("probe_r2_")
    ]
    note = (
        f'<p class="muted">Pairwise accuracy: share of pairs whose possible video has the lower '
        f"mean surprise over {escape(fmt(res.get('window')))} steps from the breaking point; "
        f"{escape(fmt(res.get('pairs_per_property_and_split')))} pairs per cell (permanence: "
        f"groups of 2), surprise {escape(fmt(res.get('horizon')))} steps ahead from "
        f"{escape(fmt(res.get('context')))} frames (fixed)"
        + (
            f", as a share of how far the latent moved over the same steps (floor "
            f"{escape(fmt(res.get('floor')))} x the training median move, to the power "
            f"{escape(fmt(res.get('power', 1.0)))}; physjepa_plain: the latent error alone)"
            if plain
            else ""
        )
        + ". id: the "
        f"training params; ood: physics, sizes and colour outside them. Checkpoint "
        f"{escape(str(res.get('checkpoint_sha256', ''))[:16])}.</p>"
    )
    png = voe_curves_png(res.get("examples"))
    probes = (
        "<h3>Probe R² (held-out episodes, ball in view)</h3>"
        + _table(["quantity", "R²"], probe_rows, 1)
        if probe_rows
        else ""
    )
    return (
        _table(header, rows, len(header) - 1)
        + note
        + _img(png, "surprise over time, one pair per property")
        + probes
    )


def _forecast(run_dir: Path) -> str:
    res, err = _read_json(run_dir / "forecast.json")
    if res is None:
        return _msg(
            f"forecast.json is {err}; for a model of a world that fails (the beam), "
            f"`physjepa forecast runs/{run_dir.name}` fits the failure-warning head and scores "
            "held-out episodes."
        )
    m = res.get("metrics") if isinstance(res.get("metrics"), dict) else {}
    k = res.get("horizon")
    rows = [
        [f"AUROC: fails within K={fmt(k)} steps", fmt(m.get("auroc"))],
        ["median lead time (steps)", fmt(m.get("lead_steps_median"), ".1f")],
        ["failures warned", fmt(m.get("warned"), ".0%")],
        ["false-alarm rate (measured)", fmt(m.get("false_alarm_rate"), ".2%")],
        ["false-alarm rate (target)", fmt(m.get("far"), ".2%")],
        ["alarm threshold", fmt(m.get("threshold"), ".4f")],
        ["held-out failures", fmt(m.get("failures"))],
        [
            "median lead at a threshold set on these episodes (reference)",
            fmt(m.get("lead_steps_median_heldout_threshold"), ".1f"),
        ],
    ]
    note = (
        f'<p class="muted">{escape(fmt(res.get("episodes")))} held-out episodes '
        f"({escape(str(res.get('heldout', 'n/a')))}). The warning score is the head's P(fails "
        f"within K steps) under the planned load; the threshold is set at the target "
        f"false-alarm rate on steps not followed by a failure, of episodes the model never "
        f"trained on ({escape(str(res.get('threshold_from', 'n/a')))}); lead = failure step "
        f"minus the first alarm in the K steps before it. "
        f"Checkpoint {escape(str(res.get('checkpoint_sha256', ''))[:16])}.</p>"
    )
    png = forecast_scores_png(res.get("scores"), res.get("failed_at"), m.get("threshold"), k)
    return _table(["metric", "value"], rows, 1) + note + _img(png, "warning score over time")


#: Alerts listed in the report's table (monitor.json keeps up to 500).
MONITOR_ROWS = 100


def _cause(top: object, raised_by: object = None, errors: object = None) -> str:
    """An alert's attribution: ``gauge_3 62%, load 20%`` or ``rows 0-8, cols 8-16 40%``
    (parts with no share left out after the first); for an alarm the per-channel check
    raised, ``channel check: gauge_3 4.1x, load 1.2x`` (errors over their normal 99%
    level)."""
    if raised_by == "channel check" and isinstance(errors, dict) and errors:
        worst = ", ".join(f"{c} {fmt(v, '.1f')}x" for c, v in list(errors.items())[:3])
        return f"channel check: {worst}"
    parts = []
    for t in top if isinstance(top, list) else []:
        if not isinstance(t, dict) or (parts and t.get("share") == 0):
            continue
        share = fmt(t.get("share"), ".0%")
        region = t.get("region")
        if isinstance(region, list) and len(region) == 4:
            r0, c0, r1, c1 = region
            parts.append(f"rows {r0}-{r1}, cols {c0}-{c1} {share}")
        else:
            parts.append(f"{t.get('channel', '?')} {share}")
    return ", ".join(parts) or "n/a"


_SCORE_WITH_CHECK = (
    "The score is the larger of the latent surprise and the per-channel check (each channel "
    "against what the other channels of its row imply, and its frozen-reading run), each over "
    "its own normal 99% level; a cause that starts 'channel check' is an alarm that check "
    "raised alone, its channels' errors over their normal level."
)
_SCORE_ALONE = "The score is the latent surprise."


def _monitor(run_dir: Path) -> str:
    res, err = _read_json(run_dir / "monitor.json")
    if res is None:
        return _msg(
            f"monitor.json is {err}; `physjepa monitor runs/{run_dir.name} --source FILE "
            "--save` scores a stream and writes its alerts here."
        )
    alerts = res.get("alerts") if isinstance(res.get("alerts"), list) else []
    alerts = [a for a in alerts if isinstance(a, dict)]
    given = res.get("threshold_from") == "--threshold"
    origin = (
        "given with --threshold"
        if given
        else f"calibrated at {fmt(res.get('far'), '.2%')} false alarms per step on "
        f"{fmt(res.get('calibration_steps'))} normal steps ({res.get('calibration', 'n/a')})"
    )
    summary = [
        ["source", str(res.get("source", "n/a"))],
        ["threshold", fmt(res.get("threshold"), ".6g")],
        ["threshold from", origin],
        ["rows read", fmt(res.get("rows"))],
        ["steps scored", fmt(res.get("scored_steps"))],
        ["rows skipped (malformed)", fmt(res.get("skipped_rows"))],
        ["alerts", fmt(res.get("alerts_total"))],
    ]
    shown = alerts[:MONITOR_ROWS]
    rows = [
        [
            str(a.get("stream", "")),
            fmt(a.get("step")),
            fmt(a.get("time_s"), ".2f"),
            fmt(a.get("score", a.get("surprise")), ".6g"),
            _cause(a.get("top"), a.get("raised_by"), a.get("channel_errors")),
        ]
        for a in shown
    ]
    total = res.get("alerts_total")
    more = (
        f" The first {len(shown)} of {fmt(total)} alerts are listed."
        if isinstance(total, int) and total > len(shown)
        else ""
    )
    note = (
        '<p class="muted">Each alert: the stream (episode) and model step where the score '
        "crossed the threshold, its time from the start of the stream at the run's data rate, "
        f"and its cause. {_SCORE_WITH_CHECK if res.get('channel_check') else _SCORE_ALONE} "
        "Otherwise the cause is the channels (or image regions) that made the step surprising, "
        "each put back to its normal mean in turn (share of the drop in surprise)."
        f"{escape(more)}</p>"
    )
    png = monitor_trace_png(res.get("trace"), res.get("threshold"), alerts)
    timeline = (
        _table(["stream", "step", "time (s)", "score", "cause"], rows)
        if rows
        else _msg("No step crossed the threshold: no alerts.")
    )
    return (
        _table(["field", "value"], summary)
        + _img(png, "score over the stream, alerts marked")
        + "<h3>Alert timeline</h3>"
        + note
        + timeline
    )


def _config(cfg: dict | None) -> str:
    if not cfg or "config" not in cfg:
        return _msg("No resolved config in config.json.")
    text = json.dumps(cfg["config"], indent=2, sort_keys=False, default=str)
    return f"<details><summary>show resolved config</summary><pre>{escape(text)}</pre></details>"


def _section(title: str, build, *args) -> str:
    """``<h2>`` plus the section body; an unexpected error becomes a message, not a crash."""
    try:
        body = build(*args)
    except Exception as e:  # one bad section must not lose the whole report
        body = _msg(f"Could not render this section: {type(e).__name__}: {e}")
    return f"<section><h2>{escape(title)}</h2>{body}</section>"


def render_report(run_dir: str | Path) -> str:
    """The report for ``run_dir`` as one HTML string (see module docstring)."""
    run_dir = Path(run_dir)
    name = run_dir.resolve().name
    cfg, cfg_err = _read_json(run_dir / "config.json")
    ev, ev_err = _read_json(run_dir / "eval.json")
    records = read_metrics(run_dir)

    def need_eval(build):
        if ev is not None:
            return build
        cmd = f"physjepa eval runs/{name}"
        return lambda _: _msg(f"eval.json is {ev_err}: run `{cmd}` first.")

    parts = [
        f"<h1>physjepa run <code>{escape(name)}</code></h1>",
        _section("Summary", _header, cfg, cfg_err, ev),
        _section("Loss curves", _losses, records),
        _section("Rollout error against horizon", need_eval(_rollout), ev),
        _section("Linear probe R²", need_eval(_probe), ev),
        _section("Latent visibility", need_eval(_visibility), ev),
        _section("Collapse diagnostics", need_eval(_collapse), ev),
        _section("Real vs predicted frames", _strip, run_dir / "rollout_strip.png"),
        _section("Planning (closed loop)", _planning, run_dir),
        _section("Intuitive physics (violation of expectation)", _voe, run_dir),
        _section("Failure forecast", _forecast, run_dir),
        _section("Monitor", _monitor, run_dir),
        _section("Resolved config", _config, cfg),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>physjepa report: {escape(name)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` atomically (temp file + ``os.replace``); return its path."""
    run_dir = Path(run_dir)
    out = run_dir / "report.html"
    atomic_write_text(out, render_report(run_dir))
    return out
