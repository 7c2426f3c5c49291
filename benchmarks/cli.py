"""CLI benchmark: the first five minutes of a user, timed -> benchmarks/results/cli.json.

- demo_debug_seconds: ``physjepa demo --preset debug --episodes 8`` end to end through the
  installed console script, in a fresh temp dir (collect, train, evaluate, report);
- help_seconds: ``physjepa --help``, median of 5;
- error_seconds: ``physjepa train --data missing.h5 --out x`` (a one-line error), median of 5;
- test_suite_seconds: ``make test`` once set up (with ``--suite``; minutes), and
  test_suite_ran (1 when it ran and passed, 0 when not asked);
- readme_blocks_tested / readme_blocks_total: the fenced blocks of README.md that
  tests/e2e/test_readme.py runs, and all of them.

    python benchmarks/cli.py --suite    # the published numbers: an idle machine, set up
    python benchmarks/cli.py --smoke    # 1 repetition, no suite, into a temp dir
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_smoke_args, out_dir, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5


def console_script() -> str:
    """The ``physjepa`` script installed beside this interpreter (what ``make demo`` calls)."""
    script = Path(sys.executable).parent / "physjepa"
    found = str(script) if script.exists() else shutil.which("physjepa")
    if found is None:
        raise SystemExit("the physjepa console script is not installed (pip install -e .)")
    return found


def timed(argv: list[str], cwd: Path, expect: int = 0) -> float:
    """Wall seconds of one run of ``argv``; the exit status must be ``expect``."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != expect:
        raise SystemExit(
            f"{' '.join(argv)} exited {proc.returncode} (expected {expect}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return took


def readme_coverage() -> tuple[int, int]:
    """(blocks_total, blocks_tested) as tests/e2e/test_readme.py counts them."""
    path = ROOT / "tests" / "e2e" / "test_readme.py"
    spec = importlib.util.spec_from_file_location("_test_readme", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod.readme_coverage()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", action="store_true", help="also time 'make test' (minutes)")
    add_smoke_args(ap)
    a = ap.parse_args()
    if a.smoke and a.suite:
        raise SystemExit("--smoke skips the suite; drop --suite")
    results = out_dir(a)
    repeats = 1 if a.smoke else REPEATS
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    exe = console_script()

    with tempfile.TemporaryDirectory(prefix="physjepa-cli-") as tmp:
        work = Path(tmp)
        demo = timed([exe, "demo", "--preset", "debug", "--episodes", "8"], work)
        if not (work / "runs" / "demo" / "report.html").is_file():
            raise SystemExit("the demo finished without runs/demo/report.html")
        helps = [timed([exe, "--help"], work) for _ in range(repeats)]
        error = [exe, "train", "--data", "missing.h5", "--out", "x"]
        errors = [timed(error, work, expect=2) for _ in range(repeats)]

    suite = float("nan")
    if a.suite:
        if not (ROOT / ".venv" / ".installed").exists():
            raise SystemExit("--suite times 'make test' once set up: run 'make setup' first")
        suite = timed(["make", "test"], ROOT)
    total, tested = readme_coverage()
    metrics = {
        "demo_debug_seconds": round(demo, 2),
        "help_seconds": round(statistics.median(helps), 3),
        "error_seconds": round(statistics.median(errors), 3),
        "test_suite_ran": int(a.suite),
        "readme_blocks_tested": tested,
        "readme_blocks_total": total,
    }
    if a.suite:
        metrics["test_suite_seconds"] = round(suite, 1)
    notes = (
        f"console script {exe}; demo: 'physjepa demo --preset debug --episodes 8' in a fresh "
        f"temp dir (collect, train, evaluate, report); help and error: median of {repeats} runs; "
        + (
            "test_suite_seconds: 'make test' once, set up beforehand. "
            if a.suite
            else "the suite was not run (pass --suite). "
        )
        + "readme_blocks_*: fenced blocks of README.md that tests/e2e/test_readme.py runs."
    )
    if a.smoke:
        notes = "SMOKE RUN (1 repetition, no suite; not a result). " + notes
    write_result("cli", metrics, notes, out=results)


if __name__ == "__main__":
    main()
