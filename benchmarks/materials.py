"""Materials and process-monitoring benchmark: failure early warning on the beam, anomaly
detection on sensor streams (beam, reaction, reacher), monitor throughput.

1. collect 300 scripted episodes x 100 steps of ``beam`` (loading ramps then cycling, random
   notches and spring strengths; seed 0), ``reaction`` (Gray–Scott under a slowly wandering
   feed/kill) and ``reacher`` (noisy scripted arm); train the laptop preset with the MLP
   encoder on their sensor vectors (beam: 6 strain gauges, load cell, clamp force, acoustic
   emission; reaction: 6 concentration probes and 2 means; reacher: joint angles, velocities
   and fingertip, ``data.obs=state``);
2. early warning (``physjepa forecast``, K = 20): held-out loading histories and flaws (the
   beam run's validation episodes), AUROC and median lead time at 1% false alarms, the
   threshold set (conformal) on 300 calibration beams of seed 1, and the false-alarm rate
   measured on the held-out episodes (also with the threshold cross-fitted over them);
3. anomaly detection: for every fault type, 40 test streams (seeds of their own) simulated
   twice from the same seed and loads, without and with a fault at a random step in
   [25, 60]; score = the maximum over the 20 steps from the onset of ``physjepa monitor``'s
   score: the latent surprise or the per-channel check (each channel against the other
   channels of its row, the change over 20 steps, and its frozen-reading run) where it is
   larger, each over its normal 99% level (``surprise_auroc_*``: the surprise alone, as
   ``monitor --no-channel-check``); AUROC faulted vs
   normal, detection delay and false alarms per hour at a threshold set at 1% false alarms
   per step on the run's validation episodes. Baselines on the same streams: a reconstruction
   autoencoder (width 256, as the encoder) and a per-channel z-score, both fitted on the
   run's training episodes;
4. ``physjepa monitor`` on one core: sensor rows per second (a 20,000-row CSV) and frames per
   second (2,000 64x64 PNG frames, with a conv model trained briefly on beam pixels only for
   this timing).

Writes benchmarks/results/materials.json.

    python benchmarks/materials.py           # ~20 minutes on 2 CPU cores
    python benchmarks/materials.py --reuse   # reuse the data and runs in benchmarks/work/materials
    python benchmarks/materials.py --smoke   # the same path at tiny sizes, into a temp dir
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_smoke_args, out_dir, write_result  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "materials"
STEPS, WINDOW, FAR = 100, 20, 0.01  # fault onsets in [25, 60] + WINDOW need 100 steps


@dataclass(frozen=True)
class Sizes:
    episodes: int = 300
    test_streams: int = 40
    preset: str = "laptop"
    autoencoder_steps: int = 2000
    monitor_streams: int = 200  # beam streams of STEPS rows in the CSV the monitor reads
    pixel_overrides: tuple[str, ...] = ("train.steps=300",)  # the conv model for frames/s
    pixel_episodes: int = 20  # episodes of frames the monitor reads
    calibration_episodes: int = 300  # beams (seed 1) that set the warning threshold


SMOKE = Sizes(16, 2, "debug", 20, 3, (), 2, 8)
S = Sizes()  # main() sets the sizes of this invocation
FPS = 10.0  # model steps per second of stream, for false alarms per hour (a 10 Hz logger)

DATASETS = {  # name: (world, collect args, train overrides)
    "beam": ("beam", [], ["model.encoder=mlp"]),
    "reaction": ("reaction", [], ["model.encoder=mlp"]),
    "reacher": ("reacher", [], ["model.encoder=mlp", "data.obs=state"]),
}


def physjepa(*args: str) -> None:
    """A ``physjepa`` command, run in this process (the CLI's own code path, without paying
    a torch import per command)."""
    from physjepa.cli import main as cli

    if cli(list(args)) != 0:
        raise SystemExit(f"physjepa {' '.join(args)} failed")


def physjepa_process(*args: str, **kw) -> subprocess.CompletedProcess:
    """A ``physjepa`` command in a process of its own (what a user's monitor is)."""
    return subprocess.run([sys.executable, "-m", "physjepa", *args], check=True, **kw)


def prepare(name: str, reuse: bool, work: Path) -> tuple[Path, float]:
    """Collect and train one dataset; returns the run directory and the minutes it took."""
    world, extra, overrides = DATASETS[name]
    data, run = work / f"{name}.h5", work / "runs" / name
    took = run / "collect_train_minutes.txt"  # kept beside the run for --reuse
    if reuse and (run / "model.safetensors").exists():
        return run, float(took.read_text()) if took.exists() else float("nan")
    t0 = time.time()
    physjepa("collect", "--world", world, "--episodes", str(S.episodes), "--steps", str(STEPS),
             "--policy", "scripted", "--seed", "0", "--out", str(data), "--overwrite",
             *extra)  # fmt: skip
    physjepa("train", "--data", str(data), "--preset", S.preset, "--out", str(run),
             "--overwrite", "--quiet", *overrides)  # fmt: skip
    minutes = (time.time() - t0) / 60
    took.write_text(f"{minutes:.2f}\n")
    return run, minutes


# -- test streams ------------------------------------------------------------------------------
def simulate(world: str, params: dict, seed: int, obs_key: str, jam: tuple[int, int] | None = None):
    """One scripted stream: (obs rows (T, C), actions (T, A), state rows). ``jam=(step, j)``:
    from that step the actuator j is jammed (applies 0) while the log records the command."""
    from physjepa.worlds import make

    w = make(world, **params)
    w.reset(seed=seed)
    rng = np.random.default_rng(seed + 7)
    obs, act, states = [], [], []
    for t in range(STEPS):
        obs.append(w.sensors() if obs_key == "sensors" else w.state_vector())
        states.append(w.state_vector())
        a = w.scripted_action(rng)
        act.append(a)
        applied = a.copy()
        if jam is not None and t + 1 >= jam[0]:  # the first observation it changes is jam[0]
            applied[jam[1]] = 0.0
        w.advance(applied)
    return np.stack(obs), np.stack(act), np.stack(states)


def fault_streams(kind: str, n: int, seed0: int):
    """``n`` matched (normal, faulted, onset) streams of one fault type."""
    rng = np.random.default_rng(seed0)
    out, seed = [], seed0
    while len(out) < n:
        seed += 1
        t0 = int(rng.integers(25, 61))
        if kind.startswith("beam") or kind.startswith("gauge"):
            world, key = "beam", "sensors"
            fault = {
                "beam_stiffness": ["stiffness", t0, 0.7],
                "beam_crack": ["crack", t0, float(rng.uniform(0.1, 0.4)), 2],
                "gauge_stuck": ["stuck", t0, int(rng.integers(0, 6))],
                "gauge_drift": ["drift", t0, int(rng.integers(0, 6)), 0.002],
            }[kind]
            normal = simulate(world, {}, seed, key)
            failed = normal[2][:, BEAM_FAILED]
            if failed[: t0 + WINDOW].any():  # a beam that breaks anyway: nothing left to watch
                continue
            faulted = simulate(world, {"fault": fault}, seed, key)
        elif kind == "reaction_rate":
            factor = float(rng.choice([0.6, 1.6]))
            normal = simulate("reaction", {}, seed, "sensors")
            faulted = simulate("reaction", {"rate_change": [t0, factor]}, seed, "sensors")
        elif kind == "reacher_jam":
            normal = simulate("reacher", {}, seed, "state")
            faulted = simulate("reacher", {}, seed, "state", jam=(t0, int(rng.integers(0, 2))))
        else:
            raise ValueError(kind)
        out.append((normal, faulted, t0))
    return out


def _beam_failed_column() -> int:
    from physjepa.heads.warning import failed_column
    from physjepa.worlds import make

    w = make("beam")
    w.reset(seed=0)
    return failed_column(w.state_spec())


BEAM_FAILED = _beam_failed_column()

FAULTS = {  # fault type -> the run that watches it
    "beam_stiffness": "beam",
    "beam_crack": "beam",
    "gauge_stuck": "beam",
    "gauge_drift": "beam",
    "reaction_rate": "reaction",
    "reacher_jam": "reacher",
}


def anomaly(runs: dict[str, Path]) -> dict:
    import torch

    from physjepa.data.episodes import EpisodeFile, split_episodes
    from physjepa.metrics.anomaly import (
        calibrate,
        episode_parts,
        episode_surprise,
        fault_metrics,
        fit_channel_check,
        threshold_at,
    )
    from physjepa.models.baselines import ZScoreDetector, fit_autoencoder
    from physjepa.training.checkpoint import load_run

    detectors = {}
    for name, run in runs.items():
        model, cfg, info = load_run(run)
        key = info.data.obs_key
        with EpisodeFile(info.data.path) as f:
            tr, va = split_episodes(f.n_episodes, cfg.data.val_fraction)
            x_train = f.load(key, tr)
            train = [(ep[key], ep["action"]) for ep in map(f.episode, map(int, tr))]
            val = [(ep[key], ep["action"]) for ep in map(f.episode, map(int, va))]
        torch.manual_seed(0)
        ae, _ = fit_autoencoder(x_train, steps=S.autoencoder_steps)
        z = ZScoreDetector(x_train)
        k = cfg.data.frameskip
        # `physjepa monitor` on sensor rows: the latent surprise and the per-channel check
        # (its head fitted on the training episodes), combined and calibrated on validation;
        # "surprise": the latent surprise alone (`monitor --no-channel-check`)
        check = fit_channel_check(train, k, FAR)
        cal = calibrate(model, val, FAR, k, check)
        scorers = {
            "physjepa": lambda o, a, m=model, k=k, c=cal: c.score(
                *episode_parts(m, o, a, k, c.check)
            ),
            "surprise": lambda o, a, m=model, k=k: episode_surprise(m, o, a, k),
            "autoencoder": lambda o, a, ae=ae: ae.score(o),
            "zscore": lambda o, a, z=z: z.score(o),
        }
        thresholds = {
            s: threshold_at(np.concatenate([fn(o, a)[1:] for o, a in val]), FAR)
            for s, fn in scorers.items()
            if s != "physjepa"
        }
        thresholds["physjepa"] = cal.threshold
        detectors[name] = (scorers, thresholds)

    results = {}
    for i, (kind, run_name) in enumerate(FAULTS.items()):
        streams = fault_streams(kind, S.test_streams, 1_000_000 * (i + 1))
        scorers, thresholds = detectors[run_name]
        results[kind] = {}
        for s, fn in scorers.items():
            normal = [fn(n[0], n[1]) for n, _, _ in streams]
            faulted = [fn(f[0], f[1]) for _, f, _ in streams]
            onsets = [t0 for _, _, t0 in streams]
            results[kind][s] = fault_metrics(normal, faulted, onsets, thresholds[s], WINDOW, FPS)
        print(kind, json.dumps(results[kind]), flush=True)
    return results


# -- monitor throughput --------------------------------------------------------------------------
def monitor_rows_per_s(run: Path, work: Path) -> float:
    from physjepa.runs import Run

    info = Run.open(run)
    names = info.data.obs_names + info.data.action_names
    rows = []
    for seed in range(S.monitor_streams):
        o, a, _ = simulate("beam", {}, 5_000_000 + seed, "sensors")
        rows.append(np.concatenate([o, a], 1))
    csv = work / "monitor_stream.csv"
    table = np.concatenate(rows)
    with open(csv, "w") as fh:
        fh.write(",".join(names) + "\n")
        np.savetxt(fh, table, delimiter=",", fmt="%.7g")
    return _monitor_speed(run, csv, "rows_per_s", len(table), work)


def monitor_frames_per_s(reuse: bool, work: Path) -> tuple[float, str]:
    """Frames per second of the monitor on 64x64 PNG frames with a conv model of the laptop
    architecture (trained 300 steps on the beam pixels: the timing does not depend on how
    well it learned)."""
    from PIL import Image

    from physjepa.data.episodes import EpisodeFile

    run = work / "runs" / "beam-pixels"
    if not (reuse and (run / "model.safetensors").exists()):
        physjepa("train", "--data", str(work / "beam.h5"), "--preset", S.preset, "--out",
                 str(run), "--overwrite", "--quiet", *S.pixel_overrides)  # fmt: skip
    frames = work / "monitor_frames"
    shutil.rmtree(frames, ignore_errors=True)
    frames.mkdir(parents=True)
    with EpisodeFile(work / "beam.h5") as f:
        px = f.load("pixels", list(range(S.pixel_episodes)))  # 2,000 frames
        act = f.load("action", list(range(S.pixel_episodes)))
    for i, im in enumerate(px):
        Image.fromarray(im).save(frames / f"{i:06d}.png")
    np.save(work / "monitor_actions.npy", act)
    fps = _monitor_speed(
        run, frames, "rows_per_s", len(px), work, "--actions", str(work / "monitor_actions.npy")
    )
    return fps, str(run)


def _monitor_speed(run: Path, source: Path, key: str, n: int, work: Path, *extra: str) -> float:
    """Rows per second of ``physjepa monitor`` (one thread), from its own summary line, over
    the streaming part (calibration excluded)."""
    proc = physjepa_process("monitor", str(run), "--source", str(source), "--threads", "1",
                    "--out", str(work / "alerts.jsonl"), *extra,
                    capture_output=True, text=True)  # fmt: skip
    summary = json.loads(proc.stderr.strip().splitlines()[-1])
    assert summary["rows"] == n, summary
    return float(summary[key])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", action="store_true", help="reuse data and runs in the work dir")
    add_smoke_args(ap)
    a = ap.parse_args()
    global S
    S = SMOKE if a.smoke else Sizes()
    results = out_dir(a)
    work = results / "work" / "materials" if a.smoke else WORK
    if not a.reuse:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    runs, minutes = {}, {}
    for name in DATASETS:
        runs[name], minutes[name] = prepare(name, a.reuse, work)

    from physjepa.fileio import sha256_file
    from physjepa.options import ForecastOptions
    from physjepa.recipes.forecast import run_forecast

    # the warning threshold: a conformal quantile on beams of their own (seed 1, never trained
    # on, held out from the test episodes); the cross-fitted threshold over the held-out
    # episodes themselves is kept for reference (one near-failure beam that survives can
    # carry a fold's false alarms when it is left out of that fold's calibration)
    calibration = work / "beam-calibration.h5"
    if not (a.reuse and calibration.exists()):
        physjepa("collect", "--world", "beam", "--episodes", str(S.calibration_episodes),
                 "--steps", str(STEPS), "--policy", "scripted", "--seed", "1",
                 "--out", str(calibration), "--overwrite")  # fmt: skip
    crossfit = run_forecast(ForecastOptions(run=str(runs["beam"]), horizon=20, far=FAR))
    warn = run_forecast(
        ForecastOptions(run=str(runs["beam"]), horizon=20, far=FAR, calibrate=str(calibration))
    )["metrics"]
    warn["false_alarm_rate_crossfit"] = crossfit["metrics"]["false_alarm_rate"]
    warn["lead_steps_median_crossfit"] = crossfit["metrics"]["lead_steps_median"]
    print("forecast", json.dumps(warn), flush=True)
    det = anomaly(runs)
    rows_s = monitor_rows_per_s(runs["beam"], work)
    frames_s, _ = monitor_frames_per_s(a.reuse, work)

    metrics = {
        "warning_auroc": round(warn["auroc"], 4),
        "warning_lead_steps_median": warn["lead_steps_median"],
        "warning_warned_share": round(warn["warned"], 4),
        "warning_false_alarm_rate": round(warn["false_alarm_rate"], 4),
        "warning_false_alarm_rate_crossfit": round(warn["false_alarm_rate_crossfit"], 4),
        "warning_lead_steps_median_crossfit": warn["lead_steps_median_crossfit"],
        "warning_lead_steps_median_heldout_threshold": warn["lead_steps_median_heldout_threshold"],
    }
    for kind, r in det.items():
        metrics[f"anomaly_auroc_{kind}"] = round(r["physjepa"]["auroc"], 4)
        metrics[f"anomaly_delay_steps_{kind}"] = r["physjepa"]["delay_median"]
        metrics[f"anomaly_detected_{kind}"] = round(r["physjepa"]["detected"], 4)
        metrics[f"false_alarms_per_hour_{kind}"] = round(r["physjepa"]["false_alarms_per_hour"], 1)
    for kind, r in det.items():  # the latent surprise alone (monitor --no-channel-check)
        metrics[f"surprise_auroc_{kind}"] = round(r["surprise"]["auroc"], 4)
    for s in ("physjepa", "surprise", "autoencoder", "zscore"):
        key = "anomaly_auroc_mean" if s == "physjepa" else f"{s}_auroc_mean"
        metrics[key] = round(float(np.mean([r[s]["auroc"] for r in det.values()])), 4)
    metrics["monitor_rows_per_s"] = round(rows_s, 1)
    metrics["monitor_frames_per_s"] = round(frames_s, 1)
    metrics["minutes_total"] = round((time.time() - t0) / 60, 1)

    notes = (
        f"{S.episodes} scripted episodes x {STEPS} steps per world (seed 0), {S.preset} preset, "
        "MLP "
        f"encoder on sensor vectors; forecast K=20 on the beam run's {warn['failures']} failing "
        f"of its held-out episodes, lead = steps from the first alarm within the 20 steps before "
        f"failure, threshold: the split-conformal {FAR:.0%} quantile of the steps not "
        f"followed by a failure of {S.calibration_episodes} calibration beams (collect seed 1, "
        "never trained on; rate measured on the held-out episodes: warning_false_alarm_rate; "
        "_crossfit: the threshold cross-fitted over 5 folds of the held-out episodes "
        "instead); anomalies: "
        f"{S.test_streams} matched "
        f"normal/faulted streams per fault, onset in [25, 60], max score over {WINDOW} steps, "
        "physjepa's score = physjepa monitor's on sensor rows: the larger of the latent "
        "surprise and the worst live channel's error (the change over 20 steps of its residual "
        "under a cross-channel head (the other channels of its row; fitted on training "
        "episodes) over its training 99% change, or its frozen-reading run over the training "
        "99% run), each over its own 99% quantile on validation episodes (surprise_auroc_*: "
        "the latent surprise alone, monitor --no-channel-check), "
        f"thresholds at {FAR:.0%} false alarms per step of validation episodes, false alarms per "
        f"hour at {FPS:g} steps/s; monitor on 1 thread, calibration excluded."
    )
    extra = {
        "detail": det,
        "warning": warn,
        "checkpoints": {n: sha256_file(r / "model.safetensors")[:12] for n, r in runs.items()},
        "train_minutes": minutes,
    }
    if a.smoke:
        notes = "SMOKE RUN (tiny sizes; not a result). " + notes
    write_result("materials", metrics, notes, extra, out=results)


if __name__ == "__main__":
    main()
