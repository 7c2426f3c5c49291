"""Command options: one frozen dataclass per command, the single home of its settings.

Each field carries its default, its help text and its rule; :func:`check` (run by every
options object on construction) applies the rules, and :func:`add_arguments` builds the
command's argparse flags from the same fields, so a default is written once and the CLI
cannot forget an option. The training and evaluation settings of a model live in
:mod:`physjepa.config`; these are the settings of a command run.

This module imports nothing heavy (no torch, numpy or h5py): ``physjepa --help`` and every
one-line error stay fast.
"""

from __future__ import annotations

import argparse
import json
import os
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from physjepa.errors import CheckpointError, DataError, UserError

#: A rule: value -> None when valid, else what was expected (e.g. "an integer >= 1"); a rule
#: that checks the file system raises its own one-line error instead.
Rule = Callable[[Any], str | None]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def at_least(lo: int) -> Rule:
    return lambda v: None if _int(v) and v >= lo else f"an integer >= {lo}"


def int_in(lo: int, hi: int) -> Rule:
    return lambda v: None if _int(v) and lo <= v <= hi else f"an integer in [{lo}, {hi}]"


def positive(v: Any) -> str | None:
    return None if _num(v) and v > 0 else "a number > 0"


def finite(v: Any) -> str | None:
    return None if _num(v) and v == v and abs(v) != float("inf") else "a finite number"


def rate(v: Any) -> str | None:
    return None if _num(v) and 0.0 < v < 1.0 else "a rate in (0, 1), e.g. 0.01"


def one_of(*choices: str) -> Rule:
    return lambda v: None if v in choices else "one of " + ", ".join(choices)


def comma_list_of(*choices: str, empty: bool = True) -> Rule:
    def rule(v: Any) -> str | None:
        items = names(v)
        ok = all(x in choices for x in items) and (empty or items)
        return None if ok else "a comma list of " + ", ".join(choices)

    return rule


def device(v: Any) -> str | None:
    ok = isinstance(v, str) and (
        v in ("auto", "cpu", "cuda", "mps") or (v.startswith("cuda:") and v[5:].isdigit())
    )
    return None if ok else "auto, cpu, cuda, cuda:N or mps"


def name_value(v: Any) -> str | None:
    bad = [x for x in v if "=" not in x or not x.split("=", 1)[0]]
    return None if not bad else f"NAME=VALUE items, e.g. samples=64 (got {bad[0]!r})"


def data_file(v: Any) -> None:
    """An episode file that exists (checked before anything heavy is imported)."""
    if not os.path.exists(v):
        raise DataError(
            f"data file {v} not found; create one with 'physjepa collect --out {v} ...'"
        )
    if os.path.isdir(v):
        raise DataError(f"{v} is a directory; pass an episode file (.h5)")


def run_dir(v: Any) -> None:
    """A run directory (one with config.json), e.g. from 'physjepa train --out RUN'."""
    if not os.path.isfile(os.path.join(v, "config.json")):
        raise CheckpointError(
            f"{v} is not a run directory (no config.json); train one with "
            f"'physjepa train --out {v} ...'"
        )


def opt(
    default: Any = MISSING,
    help: str = "",
    rule: Rule | None = None,
    flag: str | None = None,
    positional: bool = False,
    nargs: str | None = None,
    metavar: str | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A field of an options dataclass: its default, help, rule and CLI spelling.

    ``flag`` overrides ``--field-name``; ``positional`` makes it an argument; a ``tuple``
    field is a repeatable flag (or, positional, ``nargs``)."""
    meta = {"help": help, "rule": rule, "flag": flag, "positional": positional, "nargs": nargs}
    meta["metavar"] = metavar
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def flag_of(f: Any) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _type_ok(v: Any, hint: Any) -> bool:
    args = typing.get_args(hint)
    if type(None) in args:
        if v is None:
            return True
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        return isinstance(v, bool)
    if hint is int:
        return _int(v)
    if hint is float:
        return _num(v)
    if hint is str:
        return isinstance(v, str)
    if typing.get_origin(hint) is tuple:
        return isinstance(v, tuple) and all(isinstance(x, str) for x in v)
    return True


def check(opts: Any) -> None:
    """Apply every field's type and rule; the first bad value is one :class:`UserError`
    naming the flag, the value and what is expected."""
    hints = typing.get_type_hints(type(opts))
    for f in fields(opts):
        v = getattr(opts, f.name)
        name = f.name if f.metadata.get("positional") else flag_of(f)
        if not _type_ok(v, hints[f.name]):
            raise UserError(f"{name}={v!r} has the wrong type: expected {hints[f.name]}")
        rule = f.metadata.get("rule")
        if rule is None or v is None:
            continue
        expected = rule(v)
        if expected:
            raise UserError(f"{name}={v!r} is invalid: expected {expected}")


class Options:
    """Base of the options dataclasses: validated on construction."""

    def __post_init__(self) -> None:
        check(self)

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> Options:
        """The options of a parsed command line (argparse fills every field)."""
        return cls(**{f.name: _from_cli(getattr(ns, f.name)) for f in fields(cls)})


def _from_cli(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """argparse flags for every field of the options dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        hint, meta = hints[f.name], f.metadata
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        default = f.default if f.default is not MISSING else None
        if f.default_factory is not MISSING:
            default = f.default_factory()
        kw: dict[str, Any] = {"help": meta.get("help") or None}
        if meta.get("metavar"):
            kw["metavar"] = meta["metavar"]
        inner = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
        if meta.get("positional"):
            if typing.get_origin(hint) is tuple:
                kw["nargs"] = meta.get("nargs") or "*"
            elif has_default:
                kw["nargs"] = "?"
                kw["default"] = default
            if inner in (int, float):
                kw["type"] = inner
            parser.add_argument(f.name, **kw)
            continue
        flag = flag_of(f)
        if hint is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", **kw)
            continue
        if typing.get_origin(hint) is tuple:
            parser.add_argument(flag, dest=f.name, action="append", default=[], **kw)
            continue
        if inner in (int, float):
            kw["type"] = inner
        if not has_default:
            kw["required"] = True
        else:
            kw["default"] = default
            if default is not None and kw["help"] and "default" not in kw["help"]:
                kw["help"] += f" (default {default})"
        parser.add_argument(flag, dest=f.name, **kw)


def names(text: str | None) -> list[str]:
    """A comma list as its non-empty, stripped items."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def params(items: tuple[str, ...]) -> dict[str, Any]:
    """NAME=VALUE items -> {name: JSON value, or the text when it is not JSON}."""
    out = {}
    for item in items:
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


# -- the commands ------------------------------------------------------------------------------
DEVICE_HELP = "cpu (default: the published numbers), cuda, cuda:N, mps or auto (the best there is)"


@dataclass(frozen=True)
class CollectOptions(Options):
    world: str = opt(help="world name (see 'physjepa worlds'), or gym:<env id>")
    out: str = opt(help="episode file to write (.h5)")
    episodes: int = opt(300, "episodes to collect", at_least(1))
    steps: int | None = opt(None, "steps per episode (default: the world's)", at_least(1))
    policy: str = opt(
        "random",
        "collection policy: random, zero, scripted (a noisy expert; worlds with a task)",
        one_of("random", "zero", "scripted"),
    )
    seed: int = opt(0, "seed of the first episode; each episode is seeded from it", at_least(0))
    image_size: int = opt(64, "frame size in pixels", int_in(8, 1024))
    workers: int = opt(
        help="processes collecting in parallel (the file is the same for any number)",
        rule=at_least(1),
        factory=lambda: min(2, os.cpu_count() or 1),
    )
    param: tuple[str, ...] = opt(
        (), "world param, e.g. gravity=500 (JSON values; repeat the flag)", name_value,
        metavar="NAME=VALUE",
    )  # fmt: skip
    gym_import: str | None = opt(
        None,
        "with --world gym:<id>: import this module first (where a third-party env registers)",
        metavar="MODULE",
    )
    frame: str | None = opt(
        None,
        "with --world gym:<id>: 'pad' keeps the whole render, letterboxed to a square (the "
        "default), 'crop' its centre square; recorded with the data",
        one_of("pad", "crop"),
    )
    overwrite: bool = opt(False, "replace an existing file")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gym_import and not self.world.startswith("gym:"):
            raise UserError("--gym-import applies to --world gym:<env id>")
        if self.frame and not self.world.startswith("gym:"):
            raise UserError(
                "--frame applies to --world gym:<env id> (the built-in worlds render square)"
            )


@dataclass(frozen=True)
class ImportTableOptions(Options):
    src: str = opt(help="table to read (.csv with a header row, .parquet or .pq)", positional=True)
    out: str = opt(help="episode file to write (.h5)")
    obs: str = opt(help="comma list of the observed columns (become 'sensors')")
    action: str = opt("", "comma list of the action columns (default: none, zeros)")
    episode: str | None = opt(None, "column of episode ids (default: one episode)")
    time: str | None = opt(None, "column of times in seconds (sets fps)")
    state: str = opt(
        "", "comma list of ground-truth columns that 'physjepa eval' probes for (may repeat --obs)"
    )
    fps: float | None = opt(None, "steps per second (default: from --time)", positive)
    overwrite: bool = opt(False, "replace an existing --out file")


@dataclass(frozen=True)
class ConvertOptions(Options):
    src: str = opt(
        help="LeRobot dataset directory (meta/info.json), folder of videos, .npz file or "
        "folder, or .h5 file",
        positional=True,
    )
    to: str = opt(help="episode file to write (.h5)")
    overwrite: bool = opt(False, "replace an existing --to file")
    camera: str | None = opt(
        None, "LeRobot: the camera to import (full name, or top for observation.images.top)"
    )
    state: str | None = opt(None, "LeRobot: comma list of state columns")
    action: str | None = opt(None, "LeRobot: comma list of action columns")
    size: int | None = opt(
        None, "videos and LeRobot: frame size in pixels (default 64)", int_in(8, 1024)
    )
    actions_dir: str | None = opt(
        None, "videos: folder of <video stem>.csv action files (default: beside each video)"
    )


@dataclass(frozen=True)
class PathOptions(Options):
    path: str = opt(help="episode file (.h5)", positional=True)


@dataclass(frozen=True)
class NoOptions(Options):
    pass


@dataclass(frozen=True)
class TrainOptions(Options):
    out: str = opt(help="run directory")
    data: str | None = opt(None, "episode file (not needed with --resume)", data_file)
    preset: str = opt("laptop", "debug, laptop or gpu")
    resume: bool = opt(False, "continue the run in --out (on its own data)")
    overwrite: bool = opt(False, "replace a run already in --out")
    quiet: bool = opt(False, "no progress bar")
    overrides: tuple[str, ...] = opt(
        (), "config overrides, e.g. model.dim=256 train.steps=500", positional=True,
        metavar="section.key=value",
    )  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.resume and not self.data:
            raise UserError("--data is required (an episode file from 'physjepa collect')")


@dataclass(frozen=True)
class EvalOptions(Options):
    run: str = opt(help="run directory", rule=run_dir, positional=True)
    data: str | None = opt(
        None, "episode file of the run's world (default: the run's own)", data_file
    )
    no_viewer: bool = opt(False, "skip the decoded-rollout strip")
    param_probe: bool = opt(
        False,
        "also probe the hidden params a ball-drop run's data varies (gravity, restitution, "
        "friction, mass) from the predictor's context over 8- and 16-frame windows that "
        "show them (a flight, a bounce, a slide, a push)",
    )
    device: str = opt("cpu", DEVICE_HELP, device)


@dataclass(frozen=True)
class ForecastOptions(Options):
    run: str = opt(
        help="run directory of a model trained on beam episodes", rule=run_dir, positional=True
    )
    data: str | None = opt(
        None, "held-out episode file (default: the run's validation episodes)", data_file
    )
    horizon: int = opt(20, "K, model steps ahead", int_in(1, 200))
    far: float = opt(0.01, "false-alarm rate for the lead time", rate)
    calibrate: str | None = opt(
        None,
        "episode file (same world, not trained on) to set the alarm threshold on (default: "
        "cross-fitted over the held-out episodes)",
        data_file,
    )
    device: str = opt("cpu", DEVICE_HELP, device)


@dataclass(frozen=True)
class MonitorOptions(Options):
    run: str = opt(help="run directory", rule=run_dir, positional=True)
    source: str | None = opt(
        None,
        "CSV file, '-' for stdin, a directory of frames, a video (.mp4 ...), or an .h5 "
        "episode file",
    )
    far: float = opt(0.01, "false alarms per step on normal data", rate)
    threshold: float | None = opt(None, "alarm threshold (skips calibration's choice)", finite)
    calibrate: str | None = opt(
        None, "episode file of normal data (default: the run's validation episodes)", data_file
    )
    actions: str | None = opt(
        None, "actions for a frame directory or a video (.csv or .npy, one row per frame)"
    )
    follow: bool = opt(False, "keep reading a growing CSV file")
    idle_exit: float | None = opt(
        None, "with --follow: stop after this many seconds without a new row", positive
    )
    cooldown: int = opt(10, "steps between repeated alerts", at_least(1))
    channel_check: bool = opt(
        False,
        "require the per-channel check (on by default for sensor runs: also alarm on one "
        "channel off on its own, drifting away from what the other channels imply or frozen, "
        "named in the alert); an error where it cannot run",
    )
    no_channel_check: bool = opt(False, "score the latent surprise alone (sensor runs)")
    out: str | None = opt(None, "append alerts to this JSONL file (default: stdout)")
    save: bool = opt(
        False,
        "when the stream ends, also write RUN/monitor.json (the alerts and the surprise "
        "trace, bounded in size) for 'physjepa report'",
    )
    threads: int = opt(1, "CPU threads (1: one core)", at_least(1))
    columns: bool = opt(False, "print the CSV columns the run expects and exit")
    device: str = opt("cpu", DEVICE_HELP, device)


@dataclass(frozen=True)
class PlanOptions(Options):
    run: str = opt(help="run directory", rule=run_dir, positional=True)
    episodes: int = opt(50, "manifest episodes to run", at_least(1))
    seed: int = opt(0, "seed of the planner's sampler", at_least(0))
    planner: str = opt("cem", "cem, mppi or gd (checked by the planner registry)")
    set: tuple[str, ...] = opt(
        (), "planner setting, e.g. samples=128 (see the planner's docstring)", name_value,
        metavar="NAME=VALUE",
    )  # fmt: skip
    horizon: int = opt(5, "planned action blocks", at_least(1))
    execute: int = opt(1, "blocks executed before re-planning", at_least(1))
    objective: str = opt(
        "sum", "latent cost on the 'last' or the 'sum' of the steps", one_of("sum", "last")
    )
    baselines: str = opt(
        "oracle,random",
        "comma list of oracle (true simulator), random; '' for none",
        comma_list_of("oracle", "random"),
    )
    gifs: int = opt(3, "episodes saved as GIFs for the report", at_least(0))
    world: str | None = opt(
        None,
        "the run's world (checked), or gym:<env id> to plan a model trained on imported data "
        "in that env (its frames, actions and fps must match the data's)",
    )
    param: tuple[str, ...] = opt(
        (), "world param, e.g. success_radius=0.05 (JSON values; repeat the flag)", name_value,
        metavar="NAME=VALUE",
    )  # fmt: skip
    gym_import: str | None = opt(
        None,
        "with a gym:<id> world: import this module first (where a third-party env registers)",
        metavar="MODULE",
    )
    device: str = opt("cpu", DEVICE_HELP, device)
    compile: bool = opt(
        False,
        "torch.compile the latent rollout (planning shapes are fixed: it compiles once per "
        "context length at the first episode's start)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.execute > self.horizon:
            raise UserError(
                f"--execute={self.execute} must be at most --horizon={self.horizon} (blocks)"
            )


@dataclass(frozen=True)
class RunOptions(Options):
    run: str = opt(help="run directory", rule=run_dir, positional=True)


@dataclass(frozen=True)
class CompareOptions(Options):
    runs: tuple[str, ...] = opt(help="two or more run directories", positional=True, nargs="+")
    out: str = opt("compare.html", "page to write")

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.runs) < 2:
            raise UserError("compare needs at least two run directories")


#: The VoE properties, in table order (the generator, data/voe_pairs.py, uses this tuple).
VOE_PROPERTIES = (
    "permanence", "continuity", "shape", "solidity", "gravity", "inertia", "collision", "colour",
)  # fmt: skip


@dataclass(frozen=True)
class VoeOptions(Options):
    run: str = opt(
        help="run directory of a model trained on ball-drop pixels", rule=run_dir, positional=True
    )
    pairs_file: str | None = opt(
        None,
        "pairs from 'physjepa voe generate' (default: generated into RUN/voe_pairs.h5 with "
        "the run's world params)",
    )
    pairs: int = opt(50, "pairs per property and split", int_in(1, 500))
    steps: int = opt(40, "frames per video", at_least(1))
    seed: int = opt(0, "seed of the pairs", at_least(0))
    untrained: int = opt(5, "random inits of the untrained baseline", at_least(1))
    pixel_steps: int = opt(1500, "training steps, pixel baseline", at_least(1))
    oracle_steps: int = opt(2000, "training steps, state oracle", at_least(1))
    context: int | None = opt(None, "context frames (default: the model's history)", at_least(1))
    horizon: int | None = opt(
        None, "steps ahead each surprise predicts (default: the model's data.rollout)",
        int_in(1, 32),
    )  # fmt: skip
    window: int | None = opt(
        None,
        "steps from the breaking point whose surprise is averaged (default: context + horizon)",
        at_least(1),
    )
    score: str = opt(
        "relative",
        "'relative': each step's latent error divided by how far the latent moved over the "
        "same steps (plus --floor, to the --power); 'plain': the latent error alone (the "
        "suite before 2026-12-06)",
        one_of("relative", "plain"),
    )
    floor: float = opt(
        0.03,
        "relative score: added to the move, as a share of the median move over the run's "
        "training episodes (chosen on validation pairs)",
        lambda v: positive(v) or finite(v),
    )
    power: float = opt(
        0.75,
        "relative score: the exponent of (move + floor), in (0, 1]; 1 = the error per unit "
        "of move (chosen on validation pairs, a shifted split among them)",
        lambda v: None if _num(v) and 0 < v <= 1 else "a number in (0, 1]",
    )
    no_probes: bool = opt(False, "skip the probes")
    device: str = opt("cpu", DEVICE_HELP, device)


@dataclass(frozen=True)
class VoeGenerateOptions(Options):
    out: str = opt(help="pairs file to write (.h5)")
    world: str = opt("ball-drop", "the world of the videos (only ball-drop has VoE events)")
    pairs: int = opt(50, "pairs per property and split", int_in(1, 500))
    steps: int = opt(40, "frames per video", at_least(1))
    seed: int = opt(0, "seed of the pairs", at_least(0))
    properties: str = opt(
        ",".join(VOE_PROPERTIES),
        "comma list of " + ", ".join(VOE_PROPERTIES),
        comma_list_of(*VOE_PROPERTIES, empty=False),
    )
    splits: str = opt("id,ood", "comma list of id, ood", comma_list_of("id", "ood", empty=False))
    param: tuple[str, ...] = opt(
        (),
        "ball-drop param of the in-distribution split (JSON values); default: the VoE setting "
        "(occluder and varied physics)",
        name_value,
        metavar="NAME=VALUE",
    )
    image_size: int = opt(64, "frame size in pixels", int_in(8, 1024))
    overwrite: bool = opt(False, "replace an existing file")


@dataclass(frozen=True)
class DemoOptions(Options):
    out: str = opt("runs/demo", "run directory (the demo replaces only its own run)")
    data: str = opt("data/ball.h5", "episode file (reused when it is the demo's own)")
    episodes: int = opt(300, "ball-drop episodes to collect", at_least(2))
    preset: str = opt("laptop", "debug, laptop or gpu")
    overrides: tuple[str, ...] = opt(
        (), "config overrides, e.g. train.steps=500", positional=True,
        metavar="section.key=value",
    )  # fmt: skip
