"""Running the command line in tests: in this process through ``physjepa.cli.main`` (the
default: a subprocess spends seconds importing torch), or as a real ``python -m physjepa``
subprocess where the process itself is under test (stdin, signals, a fresh interpreter).

Both return a :class:`Result` with ``returncode``, ``stdout`` and ``stderr``, so
:func:`assert_one_line_error` checks either the same way.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import torch

from physjepa.cli import main

TIMEOUT = 300


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(*args, cwd) -> Result:
    """``physjepa ARGS`` run by ``main`` in this process, in the directory ``cwd``.

    Exactly what the console script does after start-up: argparse errors exit with code 2
    (usage on stderr), user errors return 2 with one line, and a bug of ours raises here, with
    its traceback. Process-wide settings a command may change (torch's thread count, the global
    random states) are put back afterwards, so one test cannot change the next."""
    threads = torch.get_num_threads()
    torch_rng, np_rng, py_rng = (
        torch.random.get_rng_state(),
        np.random.get_state(),
        random.getstate(),
    )
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in args])
            except SystemExit as e:  # argparse: --help, usage errors
                rc = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
        torch.random.set_rng_state(torch_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)
    return Result(rc, out.getvalue(), err.getvalue())


def train_cli(data, *extra, out="r", preset="debug", cwd) -> Result:
    """``physjepa train --data DATA --preset PRESET --out OUT --quiet EXTRA...`` in process."""
    return cli(
        "train", "--data", data, "--preset", preset, "--out", out, "--quiet", *extra, cwd=cwd
    )


def subprocess_cli(
    *args, cwd, input: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m physjepa ARGS`` in a real subprocess (a fresh interpreter, real stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "physjepa", *map(str, args)],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
    )


def stderr_lines(proc) -> list[str]:
    """stderr without tqdm progress-bar output (which redraws with carriage returns)."""
    lines = []
    for line in proc.stderr.splitlines():
        line = line.split("\r")[-1]  # what a terminal would finally show
        if line.strip() and "%|" not in line and not re.search(r"\d+(ep|step|pair) \[", line):
            lines.append(line)
    return lines


def assert_one_line_error(proc, command: str, *needles: str) -> str:
    """Exit code 2, exactly one line on stderr (``physjepa COMMAND: error: ...``) holding
    every needle, no traceback; returns the line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"physjepa {command}: error:"), lines[0]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_usage_error(proc, command: str, *needles: str) -> str:
    """An argparse refusal (a missing value, a bad type, an unknown flag): exit code 2 and one
    line, ``physjepa COMMAND: error: ...; see 'physjepa COMMAND --help'``, naming the needles."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"physjepa {command}: error: "), lines[0]
    assert lines[0].endswith(f"see 'physjepa {command} --help'"), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
