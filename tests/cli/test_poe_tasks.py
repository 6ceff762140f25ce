"""Every poe task in pyproject.toml points at something that exists and accepts its options."""

from __future__ import annotations

import importlib
import importlib.util
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
TASKS: dict[str, Any] = PYPROJECT["tool"]["poe"]["tasks"]
SCRIPTS: dict[str, str] = PYPROJECT["project"]["scripts"]
TOOLS_IN_VENV = {"pytest", "mypy"}
REQUIRED = {
    "serve",
    "monitor",
    "demo",
    "run-workflow",
    "validate-workflow",
    "logs",
    "test",
    "test-async",
    "benchmark",
    "typecheck",
}


def task_command(name: str) -> list[str]:
    task = TASKS[name]
    if isinstance(task, str):
        return shlex.split(task)
    assert isinstance(task, dict) and "cmd" in task, (
        f"poe task {name!r} is not a cmd task; teach this test its kind"
    )
    assert task.get("help"), f"poe task {name!r} has no help text"
    return shlex.split(task["cmd"])


def help_text(argv: list[str]) -> str:
    done = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, f"{' '.join(argv)} --help failed: {done.stderr[-1000:]}"
    return done.stdout


def test_the_required_tasks_exist() -> None:
    assert set(TASKS) >= REQUIRED


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_target_exists_and_takes_its_options(name: str) -> None:
    argv = task_command(name)
    program, args = argv[0], argv[1:]
    if program in SCRIPTS:
        module_name, _, attribute = SCRIPTS[program].partition(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute)), f"{SCRIPTS[program]} is not callable"
        runner = [
            sys.executable,
            "-c",
            f"import sys; from {module_name} import {attribute} as m; sys.argv[0] = {program!r}; m()",
        ]
        positional = [a for a in args if not a.startswith("-")]
        help_out = help_text(runner + positional)
    elif program == "python":
        assert args[0] == "-m", f"{name}: run modules with python -m"
        module_name = args[1]
        assert importlib.util.find_spec(module_name) is not None, f"{name}: no module {module_name}"
        help_out = help_text([sys.executable, "-m", module_name])
        args = args[2:]
    elif program in TOOLS_IN_VENV:
        assert importlib.util.find_spec(program) is not None, f"{name}: {program} is not installed"
        for arg in args:
            if not arg.startswith("-"):
                assert (ROOT / arg).exists(), f"{name}: {arg} does not exist"
        return
    else:
        pytest.fail(f"poe task {name!r} runs {program!r}, which this project does not provide")
    for option in (a for a in args if a.startswith("--")):
        assert option in help_out, f"{name}: {' '.join(argv)} has no option {option}"


def test_cli_subcommands_used_by_tasks_are_real() -> None:
    from comfy_reality.cli import COMMANDS, cli

    for name in TASKS:
        argv = task_command(name)
        if argv[0] == "comfy-reality":
            assert argv[1] in COMMANDS, f"{name}: comfy-reality has no command {argv[1]!r}"
    # And every registered command really loads.
    import click

    ctx = click.Context(cli)
    for command in COMMANDS:
        assert cli.get_command(ctx, command) is not None


def test_file_taking_tasks_run_where_the_user_is() -> None:
    # poe runs tasks in the project root; relative FILE arguments and outputs belong to the caller's directory.
    for name in ("run-workflow", "validate-workflow"):
        assert TASKS[name].get("cwd") == "${POE_PWD}", name


def test_pytest_collects_only_the_tests_folder() -> None:
    # benchmarks/ and tools/ are measurements and exporters, not timed tests.
    assert PYPROJECT["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
