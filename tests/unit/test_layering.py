"""The package layering of docs/architecture.md, checked on every import in src/physjepa.

Dependencies point one way: lower layers never import higher ones, the report never
computes metrics, nothing imports the CLI, and the modules the CLI needs before a command
runs (errors, options, config, cli) load without torch, so ``--help`` and one-line errors
are instant."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "physjepa"

#: the bottom modules -> the only packages they may import
ONLY = {
    "errors": set(),
    "options": {"errors"},
    "config": {"errors"},
    "fileio": {"errors"},
    "runlog": {"errors"},
    "device": {"errors", "config"},
}
#: package -> packages it must never import
FORBIDDEN = {
    "worlds": {"training", "planning", "metrics", "heads", "report", "recipes", "cli", "runs"},
    "data": {"training", "planning", "metrics", "heads", "report", "recipes", "cli", "runs"},
    "models": {
        "training",
        "planning",
        "metrics",
        "heads",
        "report",
        "recipes",
        "cli",
        "runs",
        "data",
    },
    "training": {"planning", "metrics", "heads", "report", "recipes", "cli"},
    "planning": {"training", "metrics", "heads", "report", "recipes", "cli"},
    "metrics": {"training", "heads", "report", "recipes", "cli"},
    "heads": {"training", "report", "recipes", "cli"},
    "report": {"training", "metrics", "heads", "recipes", "cli", "models", "planning"},
    "recipes": {"cli"},
}
PACKAGES = {p.stem for p in SRC.iterdir() if not p.name.startswith("_")}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("physjepa."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "physjepa":
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("physjepa."))
    return out


def test_dependencies_point_one_way():
    bad = []
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50
    for path in files:
        pkg = _package(path)
        banned = PACKAGES - ONLY[pkg] if pkg in ONLY else set(FORBIDDEN.get(pkg, ()))
        if pkg != "__main__":
            banned = banned | {"cli"}
        for imp in _imports(path) - {pkg}:
            if imp in banned:
                bad.append(f"{path.relative_to(SRC)} imports physjepa.{imp}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_forbidden_import(tmp_path):
    fake = tmp_path / "x.py"
    fake.write_text("from physjepa.recipes.plan import plan_run\nimport physjepa.cli\n")
    assert _imports(fake) == {"recipes", "cli"}


def test_the_cli_and_its_errors_load_without_torch():
    code = (
        "import sys; import physjepa.cli, physjepa.options, physjepa.config, physjepa.errors, "
        "physjepa.runs; print(sorted(m for m in ('torch', 'h5py', 'pymunk', 'gymnasium') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
