"""Shared helpers for benchmark scripts: machine description and the result JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "gpu": gpu,
        "python": platform.python_version(),
        "matmul_gflops_1thread": reference_speed(),
    }


def reference_speed() -> float | None:
    """GFLOP/s of a 512 x 512 float32 matmul on one thread (median of 20), measured when the
    result is written: machines of one name differ (on 2026-12-04 a two-room planning run
    trained in 17.5 minutes, against 7.6-11.9 on 2026-11-28), so timings are read against
    this."""
    try:
        import time

        import torch
    except ImportError:
        return None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randn(512, 512)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - t0)
        return round(2 * 512**3 / sorted(times)[10] / 1e9, 1)
    finally:
        torch.set_num_threads(threads)


def add_smoke_args(ap: argparse.ArgumentParser) -> None:
    """``--smoke`` (the same code path at tiny sizes, seconds) and ``--out-dir``."""
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the same code path at tiny sizes, in seconds; writes into --out-dir (default: a "
        "new temp dir), never into benchmarks/results/",
    )
    ap.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where the result JSON (and, with --smoke, the work files) go "
        "(default: benchmarks/results/)",
    )


def out_dir(a: argparse.Namespace) -> Path:
    """Where this invocation writes: --out-dir, else benchmarks/results/ (a full run) or a new
    temp dir (--smoke). A smoke run never writes into benchmarks/results/."""
    if a.out_dir is None:
        if not a.smoke:
            return RESULTS
        return Path(tempfile.mkdtemp(prefix="physjepa-smoke-"))
    d = a.out_dir.resolve()
    if a.smoke and d == RESULTS.resolve():
        raise SystemExit("--smoke never writes into benchmarks/results/; pass another --out-dir")
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_result(
    name: str, metrics: dict, notes: str, extra: dict | None = None, out: Path | None = None
) -> Path:
    """Write ``<out>/<name>.json`` (default ``benchmarks/results/``) in the format DESIGN.md
    fixes."""
    out = RESULTS if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "name": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "machine": machine(),
        "metrics": metrics,
        "notes": notes,
        **(extra or {}),
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return path
