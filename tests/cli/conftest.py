"""Fixtures for the CLI tests: a real embedded server in its own process, and CLI runners."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from click.testing import CliRunner

from comfy_reality.cli import cli

SPEED = 50.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(tmp: Path, speed: float = SPEED) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "COMFY_REALITY_HOME": str(tmp / "server-home")}
    log = tmp / "server-output.txt"
    # A file, not a pipe: nobody drains a pipe during the tests, and a full one blocks the server.
    with log.open("wb") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "comfy_reality.cli", "server", "--port", str(port), "--speed", str(speed)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"embedded server exited early: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/system_stats", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("embedded server did not answer within 30 s")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """In-process commands configure structlog onto this test's log file; leave it as found."""
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded server for the whole CLI suite (fast: every delay scaled by SPEED)."""
    proc, url = start_server(tmp_path_factory.mktemp("server"))
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def down_url() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


# ------------------------------------------------------------------------- workflows
def save_image_prompt(color: int = 0, prefix: str = "cli_test") -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def fail_prompt(message: str = "boom from the test", color: int = 0) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "RealityFail", "inputs": {"image": ["1", 0], "message": message}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


def progress_prompt(steps: int, delay: float, color: int = 0) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {
                "image": ["1", 0],
                "steps": steps,
                "delay": delay,
                "preview": False,
                "progress_text": False,
                "nonce": color,
            },
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


_counter = [int(time.time()) % 100_000]


def unique() -> int:
    """A fresh value so the server's cache never answers a test's prompt."""
    _counter[0] += 1
    return _counter[0]


def write_workflow(directory: Path, name: str, prompt: Any) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- running
@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def executions(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("type") == "execution"]

    def events(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("type") == "event"]


def invoke(*args: str, cwd: Path | None = None) -> Result:
    """Run the CLI in-process (click's runner: stdout is not a terminal, so `run` emits NDJSON)."""
    runner = CliRunner()
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(previous)
    return Result(result.exit_code, result.stdout, result.stderr)
