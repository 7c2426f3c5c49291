"""Every fenced block of README.md runs here.

Shell blocks: each command (comments dropped, ``\\`` continuations joined) runs for real, in a
real subprocess (the installed console script, ``torchrun``, ``make -n`` to read a make
target's recipe), in one temporary workspace. A command that would take minutes runs scaled
down, and ``SCALED`` below states how: README command -> the changes (only sizes, the preset,
and the stand-ins one CPU machine needs for a cluster) and why. ``scale`` applies exactly
those changes to the README's own tokens, so a changed README line changes what runs, and a
README command with no entry fails. Two commands are checked, not run, and say so in their
entry: ``pip install 'physjepa[gym]'`` (needs the network: the extra is declared and what it
names is installed) and ``make bench``'s ``python benchmarks/core.py`` (test_benchmarks.py runs
it with ``--smoke``). The blocks run two at a time (each command on one thread), a block after
the blocks that make the files it names. Every ``physjepa <command> --flag`` of the README
(fenced or inline) is checked against ``physjepa.cli.parser()``.

Python blocks run as written (``exec``, one namespace in README order, as in one session, cwd
the workspace), after the shell blocks made the runs they name (``runs/demo``, ``runs/tr``).

Inputs the README assumes the reader has (a CSV log, a LeRobot dataset, a beam run, two runs to
compare, a package registering a Gymnasium env, a shared disk) are made by ``workspace`` with
the library, before any command runs; nothing of ours is mocked.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
TIMEOUT = 600

# -- the README, parsed --------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    index: int
    lang: str
    line: int  # 1-based line of the opening fence
    text: str

    @property
    def kind(self) -> str:
        if self.lang == "python":
            return "python"
        if any(x.startswith("#SBATCH") for x in self.text.splitlines()):
            return "sbatch"
        return "shell"

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.kind}"


def readme_blocks(text: str | None = None) -> list[Block]:
    """The fenced code blocks of the README, in order."""
    lines = (README.read_text() if text is None else text).splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            blocks.append(Block(len(blocks), m.group(1), i + 1, "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    return blocks


def commands(text: str) -> list[list[str]]:
    """The commands of a shell block as token lists: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        tokens = shlex.split(line, comments=True)
        if tokens:
            out.append(tokens)
    return out


def key(tokens: list[str]) -> str:
    return shlex.join(tokens)


# -- the scaling ---------------------------------------------------------------------------------
# changes: "--flag": value sets a flag (replaces its value, or appends it); "section.key=": value
# sets a config override (replaces or appends); "+": tokens appended; "/old": "new" replaces that
# prefix of any token (paths); "$VAR": value expands a shell variable (sbatch).
SHARED = "shared"  # the two-machine lines' shared disk, a folder of the workspace here
DEBUG = {"--preset": "debug"}
VOE_SMALL = {"--pairs": "1", "--untrained": "1", "--pixel-steps": "5", "--oracle-steps": "5"}
NOT_RUN = "not run"
BENCHMARK = "benchmark"
#: Commands that run in a fresh folder of their own (make demo, as in a new clone).
FRESH = {"physjepa demo --out runs/demo --data data/ball.h5"}

SCALED: dict[str, tuple[dict, str]] = {
    # set-up (make targets: their recipes, read with `make -n`, run below)
    "ruff check .": ({}, "as written, in the checkout"),
    "ruff format --check .": ({}, "as written, in the checkout"),
    "python -m pytest -q": (
        {"+": ["--collect-only"]},
        "collect only: the suite cannot run itself; CI runs it as its own step",
    ),
    "physjepa demo --out runs/demo --data data/ball.h5": (
        {**DEBUG, "--episodes": "8"},
        "the debug preset and 8 episodes instead of laptop and 300 (minutes)",
    ),
    "python benchmarks/core.py": (
        {BENCHMARK: True},
        "tests/e2e/test_benchmarks.py runs it with --smoke (the same code path at tiny sizes; "
        "the full run takes 10 minutes); here: it is a script that test runs",
    ),
    # Commands
    "physjepa worlds": ({}, "as written"),
    "physjepa collect --world ball-drop --episodes 300 --policy random --seed 0 "
    "--out data/ball.h5": (
        {"--episodes": "8", "--steps": "40"},
        "8 episodes x 40 steps instead of 300 x 100",
    ),
    "physjepa inspect data/ball.h5": ({}, "as written"),
    "physjepa train --data data/ball.h5 --preset laptop --out runs/ball train.steps=500": (
        {**DEBUG, "train.steps=": "20"},
        "the debug preset, 20 steps",
    ),
    "physjepa train --out runs/ball --resume train.steps=2000": (
        {"train.steps=": "30"},
        "resumed to step 30 instead of 2000",
    ),
    "physjepa eval runs/ball": ({}, "as written"),
    "physjepa report runs/ball": ({}, "as written"),
    "physjepa demo": ({**DEBUG, "--episodes": "8"}, "the debug preset and 8 episodes"),
    "physjepa plan runs/tr --episodes 50 --seed 0": ({"--episodes": "1"}, "1 episode of 50"),
    "physjepa voe generate --out data/voe.h5 --pairs 50": ({"--pairs": "1"}, "1 pair of 50"),
    "physjepa voe runs/ball-voe": (
        VOE_SMALL,
        "1 pair per property and split, 1 untrained init, baselines trained 5 steps",
    ),
    "physjepa import-table log.csv --out data/log.h5 --obs g1,g2 --action u --episode run "
    "--time t": (
        {},
        "as written (log.csv: 2 runs x 40 rows, made by the test)",
    ),
    "physjepa forecast runs/beam": ({}, "as written (runs/beam: a debug beam run of the test)"),
    "physjepa monitor runs/beam --source line.csv": (
        {},
        "as written (line.csv: a 60-row beam stream made by the test)",
    ),
    "physjepa convert my_lerobot_dataset/ --to data/rob.h5 --camera top": (
        {},
        "as written (a 3-episode LeRobot v3 dataset made by the test)",
    ),
    "physjepa validate data/rob.h5": ({}, "as written"),
    "physjepa compare runs/a runs/b --out compare.html": (
        {},
        "as written (runs/a, runs/b: two debug runs of the test)",
    ),
    # VoE
    "physjepa collect --world ball-drop --out data/ball-voe.h5 --episodes 300 --steps 100 --param "
    '\'occluder=[0.6,0.45,0.82,0.67]\' --param \'vary={"gravity":[0.6,1.4],"restitution":[0.6,0.9],'
    '"radius":[0.06,0.08],"friction":[0.1,0.5],"mass":[0.5,2.0]}\'': (
        {"--episodes": "8", "--steps": "40"},
        "8 episodes x 40 steps instead of 300 x 100",
    ),
    "physjepa train --data data/ball-voe.h5 --out runs/ball-voe data.augment_dilate=1 "
    "loss.invariance_weight=0.1": (DEBUG, "the debug preset"),
    # planning world
    "physjepa collect --world two-room --episodes 300 --policy scripted --out data/two-room.h5": (
        {"--episodes": "8", "--steps": "30"},
        "8 episodes x 30 steps instead of 300 x 100",
    ),
    "physjepa train --data data/two-room.h5 --out runs/tr data.frameskip=5": (
        DEBUG,
        "the debug preset",
    ),
    "physjepa plan runs/tr": ({"--episodes": "1"}, "1 episode of 50"),
    # Gymnasium
    "pip install 'physjepa[gym]'": (
        {NOT_RUN: True},
        "not run (no network in CI): the extra exists in pyproject.toml and what it installs "
        "is installed here",
    ),
    "physjepa collect --world gym:Pendulum-v1 --episodes 300 --steps 100 --out data/pend.h5": (
        {"--episodes": "4", "--steps": "30"},
        "4 episodes x 30 steps",
    ),
    "physjepa train --data data/pend.h5 --out runs/pend": (DEBUG, "the debug preset"),
    "physjepa plan runs/pend --episodes 20 --param success_radius=0.2": (
        {"--episodes": "1"},
        "1 episode of 20",
    ),
    "physjepa collect --world gym:MyEnv-v0 --gym-import my_package.envs --out data/my.h5": (
        {"--episodes": "2", "--steps": "20"},
        "2 episodes x 20 steps (my_package.envs: a module of the test registering MyEnv-v0)",
    ),
    # many processes: one machine, 2 CPU processes
    "torchrun --standalone --nproc_per_node=4 -m physjepa train --data data/ball.h5 --preset gpu "
    "--out runs/big": (
        {"--nproc_per_node": "2", **DEBUG},
        "2 processes and the debug preset (one CPU machine)",
    ),
    "torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=node0:29500 "
    "--rdzv_id=ball42 -m physjepa train --data /shared/ball.h5 --preset gpu "
    "--out /shared/runs/big": (
        {
            "--nnodes": "1",
            "--nproc_per_node": "2",
            "--rdzv_endpoint": "localhost:{port}",
            "/shared/": f"{SHARED}/",
            **DEBUG,
        },
        "one node of 2 processes (the rendezvous on localhost at a free port), /shared a folder "
        "of the workspace, the debug preset",
    ),
    # the sbatch file's line: srun runs it once per node; here one node
    "srun torchrun '--nnodes=$SLURM_NNODES' --nproc_per_node=8 --rdzv_backend=c10d "
    "'--rdzv_endpoint=$head:29500' '--rdzv_id=$SLURM_JOB_ID' -m physjepa train --data "
    "/shared/ball.h5 --preset gpu --out /shared/runs/big": (
        {
            "srun": None,
            "$SLURM_NNODES": "1",
            "$SLURM_JOB_ID": "readme",
            "$head": "localhost",
            "--nproc_per_node": "2",
            "--rdzv_endpoint": "localhost:{port}",
            "/shared/": f"{SHARED}-sbatch/",
            **DEBUG,
        },
        "one node (srun's one task per node run directly; SLURM's variables for one node), "
        "2 processes, /shared a folder of the workspace, the debug preset",
    ),
    # Development
    "make test": ({}, "its recipe, below"),
    "make demo": ({}, "its recipe, below, in a fresh folder as a new clone would"),
    "make bench": ({}, "its recipe, below"),
    ".venv/bin/python -m pytest -m slow": (
        {"/.venv/bin/python": sys.executable, "+": ["--collect-only"]},
        "the venv's python wherever it is; collect only (they are slow by definition; none "
        "collected is what the line's 'when there are any' allows)",
    ),
}


def scale(tokens: list[str], changes: dict, ws: Path | None = None, port: int = 0) -> list[str]:
    """The README command with exactly ``changes`` applied (see ``SCALED``)."""
    fill = {"ws": str(ws or ""), "port": str(port)}
    out = list(tokens)
    if "srun" in changes and out[0] == "srun":
        out = out[1:]
    for k, v in changes.items():
        if k.startswith("$"):
            out = [t.replace(k, v) for t in out]
    for k, v in changes.items():
        if k.startswith("/"):
            out = [v + t[len(k) :] if t.startswith(k) else t for t in out]
            if k == "/.venv/bin/python":
                out = [v if t == ".venv/bin/python" else t for t in out]
    for k, v in changes.items():
        if not isinstance(v, str) or k.startswith(("$", "/")):
            continue
        v = v.format(**fill)
        if k.startswith("--"):
            for i, t in enumerate(out):
                if t.startswith(k + "="):
                    out[i] = f"{k}={v}"
                    break
                if t == k:
                    out[i + 1] = v
                    break
            else:
                at = out.index("physjepa") + 2 if "physjepa" in out else len(out)
                if out[at - 1] == "voe" and at < len(out) and out[at] == "generate":
                    at += 1
                out[at:at] = [k, v]
        elif k.endswith("="):
            hits = [i for i, t in enumerate(out) if t.startswith(k)]
            if hits:
                out[hits[0]] = k + v
            else:
                out.append(k + v)
    return out + [x.format(**fill) for x in changes.get("+", [])]


def make_recipe(target: str) -> list[list[str]]:
    """The commands ``make TARGET`` runs, as ``make -n`` prints them (set-up step skipped:
    this interpreter's environment is the set-up), with the venv's bin dir taken off."""
    proc = subprocess.run(
        ["make", "-s", "-n", "-o", ".venv/.installed", target, f"BIN={BIN}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out = []
    for tokens in commands(proc.stdout):
        if tokens[0].startswith(str(BIN) + "/"):
            tokens[0] = tokens[0][len(str(BIN)) + 1 :]
        out.append(tokens)
    return out


def expand(block: Block) -> list[tuple[str, list[str] | None]]:
    """(README command, the command it stands for) pairs of a block: make targets are their
    recipes; the sbatch file is its srun line (the other lines are checked with bash -n)."""
    text = block.text
    if block.kind == "sbatch":
        text = "\n".join(x for x in text.splitlines() if not x.startswith(("#", "head=")))
        text = re.sub(r"\\\n", " ", text)
    out = []
    for tokens in commands(text):
        if tokens[:1] == ["make"]:
            out.append((key(tokens), None))
            out += [(key(t), t) for t in make_recipe(tokens[1])]
        else:
            out.append((key(tokens), tokens))
    return out


def missing_entries(blocks: list[Block]) -> list[str]:
    return [k for b in blocks if b.kind != "python" for k, _ in expand(b) if k not in SCALED]


def readme_coverage() -> tuple[int, int]:
    """(blocks in the README, blocks this test runs: Python blocks, and shell blocks whose
    every command has an entry in ``SCALED``)."""
    blocks = readme_blocks()
    tested = sum(b.kind == "python" or not missing_entries([b]) for b in blocks)
    return len(blocks), tested


# -- the flags -------------------------------------------------------------------------------------


def physjepa_invocations(text: str) -> list[list[str]]:
    """Every ``physjepa <command> ...`` of the README, fenced or inline, as tokens."""
    spans = [b.text for b in readme_blocks(text)]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    inline = re.findall(r"`([^`]+)`", prose)  # paired in order, as Markdown pairs them
    spans += [s.replace("\n", " ") for s in inline if re.search(r"physjepa\s", s)]
    out = []
    for span in spans:
        for line in re.sub(r"\\\n", " ", span).splitlines():
            line = line.split(" #")[0]
            for m in re.finditer(r"(?:^|[\s(])physjepa\s+(.*)", line):
                out.append(m.group(1).split())
    return out


def test_every_readme_command_and_flag_exists():
    from physjepa.cli import parser

    top = parser()
    sub = next(a for a in top._actions if a.dest == "command")
    checked = 0
    for args in physjepa_invocations(README.read_text()):
        name = args[0]
        if name == "...":  # prose about commands in general
            continue
        if name.startswith("-"):  # physjepa --help
            assert name in {f for a in top._actions for f in a.option_strings}, name
            continue
        if name == "voe" and args[1:2] == ["generate"]:
            name = "voe-generate"
        assert name in sub.choices, f"README: 'physjepa {' '.join(args)}': no command {name!r}"
        flags = {f for a in sub.choices[name]._actions for f in a.option_strings}
        for token in args[1:]:
            flag = re.match(r"\[?(--[a-z][a-z0-9-]*)", token)
            if flag:
                assert flag.group(1) in flags, (
                    f"README: 'physjepa {' '.join(args)}': {name} has no {flag.group(1)}"
                )
        checked += 1
    assert checked >= 40  # the Commands block alone has 17


def test_every_repo_path_the_readme_names_exists():
    """`src/...`, `benchmarks/...`, `tests/...`, `docs/...` in code spans and links (results
    files excepted: a benchmark's first run writes its own)."""
    text = README.read_text()
    paths = re.findall(r"[`(]((?:src|benchmarks|tests|docs)/[^`)\s]*)[`)]", text)
    assert len(paths) >= 10
    missing = [
        p
        for p in paths
        if "<" not in p and not p.startswith("benchmarks/results/") and not (ROOT / p).exists()
    ]
    assert not missing, f"README names paths that do not exist: {missing}"


def test_every_readme_command_has_an_entry_and_every_entry_a_command():
    blocks = readme_blocks()
    assert not missing_entries(blocks), (
        "README commands without an entry in SCALED (say how the test runs them): "
        f"{missing_entries(blocks)}"
    )
    used = {k for b in blocks if b.kind != "python" for k, _ in expand(b)}
    assert not set(SCALED) - used, f"SCALED entries no README command has: {set(SCALED) - used}"
    total, tested = readme_coverage()
    assert tested == total


def test_scale_changes_only_what_it_names():
    readme = shlex.split("physjepa collect --world ball-drop --episodes 300 --out d.h5")
    got = scale(readme, {"--episodes": "8", "--steps": "40"})
    assert got[:7] == ["physjepa", "collect", "--steps", "40", "--world", "ball-drop", "--episodes"]
    assert got[7:] == ["8", "--out", "d.h5"]
    assert scale(["physjepa", "train", "x.y=1", "train.steps=5"], {"train.steps=": "2"}) == [
        "physjepa", "train", "x.y=1", "train.steps=2",
    ]  # fmt: skip
    assert scale(["t", "--nnodes=2", "/shared/a"], {"--nnodes": "1", "/shared/": "s/"}) == [
        "t", "--nnodes=1", "s/a",
    ]  # fmt: skip


# -- the workspace -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _lerobot(root: Path) -> None:
    """A small LeRobot v3 dataset (the one tests/unit/test_lerobot.py builds)."""
    spec = importlib.util.spec_from_file_location("_lerobot", ROOT / "tests/unit/test_lerobot.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.build_dataset(root)


MY_PACKAGE = '''"""A third-party package that registers a Gymnasium env when imported."""
import gymnasium as gym

gym.register("MyEnv-v0", entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv",
             max_episode_steps=200)
'''


class Workspace:
    """One temp dir where the README's commands run, with the inputs the README assumes."""

    def __init__(self, path: Path, debug_run: Path):
        import numpy as np

        from physjepa.config import load_preset
        from physjepa.data.collect import collect
        from physjepa.runs import Run
        from physjepa.training.loop import train
        from physjepa.worlds import make

        self.path = path
        for name in ("a", "b"):  # two runs to compare
            shutil.copytree(debug_run, path / "runs" / name)
        # a beam run on sensors (forecast, monitor) and a stream for it
        collect("beam", path / "data/beam.h5", 16, steps=60, policy="scripted", seed=0)
        cfg = load_preset("debug", ["model.encoder=mlp", "train.steps=60"])
        train(cfg, path / "data/beam.h5", path / "runs/beam", progress=False)
        run = Run.open(path / "runs/beam")
        world, rng = make("beam"), np.random.default_rng(0)
        world.reset(seed=123)
        rows = [",".join([*run.data.obs_names, *run.data.action_names])]
        for _ in range(60):
            a = world.scripted_action(rng)
            rows.append(",".join(f"{v:.7g}" for v in [*world.sensors(), *a]))
            world.step(a)
        (path / "line.csv").write_text("\n".join(rows) + "\n")
        # a sensor log: 2 runs x 40 rows
        t = np.arange(40) * 0.1
        log = ["run,t,g1,g2,u"] + [
            f"{r},{x:.1f},{np.sin(x + r):.5f},{np.cos(2 * x):.5f},{np.sin(3 * x):.5f}"
            for r in (0, 1)
            for x in t
        ]
        (path / "log.csv").write_text("\n".join(log) + "\n")
        _lerobot(path / "my_lerobot_dataset")
        (path / "my_package").mkdir()
        (path / "my_package/__init__.py").write_text("")
        (path / "my_package/envs.py").write_text(MY_PACKAGE)
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(
                [str(path), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
        self.done: dict[str, str] = {}  # scaled command -> its output (run once each)
        self._locks: dict[str, threading.Lock] = {}

    def run_command(self, readme: str, tokens: list[str], block: Block) -> str:
        changes, _why = SCALED[readme]
        if changes.get(NOT_RUN):
            return check_pip_extra(tokens)
        if changes.get(BENCHMARK):
            return check_benchmark(tokens)
        if tokens[:1] == ["make"]:
            return "recipe"
        if "/shared/" in changes:  # the shared disk holds the data file
            shared = self.path / changes["/shared/"]
            shared.mkdir(exist_ok=True)
            if not (shared / "ball.h5").exists():
                shutil.copy(self.path / "data/ball.h5", shared / "ball.h5")
        argv = scale(tokens, changes, self.path, _free_port())
        if argv[0] == "python":
            argv[0] = sys.executable
        cwd = self.path
        if argv[0] in ("ruff", sys.executable):
            cwd = ROOT  # commands about the checkout itself (ruff, pytest, benchmarks/)
        if readme in FRESH:
            cwd = self.path / "fresh-clone"  # make demo, as in a new clone
            cwd.mkdir(exist_ok=True)
        done_key = f"{cwd} {key(argv)}"
        with self._locks.setdefault(done_key, threading.Lock()):
            if done_key in self.done:  # the same line twice in the README (e.g. `make test`)
                return self.done[done_key]
            return self._run(readme, argv, cwd, block, done_key)

    def _run(self, readme: str, argv: list[str], cwd: Path, block: Block, done_key: str) -> str:
        proc = subprocess.run(
            argv, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=TIMEOUT
        )
        ok = proc.returncode == 0 or (
            "-m" in argv and "slow" in argv and proc.returncode == 5  # no slow tests today
        )
        assert ok, (
            f"README line {block.line}+: {readme}\nran: {key(argv)} in {cwd}\n"
            f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        self.done[done_key] = proc.stdout
        return proc.stdout

    def _run_block(self, block: Block) -> list[tuple[str, str]]:
        if block.kind == "sbatch":
            script = self.path / "train.sbatch"
            script.write_text(block.text + "\n")
            subprocess.run(["bash", "-n", str(script)], check=True)
        pairs = [(r, t if t is not None else shlex.split(r)) for r, t in expand(block)]
        return [(readme, self.run_command(readme, tokens, block)) for readme, tokens in pairs]

    def run_all(self, blocks: list[Block], lanes: int = 2) -> None:
        """Run the shell blocks, ``lanes`` at a time (each command on one thread), a block
        only after the blocks that make the files it names."""
        deps = {b.index: dependencies(b, blocks) for b in blocks}
        order: list[Block] = []
        while len(order) < len(blocks):  # dependencies first, then README order
            ready = [
                b for b in blocks if b not in order and all(d in {o.index for o in order}
                                                            for d in deps[b.index])
            ]  # fmt: skip
            assert ready, f"README blocks depend on each other in a circle: {deps}"
            order.append(ready[0])
        futures: dict[int, Future] = {}

        def task(b: Block) -> list[tuple[str, str]]:
            for d in deps[b.index]:
                futures[d].result()  # submitted earlier: running or done
            return self._run_block(b)

        with ThreadPoolExecutor(lanes) as pool:
            for b in order:
                futures[b.index] = pool.submit(task, b)
        self.futures = futures

    def result(self, block: Block) -> list[tuple[str, str]]:
        return self.futures[block.index].result()


def dependencies(block: Block, blocks: list[Block]) -> list[int]:
    """The other shell blocks that make a file this block names (their --out / --to)."""
    mine = set(commands_tokens(block))
    return [
        other.index
        for other in blocks
        if other.index != block.index and (outputs(other) - outputs(block)) & mine
    ]


def commands_tokens(block: Block) -> list[str]:
    """The tokens of the commands a block runs in the workspace itself."""
    return [t for readme, tokens in expand(block) if tokens and readme not in FRESH for t in tokens]


def outputs(block: Block) -> set[str]:
    toks = commands_tokens(block)
    return {toks[i + 1] for i, t in enumerate(toks[:-1]) if t in ("--out", "--to")}


def check_benchmark(tokens: list[str]) -> str:
    """``python benchmarks/X.py``: a script that tests/e2e/test_benchmarks.py runs with
    ``--smoke`` (so it runs once in the suite, not twice)."""
    spec = importlib.util.spec_from_file_location("_bench", ROOT / "tests/e2e/test_benchmarks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert tokens[0] == "python" and len(tokens) == 2, tokens
    assert (ROOT / tokens[1]) in mod.with_smoke(), f"{tokens[1]} has no --smoke to run"
    return "benchmark"


def check_pip_extra(tokens: list[str]) -> str:
    """``pip install 'physjepa[EXTRA]'``: the extra is declared, and what it names is
    installed in this environment (the install itself needs the network)."""
    from importlib.metadata import version

    m = re.fullmatch(r"physjepa\[(\w+)\]", tokens[-1])
    assert m, tokens
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = extras["optional-dependencies"].get(m.group(1))
    assert reqs, f"pyproject.toml has no extra {m.group(1)!r}"
    for req in reqs:
        name = re.match(r"[A-Za-z0-9_.-]+", req).group(0)
        assert version(name), name
    return "resolved"


SHELL = [b for b in readme_blocks() if b.kind != "python"]
PYTHON = [b for b in readme_blocks() if b.kind == "python"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, debug_run) -> Workspace:
    """The workspace after every shell block ran (each block's outcome kept for its test)."""
    ws = Workspace(tmp_path_factory.mktemp("readme"), debug_run)
    ws.run_all([b for b in SHELL if not missing_entries([b])])
    return ws


@pytest.mark.parametrize("block", SHELL, ids=[b.id for b in SHELL])
def test_shell_block(workspace, block):
    assert not missing_entries([block]), missing_entries([block])
    results = workspace.result(block)
    assert len(results) == len(expand(block))


def test_shell_blocks_made_what_they_say(workspace):
    """A few outputs the README promises, after its shell blocks ran."""
    for b in SHELL:
        workspace.result(b)
    ws = workspace.path
    for path in (
        "data/ball.h5", "runs/ball/eval.json", "runs/ball/report.html", "runs/demo/report.html",
        "runs/tr/plan.json", "runs/ball-voe/voe.json", "data/voe.h5", "data/log.h5",
        "runs/beam/forecast.json", "data/rob.h5", "compare.html", "runs/pend/plan.json",
        "data/my.h5", "runs/big/model.safetensors", f"{SHARED}/runs/big/model.safetensors",
        f"{SHARED}-sbatch/runs/big/model.safetensors", "fresh-clone/runs/demo/report.html",
    ):  # fmt: skip
        assert (ws / path).is_file(), path
    from physjepa.runs import Run

    assert Run.open(ws / "runs/big").config.data.history >= 1


@pytest.mark.parametrize("block", PYTHON, ids=[b.id for b in PYTHON])
def test_python_block(workspace, block, monkeypatch):
    for b in SHELL:  # the runs the blocks name
        workspace.result(b)
    monkeypatch.chdir(workspace.path)
    ns = workspace.__dict__.setdefault("python_namespace", {"__name__": "__readme__"})
    for earlier in PYTHON[: PYTHON.index(block)]:  # one session: earlier blocks ran first
        if earlier.index not in workspace.__dict__.setdefault("python_done", set()):
            exec(compile(earlier.text, f"README.md:{earlier.line}", "exec"), ns)
            workspace.python_done.add(earlier.index)
    if block.index not in workspace.__dict__.setdefault("python_done", set()):
        exec(compile(block.text, f"README.md:{block.line}", "exec"), ns)
        workspace.python_done.add(block.index)
    for name, check in PYTHON_CHECKS.items():  # what the block's comments promise
        if re.search(rf"^{name} = |^{name}, |^for {name} in ", block.text, re.M):
            assert check(ns[name]), name


PYTHON_CHECKS = {
    "z": lambda z: tuple(z.shape[:2]) == (1, 3),  # (B, T, D)
    "z_next": lambda z: z.dim() == 2 and z.shape[0] == 1,  # (B, D)
    "futures": lambda f: tuple(f.shape[:3]) == (1, 8, 5),  # (B, S, T, D)
    "t": lambda t: 0 <= t < 50,  # the control loop ran
}
