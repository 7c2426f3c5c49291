"""``physjepa compare runs/a runs/b ...``: several runs side by side on one offline HTML page.

One column per run: what it was trained on (world, observed column, preset, steps, size),
its final losses, and every headline metric its result files hold (``eval.json``,
``plan.json``, ``voe.json``, ``forecast.json``); a metric a run lacks shows "n/a". One plot
overlays the runs' training loss curves.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from physjepa.errors import UserError
from physjepa.fileio import atomic_write_text
from physjepa.report.html import CSS, _img, _msg, _read_json, _table, fmt
from physjepa.report.plots import FIGSIZE, _pyplot, _series, _to_png
from physjepa.runlog import read_metrics


def _d(x: object) -> dict:
    """``x`` if it is a dict, else an empty one (hand-edited files must not break the page)."""
    return x if isinstance(x, dict) else {}


def _facts(run: Path) -> dict[str, object]:
    """The headline numbers of one run, by row label."""
    cfg = _d(_read_json(run / "config.json")[0])
    conf, data = _d(cfg.get("config")), _d(cfg.get("data"))
    facts: dict[str, object] = {
        "world": data.get("world"),
        "observes": data.get("obs_key", "pixels"),
        "preset": conf.get("preset"),
        "train steps": _d(conf.get("train")).get("steps"),
        "embedding dim": _d(conf.get("model")).get("dim"),
        "parameters": cfg.get("n_params"),
        "episodes (train)": data.get("train_episodes"),
    }
    records = read_metrics(run)
    for key in ("train/loss", "train/loss_pred", "eval/loss_pred"):
        vals = [r[key] for r in records if isinstance(r.get(key), int | float)]
        facts[f"last {key}"] = vals[-1] if vals else None
    for k, v in sorted(_d(_d(_read_json(run / "eval.json")[0]).get("metrics")).items()):
        facts[k] = v
    plan = _d(_d(_read_json(run / "plan.json")[0]).get("results"))
    for name, r in sorted(plan.items()):
        facts[f"plan success ({name})"] = _d(r).get("success_rate")
    for k, v in sorted(_d(_d(_read_json(run / "voe.json")[0]).get("metrics")).items()):
        if k.startswith(("pairwise_", "untrained_pairwise_mean", "pixel_pairwise_mean")):
            facts[f"voe {k}"] = v
    fc = _d(_d(_read_json(run / "forecast.json")[0]).get("metrics"))
    for k in ("auroc", "lead_steps_median", "false_alarm_rate"):
        if fc:
            facts[f"forecast {k}"] = fc.get(k)
    return facts


def _cell(v: object) -> str:
    if isinstance(v, bool) or v is None:
        return "n/a" if v is None else str(v)
    if isinstance(v, int):
        return fmt(v)
    if isinstance(v, float):
        return fmt(v, ".4g")
    return str(v)


def _loss_png(runs: list[Path], names: list[str]) -> bytes | None:
    curves = []
    for run, name in zip(runs, names):
        steps, values = _series(read_metrics(run), "train/loss", True)
        if steps:
            curves.append((name, steps, values))
    if not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for name, steps, values in curves:
        ax.plot(steps, values, label=name, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("train/loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _to_png(fig, plt)


def render_compare(runs: list[str | Path]) -> str:
    runs = [Path(r) for r in runs]
    for r in runs:
        if not (r / "config.json").is_file():
            raise FileNotFoundError(f"{r} is not a run directory (no config.json)")
    names = [r.name if [x.name for x in runs].count(r.name) == 1 else str(r) for r in runs]
    facts = [_facts(r) for r in runs]
    labels = list(dict.fromkeys(k for f in facts for k in f))
    rows = [[k, *(_cell(f.get(k)) for f in facts)] for k in labels]
    png = _loss_png(runs, names)
    body = (
        f"<h1>physjepa: {len(runs)} runs side by side</h1>"
        f"<section><h2>Runs</h2>{_table(['', *names], rows, len(runs))}</section>"
        "<section><h2>Training loss</h2>"
        + (_img(png, "train/loss of every run") if png else _msg("No loss records."))
        + "</section>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>physjepa compare: {escape(', '.join(names))}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def write_compare(runs: list[str | Path], out: str | Path) -> Path:
    """Write the comparison page to ``out`` atomically; returns its path."""
    if len(runs) < 2:
        raise UserError("compare needs at least two run directories")
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; pass the page to write, e.g. compare.html")
    atomic_write_text(out, render_compare(runs))
    return out
