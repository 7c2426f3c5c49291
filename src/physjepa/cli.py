"""Command line: parse, build from config, call library functions. Errors become one line."""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

EXAMPLES = """examples:
  physjepa collect --world ball-drop --episodes 300 --policy random --seed 0 --out data/ball.h5
  physjepa inspect data/ball.h5
  physjepa import-table log.csv --out data/log.h5 --obs x,v --action force --episode ep --time t
  physjepa convert recordings/ --to data/rec.h5
  physjepa validate data/rec.h5
  physjepa train --data data/ball.h5 --preset laptop --out runs/ball model.dim=256
  physjepa eval runs/ball
  physjepa report runs/ball
  physjepa plan runs/two-room --episodes 50 --seed 0 --planner cem --set samples=64
  physjepa demo
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="physjepa",
        description="JEPA world models of the physical world.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("collect", help="collect episodes in a built-in world into an episode file")
    c.add_argument("--world", required=True, help="world name (see 'physjepa worlds')")
    c.add_argument("--episodes", type=int, default=300)
    c.add_argument(
        "--steps", type=int, default=None, help="steps per episode (default: the world's)"
    )
    c.add_argument(
        "--policy",
        default="random",
        help="collection policy: random, zero, scripted (noisy expert; worlds with a task)",
    )
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", required=True, help="episode file to write (.h5)")
    c.add_argument("--image-size", type=int, default=64)
    c.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    c.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="world param, e.g. gravity=500 (JSON values)",
    )
    c.add_argument(
        "--gym-import",
        default=None,
        metavar="MODULE",
        help="with --world gym:<id>: import this module first (where a third-party env registers)",
    )
    c.add_argument("--overwrite", action="store_true", help="replace an existing file")

    it = sub.add_parser(
        "import-table",
        help="turn a CSV or Parquet table of sensor time series into an episode file",
    )
    it.add_argument("src", help="table to read (.csv with a header row, .parquet or .pq)")
    it.add_argument("--out", required=True, help="episode file to write (.h5)")
    it.add_argument(
        "--obs", required=True, help="comma list of the observed columns (become 'sensors')"
    )
    it.add_argument(
        "--action", default="", help="comma list of the action columns (default: none, zeros)"
    )
    it.add_argument("--episode", default=None, help="column of episode ids (default: one episode)")
    it.add_argument("--time", default=None, help="column of times in seconds (sets fps)")
    it.add_argument(
        "--state",
        default="",
        help="comma list of ground-truth columns that 'physjepa eval' probes for (may repeat --obs)",
    )
    it.add_argument(
        "--fps", type=float, default=None, help="steps per second (default: from --time)"
    )
    it.add_argument("--overwrite", action="store_true", help="replace an existing --out file")

    cv = sub.add_parser(
        "convert",
        help="import a LeRobot dataset, a folder of videos, .npz episodes or a stable-worldmodel "
        "HDF5 file as an episode file (the importer is picked by looking at SRC)",
    )
    cv.add_argument(
        "src",
        help="LeRobot dataset directory (meta/info.json), folder of videos, .npz file or folder, "
        "or .h5 file",
    )
    cv.add_argument("--to", required=True, help="episode file to write (.h5)")
    cv.add_argument("--overwrite", action="store_true", help="replace an existing --to file")
    cv.add_argument("--camera", default=None, help="LeRobot: the camera to import")
    cv.add_argument("--state", default=None, help="LeRobot: comma list of state columns")
    cv.add_argument("--action", default=None, help="LeRobot: comma list of action columns")
    cv.add_argument(
        "--size",
        type=int,
        default=None,
        help="videos and LeRobot: frame size in pixels (default 64)",
    )
    cv.add_argument(
        "--actions-dir",
        default=None,
        help="videos: folder of <video stem>.csv action files (default: beside each video)",
    )

    va = sub.add_parser(
        "validate",
        help="check an episode file: shapes, dtypes, lengths, offsets, NaN/inf, damaged bytes",
    )
    va.add_argument("path", help="episode file (.h5)")

    i = sub.add_parser("inspect", help="summarise an episode file")
    i.add_argument("path")

    sub.add_parser("worlds", help="list built-in worlds and their params")

    t = sub.add_parser("train", help="train a world model")
    t.add_argument("--data", help="episode file (not needed with --resume)")
    t.add_argument("--preset", default="laptop", help="debug, laptop or gpu")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument(
        "overrides",
        nargs="*",
        metavar="section.key=value",
        help="config overrides, e.g. model.dim=256 train.steps=500",
    )

    e = sub.add_parser(
        "eval", help="evaluate a run: rollout error, probes, collapse; writes eval.json"
    )
    e.add_argument("run")
    e.add_argument("--data", default=None, help="episode file (default: the run's)")
    e.add_argument("--no-viewer", action="store_true", help="skip the decoded-rollout strip")

    fc = sub.add_parser(
        "forecast",
        help="failure early warning: will it fail within K steps under the planned load? "
        "writes forecast.json",
    )
    fc.add_argument("run", help="run directory of a model trained on beam episodes")
    fc.add_argument(
        "--data",
        default=None,
        help="held-out episode file (default: the run's validation episodes)",
    )
    fc.add_argument("--horizon", type=int, default=20, help="K, model steps ahead (default 20)")
    fc.add_argument("--far", type=float, default=0.01, help="false-alarm rate for the lead time")
    fc.add_argument("--device", default="cpu")

    mo = sub.add_parser(
        "monitor",
        help="streaming surprise over a CSV / stdin / frame directory / episode file; "
        "one JSON line per alert",
    )
    mo.add_argument("run")
    mo.add_argument(
        "--source", help="CSV file, '-' for stdin, a directory of frames, or an .h5 episode file"
    )
    mo.add_argument(
        "--far",
        type=float,
        default=0.01,
        help="false alarms per step on normal data (default 0.01)",
    )
    mo.add_argument(
        "--threshold", type=float, default=None, help="alarm threshold (skips calibration's choice)"
    )
    mo.add_argument(
        "--calibrate",
        default=None,
        help="episode file of normal data (default: the run's validation episodes)",
    )
    mo.add_argument(
        "--actions",
        default=None,
        help="actions for a frame directory (.csv or .npy, one row per frame)",
    )
    mo.add_argument("--follow", action="store_true", help="keep reading a growing CSV file")
    mo.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        help="with --follow: stop after this many seconds without a new row",
    )
    mo.add_argument(
        "--cooldown", type=int, default=10, help="steps between repeated alerts (default 10)"
    )
    mo.add_argument(
        "--out", default=None, help="append alerts to this JSONL file (default: stdout)"
    )
    mo.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: one core)")
    mo.add_argument(
        "--columns", action="store_true", help="print the CSV columns the run expects and exit"
    )
    mo.add_argument("--device", default="cpu")

    pl = sub.add_parser(
        "plan", help="closed-loop planning toward goals of the run's world; writes plan.json"
    )
    pl.add_argument("run")
    pl.add_argument("--episodes", type=int, default=50, help="manifest episodes to run")
    pl.add_argument("--seed", type=int, default=0, help="seed of the planner's sampler")
    pl.add_argument("--planner", default="cem", help="cem, mppi or gd")
    pl.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="planner setting, e.g. samples=128 (see the planner's docstring)",
    )
    pl.add_argument("--horizon", type=int, default=5, help="planned action blocks")
    pl.add_argument("--execute", type=int, default=1, help="blocks executed before re-planning")
    pl.add_argument("--objective", default="sum", help="latent cost on 'last' or 'sum' of steps")
    pl.add_argument(
        "--baselines",
        default="oracle,random",
        help="comma list of oracle (true simulator), random; '' for none",
    )
    pl.add_argument("--gifs", type=int, default=3, help="episodes saved as GIFs for the report")
    pl.add_argument("--world", default=None, help="check the run was trained on this world")
    pl.add_argument(
        "--device",
        default="cpu",
        help="cpu (default: the published numbers), cuda, cuda:N, mps or auto",
    )
    pl.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the latent rollout (planning shapes are fixed: it compiles once per "
        "context length at the first episode's start)",
    )

    r = sub.add_parser("report", help="write runs/<name>/report.html")
    r.add_argument("run")

    cp = sub.add_parser("compare", help="several runs side by side on one offline HTML page")
    cp.add_argument("runs", nargs="+", help="two or more run directories")
    cp.add_argument("--out", default="compare.html", help="page to write (default compare.html)")

    v = sub.add_parser(
        "voe",
        help="intuitive physics: surprise on possible/impossible video pairs, probes, baselines "
        "(also: 'physjepa voe generate ...')",
    )
    v.add_argument("run", help="run directory of a model trained on ball-drop pixels")
    v.add_argument(
        "--pairs-file",
        default=None,
        help="pairs from 'physjepa voe generate' (default: generated into RUN/voe_pairs.h5 "
        "with the run's world params)",
    )
    v.add_argument("--pairs", type=int, default=50, help="pairs per property and split")
    v.add_argument("--steps", type=int, default=40, help="frames per video")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument(
        "--untrained", type=int, default=5, help="random inits of the untrained baseline"
    )
    v.add_argument("--pixel-steps", type=int, default=1500, help="training steps, pixel baseline")
    v.add_argument("--oracle-steps", type=int, default=2000, help="training steps, state oracle")
    v.add_argument(
        "--context", type=int, default=None, help="context frames (default: the model's history)"
    )
    v.add_argument(
        "--horizon",
        type=int,
        default=None,
        help="steps ahead each surprise predicts (default: the model's data.rollout)",
    )
    v.add_argument(
        "--window",
        type=int,
        default=None,
        help="steps from the breaking point whose surprise is averaged (default: context + "
        "horizon)",
    )
    v.add_argument("--no-probes", action="store_true", help="skip the probes")
    v.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")

    g = sub.add_parser(
        "voe-generate", help="write matched possible/impossible video pairs ('voe generate')"
    )
    g.add_argument("--world", default="ball-drop", help="only ball-drop has VoE events")
    g.add_argument("--out", required=True, help="pairs file to write (.h5)")
    g.add_argument("--pairs", type=int, default=50, help="pairs per property and split")
    g.add_argument("--steps", type=int, default=40, help="frames per video")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--properties",
        default=None,
        help="comma list (default all): permanence, continuity, shape, solidity, gravity, "
        "inertia, collision, colour",
    )
    g.add_argument("--splits", default="id,ood", help="comma list of id, ood")
    g.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="ball-drop param of the in-distribution split (JSON values); default: the "
        "VoE setting (occluder and varied physics)",
    )
    g.add_argument("--image-size", type=int, default=64)
    g.add_argument("--overwrite", action="store_true", help="replace an existing file")

    d = sub.add_parser(
        "demo", help="collect ball-drop data, train (laptop preset), evaluate, write a report"
    )
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--data", default="data/ball.h5")
    d.add_argument("--episodes", type=int, default=300)
    d.add_argument("--preset", default="laptop")
    d.add_argument("overrides", nargs="*", metavar="section.key=value")
    return p


def _params(items: list[str], flag: str = "--param") -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{flag} {item!r} must look like NAME=VALUE, e.g. samples=64")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def cmd_collect(a: argparse.Namespace) -> None:
    from tqdm import tqdm

    from physjepa.data.collect import collect

    params = _params(a.param)
    if a.gym_import:
        if not a.world.startswith("gym:"):
            raise ValueError("--gym-import applies to --world gym:<env id>")
        params["gym_import"] = a.gym_import  # recorded with the data: plan imports it too
    with tqdm(total=a.episodes, unit="ep", desc=f"collect {a.world}") as bar:
        path = collect(
            a.world,
            a.out,
            a.episodes,
            a.steps,
            a.policy,
            a.seed,
            params,
            a.image_size,
            a.workers,
            a.overwrite,
            progress=bar.update,
        )
    print(f"wrote {path}")


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def cmd_import_table(a: argparse.Namespace) -> None:
    from physjepa.data.episodes import EpisodeFile
    from physjepa.data.tables import import_table

    path = import_table(
        a.src,
        a.out,
        obs=_names(a.obs),
        action=_names(a.action),
        episode=a.episode,
        time=a.time,
        state=_names(a.state),
        overwrite=a.overwrite,
        fps=a.fps,
    )
    with EpisodeFile(path) as f:
        n_eps, n_rows, channels, fps = f.n_episodes, f.n_steps, len(f.sensor_names), f.fps
    acts = (
        "no actions (a zero action column)"
        if not _names(a.action)
        else f"{len(_names(a.action))} action(s)"
    )
    print(
        f"wrote {path}: {n_eps} episode(s), {n_rows} rows, {channels} sensor channel(s), {acts}, fps {fps:g}"
    )
    if n_eps < 2:
        print(
            "note: training holds out the last episodes for evaluation and needs at least 2; "
            "split the rows with --episode COLUMN"
        )
    print(f"train on it: physjepa train --data {path} --out runs/{path.stem} model.encoder=mlp")


def _columns_text(columns: dict) -> str:
    return ", ".join(
        f"{name} {tuple(shape[1:])} {dtype}" for name, (shape, dtype) in columns.items()
    )


def cmd_convert(a: argparse.Namespace) -> None:
    from physjepa.data.importers import DESCRIPTIONS, convert, detect
    from physjepa.data.validate import validate

    kind = detect(a.src)
    print(f"{a.src}: {DESCRIPTIONS[kind]}; importer '{kind}'")
    path = convert(
        a.src,
        a.to,
        overwrite=a.overwrite,
        importer=kind,
        camera=a.camera,
        state=_names(a.state) if a.state is not None else None,
        action=_names(a.action) if a.action is not None else None,
        size=a.size,
        actions_dir=a.actions_dir,
    )
    info = validate(path)
    fps = f", fps {info['fps']:g}" if info["fps"] else ""
    print(
        f"wrote {path}: {info['episodes']} episode(s), {info['steps']} steps{fps}; "
        f"columns {_columns_text(info['columns'])}"
    )
    if info["episodes"] < 2:
        print("note: training holds out the last episodes for evaluation and needs at least 2")
    mlp = "" if "pixels" in info["columns"] else " model.encoder=mlp"
    print(f"train on it: physjepa train --data {path} --out runs/{path.stem}{mlp}")


def cmd_validate(a: argparse.Namespace) -> None:
    from physjepa.data.validate import validate

    info = validate(a.path)
    print(
        f"ok: {info['episodes']} episodes, {info['steps']} steps, "
        f"columns {_columns_text(info['columns'])}"
    )


def cmd_inspect(a: argparse.Namespace) -> None:
    from physjepa.data.episodes import EpisodeFile

    with EpisodeFile(a.path) as f:
        lens = f.ep_len
        print(
            f"{f.path}: world {f.world!r}, {f.n_episodes} episodes, {f.n_steps} steps (length min {lens.min()} / mean {lens.mean():.1f} / max {lens.max()})"
        )
        print("columns:")
        for name, (shape, dtype) in f.columns.items():
            print(f"  {name:<10} {str(shape):<22} {dtype}")
        if f.state_spec:
            print("state: " + ", ".join(f"{n} {tuple(s)}" for n, s in f.state_spec))
        attrs = {k: v for k, v in f.attrs().items() if k not in ("params_json", "state_spec_json")}
        shown = {k: (v if len(str(v)) <= 100 else f"{str(v)[:97]}...") for k, v in attrs.items()}
        print("attributes: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        if "voe_json" in attrs:
            from physjepa.data.voe_pairs import read_pairs

            pairs_file, records = read_pairs(a.path)
            pairs_file.close()
            count = collections.Counter((r["property"], r["split"]) for r in records)
            print("voe pairs: " + ", ".join(f"{p} {s} {n}" for (p, s), n in count.items()))
        print("params: " + json.dumps(f.params))


def cmd_worlds(a: argparse.Namespace) -> None:
    from physjepa.worlds.registry import names, world_class

    for n in names():
        cls = world_class(n)
        print(f"{n}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        print("  params: " + ", ".join(f"{k}={v!r}" for k, v in cls.default_params.items()))


def cmd_train(a: argparse.Namespace) -> None:
    from physjepa.config import Config, apply_overrides, load_preset
    from physjepa.training.checkpoint import read_run_config
    from physjepa.training.loop import train

    if a.resume:
        cfg = apply_overrides(Config.from_dict(read_run_config(a.out)["config"]), a.overrides)
    else:
        if not a.data:
            raise ValueError("--data is required (an episode file from 'physjepa collect')")
        cfg = load_preset(a.preset, a.overrides)
    from physjepa.training.distributed import from_env

    main_rank = from_env().is_main  # under torchrun only rank 0 speaks
    if not a.quiet and main_rank:
        print("config:\n" + cfg.to_json())
    train(cfg, a.data, a.out, resume=a.resume, overwrite=a.overwrite, progress=not a.quiet)
    if main_rank:
        print(f"run saved in {a.out}")


def cmd_eval(a: argparse.Namespace) -> None:
    from physjepa.recipes.evaluate import evaluate, format_table

    res = evaluate(a.run, a.data, viewer=not a.no_viewer)
    print(format_table(res))
    print(f"wrote {Path(a.run) / 'eval.json'}")


def cmd_plan(a: argparse.Namespace) -> None:
    from tqdm import tqdm

    from physjepa.recipes.plan import plan_run
    from physjepa.training.checkpoint import read_run_config

    world = read_run_config(a.run).get("data", {}).get("world")
    if a.world and a.world != world:
        raise ValueError(f"{a.run} was trained on world {world!r}, not {a.world!r}")
    if a.episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {a.episodes}")
    baselines = tuple(b for b in a.baselines.split(",") if b)
    unknown = sorted(set(baselines) - {"oracle", "random"})
    if unknown:
        raise ValueError(f"--baselines: unknown {unknown}; valid: oracle, random")
    bars: dict[str, tqdm] = {}

    def progress(name: str, done: int) -> None:
        if name not in bars:
            bars[name] = tqdm(total=a.episodes, unit="ep", desc=f"plan {name}")
        bars[name].update(done - bars[name].n)

    from physjepa.training.loop import resolve_device

    res = plan_run(
        a.run,
        device=resolve_device(a.device, "--device"),
        compile=a.compile,
        gifs=a.gifs,
        episodes=a.episodes,
        seed=a.seed,
        planner=a.planner,
        settings=_params(a.set, "--set"),
        horizon=a.horizon,
        execute=a.execute,
        objective=a.objective,
        baselines=baselines,
        progress=progress,
    )
    for bar in bars.values():
        bar.close()
    for name, r in res["results"].items():
        ms = r["ms_per_plan"]
        ms_txt = f"{ms:7.1f} ms/plan" if ms is not None else ""
        print(
            f"{name:>7}: success {r['success_rate']:6.1%}  final distance {r['final_distance_mean']:.4f}  {ms_txt}"
        )
    print(f"wrote {Path(a.run) / 'plan.json'}")


def cmd_forecast(a: argparse.Namespace) -> None:
    from physjepa.recipes.forecast import run_forecast

    res = run_forecast(a.run, a.data, a.horizon, a.far, a.device)
    m = res["metrics"]
    print(
        f"failure within {a.horizon} steps, {res['episodes']} held-out episodes "
        f"({m['failures']} fail): AUROC {m['auroc']:.3f}; at {a.far:.0%} false alarms "
        f"(threshold {m['threshold']:.3f}) median lead {m['lead_steps_median']:.0f} steps, "
        f"warned {m['warned']:.0%} of failures"
    )
    print(f"wrote {Path(a.run) / 'forecast.json'}")


def cmd_monitor(a: argparse.Namespace) -> None:
    import json

    import torch

    from physjepa.recipes.monitor import monitor
    from physjepa.training.checkpoint import read_run_config

    meta = read_run_config(a.run)
    if a.columns:
        from physjepa.recipes.monitor import run_channels

        names, actions = run_channels(meta)
        print(",".join((names or ["(frames: a directory of .png/.npy)"]) + actions))
        return
    if a.source is None:
        raise ValueError(
            "--source is required: a CSV file, '-' for stdin, a frame directory or an .h5 file"
        )
    if a.threads < 1:
        raise ValueError(f"--threads={a.threads} must be at least 1")
    torch.set_num_threads(a.threads)
    out = open(a.out, "a", encoding="utf-8") if a.out else sys.stdout  # noqa: SIM115

    def emit(alert: dict) -> None:
        out.write(json.dumps(alert) + "\n")
        out.flush()

    def bad(info: dict) -> None:
        print(json.dumps(info), file=sys.stderr, flush=True)

    try:
        stats, cal = monitor(
            a.run,
            a.source,
            emit,
            bad,
            a.far,
            a.threshold,
            a.calibrate,
            a.actions,
            a.follow,
            a.idle_exit,
            a.cooldown,
            a.device,
        )
    finally:
        if out is not sys.stdout:
            out.close()
    print(
        json.dumps(
            {
                "summary": True,
                "rows": stats.rows,
                "scored_steps": stats.scored,
                "alerts": stats.alerts,
                "skipped_rows": stats.skipped,
                "threshold": round(cal.threshold, 6),
                "far": cal.far,
                "calibration_steps": cal.steps,
                "rows_per_s": round(stats.rows_per_s, 1),
            }
        ),
        file=sys.stderr,
    )


def cmd_compare(a: argparse.Namespace) -> None:
    from physjepa.report.compare import write_compare

    print(f"compare: {write_compare(a.runs, a.out).resolve()}")


def cmd_report(a: argparse.Namespace) -> None:
    from physjepa.report.html import write_report
    from physjepa.training.checkpoint import read_run_config

    read_run_config(a.run)
    print(f"report: {write_report(a.run).resolve()}")


def cmd_voe(a: argparse.Namespace) -> None:
    from physjepa.recipes.voe import format_table, run_voe
    from physjepa.training.checkpoint import read_run_config

    read_run_config(a.run)
    for flag in ("pairs", "steps", "pixel_steps", "oracle_steps"):
        if getattr(a, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1")
    res = run_voe(
        a.run,
        a.pairs_file,
        pairs=a.pairs,
        steps=a.steps,
        seed=a.seed,
        untrained=a.untrained,
        pixel_steps=a.pixel_steps,
        oracle_steps=a.oracle_steps,
        context=a.context,
        horizon=a.horizon,
        window=a.window,
        device=a.device,
        with_probes=not a.no_probes,
    )
    print(format_table(res))
    print(f"wrote {Path(a.run) / 'voe.json'} in {res['seconds']:.0f} s")


def cmd_voe_generate(a: argparse.Namespace) -> None:
    from tqdm import tqdm

    from physjepa.data.voe_pairs import PROPERTIES, VOE_PARAMS, WORLD, generate
    from physjepa.worlds import WorldError

    if a.world != WORLD:
        raise WorldError(f"VoE events exist for {WORLD!r} only, not {a.world!r}")
    props = tuple(x for x in (a.properties or ",".join(PROPERTIES)).split(",") if x)
    splits = tuple(x for x in a.splits.split(",") if x)
    unknown = sorted(set(props) - set(PROPERTIES)) or sorted(set(splits) - {"id", "ood"})
    if unknown or not props or not splits:
        raise WorldError(
            f"--properties / --splits: unknown or empty {unknown}; valid: "
            f"{', '.join(PROPERTIES)} / id, ood"
        )
    params = {**VOE_PARAMS, **_params(a.param)}
    total = a.pairs * len(props) * len(splits)
    with tqdm(total=total, unit="pair", desc="voe pairs") as bar:
        path = generate(
            a.out,
            params,
            pairs=a.pairs,
            steps=a.steps,
            seed=a.seed,
            properties=props,
            splits=splits,
            image_size=a.image_size,
            overwrite=a.overwrite,
            progress=bar.update,
        )
    print(f"wrote {path}: {total} groups of matched videos (a pair each; 2 for permanence)")


def cmd_demo(a: argparse.Namespace) -> None:
    from physjepa.config import load_preset
    from physjepa.data.episodes import DataError, EpisodeFile

    t0 = time.time()
    cfg = load_preset(a.preset, a.overrides)  # validate before spending minutes collecting
    reuse = False
    if Path(a.data).exists():
        try:
            with EpisodeFile(a.data) as f:
                reuse = f.world == "ball-drop" and f.n_episodes == a.episodes
        except DataError:
            reuse = False
    if Path(a.data).exists() and not reuse:
        raise DataError(
            f"{a.data} exists and is not a {a.episodes}-episode ball-drop file; delete it or pass --data elsewhere (the demo never overwrites other data)"
        )
    if reuse:
        print(f"[1/4] reusing {a.data} (delete it to collect again)")
    else:
        print(f"[1/4] collecting {a.episodes} ball-drop episodes into {a.data}")
        cmd_collect(
            argparse.Namespace(
                world="ball-drop",
                episodes=a.episodes,
                steps=None,
                policy="random",
                seed=0,
                out=a.data,
                image_size=64,
                workers=min(2, os.cpu_count() or 1),
                param=[],
                gym_import=None,
                overwrite=False,
            )
        )
    from physjepa.training.checkpoint import read_run_config
    from physjepa.training.loop import train

    if (Path(a.out) / "config.json").exists():
        old = read_run_config(a.out).get("data", {}).get("path")
        if old != str(Path(a.data).resolve()):
            raise ValueError(
                f"{a.out} holds a run that is not a demo on {a.data}; pass --out elsewhere (the demo only replaces its own runs)"
            )
    print(f"[2/4] training ({a.preset} preset) into {a.out}")
    train(cfg, a.data, a.out, overwrite=True)
    print("[3/4] evaluating on held-out episodes")
    cmd_eval(argparse.Namespace(run=a.out, data=None, no_viewer=False))
    print("[4/4] writing the report")
    from physjepa.report.html import write_report

    path = write_report(a.out).resolve()
    print(f"demo finished in {time.time() - t0:.0f} s")
    print(f"report: {path}")


COMMANDS = {
    "collect": cmd_collect,
    "import-table": cmd_import_table,
    "convert": cmd_convert,
    "validate": cmd_validate,
    "inspect": cmd_inspect,
    "worlds": cmd_worlds,
    "train": cmd_train,
    "eval": cmd_eval,
    "plan": cmd_plan,
    "forecast": cmd_forecast,
    "monitor": cmd_monitor,
    "report": cmd_report,
    "compare": cmd_compare,
    "voe": cmd_voe,
    "voe-generate": cmd_voe_generate,
    "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["voe", "generate"]:  # 'physjepa voe generate' is its own command
        argv = ["voe-generate"] + argv[2:]
    args = _parser().parse_args(argv)
    from physjepa.errors import USER_ERRORS

    name = "voe generate" if args.command == "voe-generate" else args.command
    try:
        COMMANDS[args.command](args)
    except USER_ERRORS as e:
        print(f"physjepa {name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"physjepa {name}: interrupted; files already written are intact",
            file=sys.stderr,
        )
        return 130
    return 0
