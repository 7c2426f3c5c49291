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
    return {"cpu": cpu, "cores": cores, "gpu": gpu, "python": platform.python_version()}


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
