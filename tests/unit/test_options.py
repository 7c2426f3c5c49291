"""Command options: one home per setting. Each field is parsed from the command line with its
own default, checked by its own rule, and read by the code the command runs."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import MISSING, fields

import pytest

from physjepa import cli
from physjepa import options as O
from physjepa.errors import UserError

#: What the required fields get when a command is built for a test.
REQUIRED = {
    "world": "ball-drop", "out": "x.h5", "src": "t.csv", "obs": "a", "to": "y.h5", "path": "f.h5",
    "run": "r", "runs": ("a", "b"),
}  # fmt: skip


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _argv(name: str, cls: type) -> list[str]:
    argv = [name]
    for f in fields(cls):
        if not _required(f):
            continue
        value = REQUIRED[f.name]
        if f.metadata.get("positional"):
            argv += list(value) if isinstance(value, tuple) else [value]
        else:
            argv += [O.flag_of(f), value]
    return argv


def _fields_read(fn, var: str) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == var
    }


def _recipes_given_options(fn) -> list:
    """The recipe functions a handler passes its whole options object to."""
    src = textwrap.dedent(inspect.getsource(fn))
    out = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call) and any(
            isinstance(a, ast.Name) and a.id == "o" for a in node.args
        ):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            module = fn.__module__
            for imp in ast.walk(ast.parse(src)):
                if isinstance(imp, ast.ImportFrom):
                    for alias in imp.names:
                        if (alias.asname or alias.name) == name:
                            module = imp.module
                            real = alias.name
                            out.append(getattr(__import__(module, fromlist=[real]), real))
    return out


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_the_parser_defaults_are_the_dataclass_defaults(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{}")
    cmd = cli.COMMANDS[name]
    extra = ["--resume"] if name == "train" else []  # train needs --data or --resume
    args = cli.parser().parse_args(_argv(name, cmd.options) + extra)
    parsed = cmd.options.from_args(args)
    required = {f.name: REQUIRED[f.name] for f in fields(cmd.options) if _required(f)}
    direct = cmd.options(**required, **({"resume": True} if extra else {}))
    assert parsed == direct


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_option_is_read_by_what_the_command_runs(name):
    cmd = cli.COMMANDS[name]
    read = _fields_read(cmd.handler, "o")
    for recipe in _recipes_given_options(cmd.handler):
        params = list(inspect.signature(recipe).parameters)
        read |= _fields_read(recipe, params[0])
    unread = {f.name for f in fields(cmd.options)} - read
    assert not unread, f"{name}: options never read: {sorted(unread)}"


def test_the_completeness_check_sees_an_unread_option():
    def handler(o):
        return o.episodes

    assert _fields_read(handler, "o") == {"episodes"}


@pytest.mark.parametrize(
    "build, needle",
    [
        (lambda: O.PlanOptions(run=".", episodes=0), "--episodes=0"),
        (lambda: O.PlanOptions(run=".", baselines="oracle,bogus"), "--baselines"),
        (lambda: O.PlanOptions(run=".", horizon=2, execute=3), "--execute=3"),
        (lambda: O.PlanOptions(run=".", device="gpu"), "--device='gpu'"),
        (lambda: O.MonitorOptions(run=".", far=2.0), "--far=2.0"),
        (lambda: O.MonitorOptions(run=".", threshold=float("nan")), "--threshold"),
        (lambda: O.CollectOptions(world="w", out="o", param=("gravity",)), "NAME=VALUE"),
        (lambda: O.CollectOptions(world="w", out="o", gym_import="m"), "--gym-import"),
        (lambda: O.CollectOptions(world="w", out="o", episodes=True), "wrong type"),
        (lambda: O.VoeGenerateOptions(out="o", properties="gravty"), "--properties"),
        (lambda: O.TrainOptions(out="o"), "--data is required"),
        (lambda: O.EvalOptions(run="no-such-run"), "not a run directory"),
        (lambda: O.TrainOptions(out="o", data="missing.h5"), "not found"),
    ],
)
def test_a_bad_value_is_one_error_naming_the_flag(build, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError) as e:
        build()
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_options_are_frozen():
    o = O.DemoOptions()
    with pytest.raises(AttributeError):
        o.episodes = 3  # type: ignore[misc]
