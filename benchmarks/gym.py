"""Standard Gymnasium envs end to end through ``gym:<id>`` -> benchmarks/results/gym.json.

    python benchmarks/gym.py                          # every env (about 40 min on 2 cores)
    python benchmarks/gym.py --env Reacher-v5          # one env; merged into gym.json
    python benchmarks/gym.py --smoke --out-dir /tmp/g  # tiny sizes, the same code path

For each env: collect random-action episodes (seed 0) with ``physjepa collect``'s library
call, train the ``laptop`` preset on the frames (64 x 64, letterboxed whole renders), then
``plan`` the first 30 episodes of the env's manifest (seed 0, built on the fly: goals 25
random steps from the start) with the model, the oracle (the same planner on the true
simulator) and random actions, at the planner's default budget.

What counts as success is each env's ``TASKS`` entry (``--param`` settings of ``plan``). Those
settings were chosen on a *validation* manifest (seed 1, 10 episodes), with no model, so
that random actions rarely succeed and the oracle does, and are fixed before any model ran:

- Reacher-v5 (MuJoCo, rendered headless): the arm's joint angles (cos, sin: dims 0-3) within
  0.1 of their spread (validation: random 0.0, oracle 1.0); a top-down camera at 0.6 m,
  because the default view leaves the arm a few pixels wide at 64 x 64.
- MountainCarContinuous-v0: position and velocity within 0.2 of their spread (0.1: oracle
  0.6; 0.2: random 0.2, oracle 0.9).
- Swimmer-v5 (MuJoCo): the three body angles (dims 0-2) within 0.1 (random 0.0, oracle 1.0),
  frameskip 1 (the env already steps 4 physics frames).

Pendulum-v1 and Acrobot-v1 were tried and left out: a swinging pendulum passes through the
goal's angle by itself (Pendulum: random 0.9 on angles, 0.4 on angles + velocity, oracle
0.4), and the oracle never reached an Acrobot goal at the default budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_smoke_args, out_dir, write_result  # noqa: E402

from physjepa.config import load_preset  # noqa: E402
from physjepa.data.collect import collect  # noqa: E402
from physjepa.data.episodes import EpisodeFile  # noqa: E402
from physjepa.options import PlanOptions  # noqa: E402
from physjepa.recipes.plan import plan_run  # noqa: E402
from physjepa.runs import Run  # noqa: E402
from physjepa.training.loop import train  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "gym"
REACHER_CAMERA = {
    "trackbodyid": 0, "distance": 0.6, "elevation": -90.0, "azimuth": 90.0, "lookat": [0, 0, 0]
}  # fmt: skip


@dataclass(frozen=True)
class Task:
    env: str
    frameskip: int
    episodes: int
    steps: int
    success: tuple[str, ...]  # plan --param: what success means (chosen on validation)
    world: tuple[tuple[str, object], ...] = ()  # collect params (the env's own kwargs)
    overrides: tuple[str, ...] = ()  # config overrides of this env's training (and why: TASKS)


TASKS = {
    "Reacher-v5": Task(
        "Reacher-v5", 2, 200, 50, ("success_dims=[0,1,2,3]",),
        (("env_kwargs", {"default_camera_config": REACHER_CAMERA}),),
    ),
    "MountainCarContinuous-v0": Task(
        "MountainCarContinuous-v0", 2, 100, 100, ("success_radius=0.2",)
    ),
    "Swimmer-v5": Task("Swimmer-v5", 1, 100, 100, ("success_dims=[0,1,2]",)),
}  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    scale: float = 1.0  # of the episodes collected
    steps: int | None = None  # per episode (None: the task's)
    preset: str = "laptop"
    overrides: tuple[str, ...] = ()
    plan_episodes: int = 30
    planner: tuple[str, ...] = ()


FULL = Sizes()
SMOKE = Sizes(
    scale=0.02,
    steps=12,
    preset="debug",
    overrides=("train.steps=3",),
    plan_episodes=1,
    planner=("samples=8", "iterations=1"),
)


def bench_env(task: Task, work: Path, sizes: Sizes) -> dict:
    """The env's runs: collect (reused when there), train (reused when finished), plan."""
    world, key = f"gym:{task.env}", task.env.split("-")[0].lower()
    episodes = max(2, round(task.episodes * sizes.scale))
    steps = sizes.steps or task.steps
    data = work / f"{key}.h5"
    start = time.perf_counter()
    if data.exists():
        with EpisodeFile(data) as f:
            if f.n_episodes != episodes:
                raise SystemExit(f"{data} is not this benchmark's data; delete it")
    else:
        print(f"collecting {episodes} episodes of {world}", flush=True)
        collect(world, data, episodes, steps, "random", seed=0, params=dict(task.world), workers=2)
    collect_s = time.perf_counter() - start
    run = work / key
    cfg = load_preset(
        sizes.preset, [f"data.frameskip={task.frameskip}", *task.overrides, *sizes.overrides]
    )
    done = (run / "model.safetensors").exists() and Run.open(run).config == cfg
    train_s = 0.0
    if not done:
        print(f"training {run.name}", flush=True)
        t0 = time.perf_counter()
        train(cfg, data, run, overwrite=True, progress=False)
        train_s = time.perf_counter() - t0
    print(f"planning {run.name}", flush=True)
    t0 = time.perf_counter()
    res = plan_run(
        PlanOptions(
            run=str(run),
            episodes=sizes.plan_episodes,
            param=task.success,
            set=sizes.planner,
            gifs=0,
        )
    )
    plan_s = time.perf_counter() - t0
    rows = res["results"]
    return {
        "world": world,
        "frameskip": task.frameskip,
        "overrides": list(task.overrides),
        "data": {"episodes": episodes, "steps": steps, "policy": "random", "seed": 0},
        "success_rule": res["success"],
        "discriminating": res.get("discriminating"),
        "checkpoint_sha256": res["checkpoint_sha256"],
        "manifest": res["manifest"],
        "planner": res["planner"],
        **{
            name: {k: r[k] for k in ("success_rate", "final_distance_mean", "ms_per_plan")}
            for name, r in rows.items()
        },
        "minutes": {
            "collect": round(collect_s / 60, 2),
            "train": round(train_s / 60, 2),
            "plan": round(plan_s / 60, 2),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", choices=list(TASKS), action="append", help="one env (repeatable)")
    ap.add_argument("--work-dir", type=Path, default=None, help="data and runs (reused)")
    add_smoke_args(ap)
    a = ap.parse_args()
    sizes = SMOKE if a.smoke else FULL
    out = out_dir(a)
    work = a.work_dir or (out / "work" if a.smoke else WORK)
    work.mkdir(parents=True, exist_ok=True)
    old = out / "gym.json"
    envs = dict(json.loads(old.read_text()).get("envs", {})) if old.exists() else {}
    # a smoke run takes one env unless told (the code path is the same for each)
    for name in a.env or (["MountainCarContinuous-v0"] if a.smoke else list(TASKS)):
        start = time.perf_counter()
        envs[name] = bench_env(TASKS[name], work, sizes)
        envs[name]["minutes"]["total"] = round((time.perf_counter() - start) / 60, 2)
    metrics: dict[str, float] = {}
    for name, e in envs.items():
        key = name.split("-")[0].lower()
        for row in ("model", "oracle", "random"):
            if row in e:
                prefix = "" if row == "model" else f"{row}_"
                metrics[f"{prefix}success_{key}"] = e[row]["success_rate"]
        if e.get("oracle", {}).get("success_rate"):
            metrics[f"success_ratio_{key}"] = (
                e["model"]["success_rate"] / e["oracle"]["success_rate"]
            )
    metrics["minutes_total"] = round(sum(e["minutes"]["total"] for e in envs.values()), 1)
    notes = (
        f"{sizes.preset} preset {' '.join(sizes.overrides)}; random-action data (seed 0), "
        f"64 x 64 letterboxed renders; {sizes.plan_episodes} episodes of each env's manifest "
        "(seed 0; success settings chosen on a seed-1 validation manifest, see the script's "
        "docstring), planner cem at its default budget "
        f"{' '.join(sizes.planner)}, horizon 5 blocks. success_ratio_<env> = model / oracle. "
        "minutes_total: the envs' collect + train + plan minutes (a reused run counts 0 "
        "training minutes; each env's own minutes are in envs)."
    )
    if a.smoke:
        notes = "SMOKE RUN (tiny sizes; not a result). " + notes
    write_result("gym", metrics, notes, {"envs": envs}, out=out)


if __name__ == "__main__":
    main()
