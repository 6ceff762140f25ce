"""`comfy-reality run` on a real terminal (a pty): the live table's layout, and Ctrl-C typed twice."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import httpx

from comfy_reality.cli.terminal import no_echo

from .conftest import progress_prompt, unique, write_workflow

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def read_until(master: int, proc: subprocess.Popen[bytes], buffer: bytearray, wanted: str | None) -> str:
    """Read the terminal's output until ``wanted`` shows (None: until the process ends)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = ANSI.sub("", buffer.decode("utf-8", "replace"))
        if wanted is not None and wanted in text:
            return text
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            buffer.extend(chunk)
            if chunk:
                continue
        if wanted is None and proc.poll() is not None:
            return ANSI.sub("", buffer.decode("utf-8", "replace"))
    raise AssertionError(
        f"timed out waiting for {wanted!r}; screen so far:\n{buffer.decode(errors='replace')}"
    )


def test_ctrl_c_typed_twice_leaves_no_stray_text_and_the_names_their_room(
    server_url: str, tmp_path: Path
) -> None:
    first = write_workflow(tmp_path, "first", progress_prompt(steps=20_000, delay=0.5, color=unique()))
    second = write_workflow(tmp_path, "second", progress_prompt(steps=20_000, delay=0.5, color=unique()))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 80, 0, 0))
    env = {**os.environ, "COMFY_REALITY_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)

    def take_the_terminal() -> None:  # the pty becomes the child's controlling terminal: ^C reaches it
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    command = [sys.executable, "-m", "comfy_reality.cli", "run", "--server", server_url]
    proc = subprocess.Popen(
        [*command, "--output-dir", str(tmp_path / "o"), str(first), str(second)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        preexec_fn=take_the_terminal,
    )
    os.close(slave)
    buffer = bytearray()
    try:
        running = read_until(master, proc, buffer, "/20000")
        os.write(master, b"\x03")
        os.write(master, b"\x03")
        screen = read_until(master, proc, buffer, None)
        assert proc.wait(timeout=30) == 130, screen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert "^C" not in screen and "\x03" not in screen and "Traceback" not in screen
    # At 80 columns the node names are whole; the status column is only as wide as its words.
    row = next(line for line in running.splitlines() if "RealityProgress #2" in line and "/20000" in line)
    cells = row.split("│")
    assert cells[1].strip() == "RealityProgress #2" and cells[2].strip() == "▶ running", row
    assert len(cells[2]) == len(" ✓ completed "), row  # its longest word in this frame, no more
    assert all(len(line) <= 80 for line in screen.splitlines())
    # The final frame's tables have the same column borders (the workflows' tables line up).
    last, before_last = [line for line in screen.splitlines() if line.startswith("┏")][::-1][:2]
    assert last == before_last
    queue = httpx.get(f"{server_url}/queue").json()
    assert queue["queue_running"] == [] and queue["queue_pending"] == []


def test_no_echo_restores_the_terminal() -> None:
    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave), "r") as stream:
            before = termios.tcgetattr(slave)
            assert before[3] & termios.ECHOCTL and before[3] & termios.ECHO
            with no_echo(stream):
                assert not termios.tcgetattr(slave)[3] & (termios.ECHOCTL | termios.ECHO)
            assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
