"""Every CLI command against a server whose every text field carries escapes and markup.

Commands run as real subprocesses and their raw bytes are checked: no OSC, no clear screen,
no C1, BEL, DEL or bidi override, whether stdout is a pipe or a terminal (pty); JSON output
stays strict JSON; nothing crashes (no traceback).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .hostile_server import EVIL, HostileServer, bad_bytes, hostile_server_thread

pytestmark = pytest.mark.timeout(120)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMFYUI_")}
    env.update(COMFY_REALITY_HOME=str(home), COLUMNS="120", **extra)
    return env


def run_cli(home: Path, *args: str, **extra: str) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "comfy_reality.cli", *args],
        capture_output=True,
        env=cli_env(home, **extra),
        timeout=90,
        check=False,
    )
    return Result(
        proc.returncode,
        proc.stdout.decode("utf-8", "surrogateescape"),
        proc.stderr.decode("utf-8", "surrogateescape"),
    )


def run_in_terminal(home: Path, *args: str) -> Result:
    """The command on a pseudo-terminal (what a person sees: Rich styles, the live table)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfy_reality.cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=cli_env(home, TERM="xterm-256color"),
        close_fds=True,
    )
    os.close(follower)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
        code = proc.wait(30)
    return Result(code, b"".join(chunks).decode("utf-8", "surrogateescape"), "")


def assert_inert(result: Result) -> None:
    assert bad_bytes(result.both) == [], result.both[-3000:]
    assert "Traceback" not in result.both, result.both[-3000:]


def assert_strict_json_lines(text: str) -> list[Any]:
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    return [json.loads(line, parse_constant=refuse) for line in text.splitlines() if line.strip()]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with hostile_server_thread("error") as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    # The file name is outside text too.
    path = tmp_path / "wf\x1b]0;title\x07[bold].json"
    path.write_text(
        json.dumps({"1": {"class_type": "EvilNode", "inputs": {"text": "x"}, "_meta": {"title": EVIL}}}),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", ["stats", "queue", "history"])
def test_inspection_commands_print_server_text_inert(
    hostile: HostileServer, home: Path, command: str
) -> None:
    table = run_cli(home, command, "--server", hostile.url)
    assert table.code == 0, table.both
    assert_inert(table)
    assert "\\x1b" in table.out  # shown, made visible
    as_json = run_cli(home, command, "--server", hostile.url, "--json")
    assert as_json.code == 0, as_json.both
    assert_inert(as_json)
    (document,) = assert_strict_json_lines(as_json.out)
    # Exact JSON: the escapes come back byte for byte when parsed.
    assert any(EVIL in text for text in strings(document))


@pytest.mark.parametrize("command", ["stats", "history"])
def test_inspection_commands_on_a_terminal(hostile: HostileServer, home: Path, command: str) -> None:
    result = run_in_terminal(home, command, "--server", hostile.url)
    assert result.code == 0, result.out
    assert_inert(result)
    assert "\x1b]8;" not in result.out  # the [link=...] markup did not become a hyperlink


def test_interrupt_error_body_is_inert(hostile: HostileServer, home: Path) -> None:
    result = run_cli(home, "interrupt", "--server", hostile.url)
    assert result.code == 1, result.both
    assert "interrupt failed" in result.err
    assert_inert(result)


def test_run_summary_journal_and_logs_are_inert(
    hostile: HostileServer, home: Path, workflow: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    human = run_cli(home, "run", str(workflow), "--server", hostile.url, "--output-dir", str(out_dir))
    assert human.code == 1, human.both  # the prompt failed on the server
    assert "message" in human.err
    assert_inert(human)
    machine = run_cli(
        home, "run", str(workflow), "--server", hostile.url, "--json", "--output-dir", str(out_dir)
    )
    assert machine.code == 1
    assert_inert(machine)
    lines = assert_strict_json_lines(machine.out)
    final = lines[-1]
    assert final["type"] == "execution"
    assert final["error"]["exception_message"] == "message" + EVIL  # exact, once parsed
    # Output names from the server: "[" / "]_00001_.png" and the escape-laden one are saved safely.
    saved = [p.name for p in out_dir.rglob("*") if p.is_file()]
    assert saved and all(not bad_bytes(name) for name in saved)
    on_terminal = run_in_terminal(
        home, "run", str(workflow), "--server", hostile.url, "--output-dir", str(out_dir)
    )
    assert on_terminal.code == 1, on_terminal.out
    assert_inert(on_terminal)
    for args in (("journal",), ("journal", "--json")):
        listing = run_cli(home, *args)
        assert listing.code == 0, listing.both
        assert_inert(listing)
    assert assert_strict_json_lines(run_cli(home, "journal", "--json").out)
    # The log file keeps what was received; `logs` shows it inert (JSON lines and raw junk alike).
    log_file = Path(run_cli(home, "logs", "--path").out.strip())
    with log_file.open("a", encoding="utf-8") as handle:
        handle.write(f"not json {EVIL}\n")
        handle.write(
            json.dumps({"event": EVIL, "level": "error", EVIL: EVIL, "exception": EVIL}, ensure_ascii=False)
            + "\n"
        )
    for args in (("logs",), ("logs", "--raw")):
        shown = run_cli(home, *args)
        assert shown.code == 0, shown.both
        assert_inert(shown)
    assert f"not json {EVIL}".encode() in log_file.read_bytes()  # the file keeps what was received


def test_rejected_prompt_node_errors_are_inert(home: Path, workflow: Path, tmp_path: Path) -> None:
    with hostile_server_thread("reject") as server:
        result = run_cli(home, "run", str(workflow), "--server", server.url, "--output-dir", str(tmp_path))
    assert result.code == 2, result.both
    assert "bad value" in result.err
    assert_inert(result)


def test_validate_errors_are_inert(hostile: HostileServer, home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad\x1b[2J.json"
    path.write_text(
        json.dumps(
            {
                "1": {"class_type": "EvilNode", "inputs": {}, "_meta": {"title": EVIL}},
                "2": {"class_type": EVIL, "inputs": {}},
            }
        ),
        encoding="utf-8",
    )
    result = run_cli(home, "validate", "--server", hostile.url, str(path))
    assert result.code == 2, result.both
    assert_inert(result)
    as_json = run_cli(home, "validate", "--server", hostile.url, "--json", str(path))
    assert as_json.code == 2
    assert_inert(as_json)
    assert_strict_json_lines(as_json.out)


def test_unreadable_workflow_name_is_inert(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "\x1b]52;c;SGk=\x07.json"
    path.write_text("{not json", encoding="utf-8")
    for command in ("validate", "run"):
        result = run_cli(home, command, "--server", "http://127.0.0.1:9", str(path))
        assert result.code == 2, result.both
        assert_inert(result)


def test_full_screen_app_on_a_terminal(hostile: HostileServer, home: Path, tmp_path: Path) -> None:
    """The app on a real pseudo-terminal: its raw output carries Textual's own drawing codes, but no
    OSC (clipboard, title), no clear screen from the server, no C1, BEL or bidi override."""
    workflows = tmp_path / "wf"
    workflows.mkdir()
    (workflows / "evil.json").write_text(
        json.dumps(
            {"1": {"class_type": "EvilNode", "inputs": {"text": "x"}, "_meta": {"title": "[/]" + EVIL}}}
        ),
        encoding="utf-8",
    )
    leader, follower = pty.openpty()
    os.set_blocking(leader, False)
    import fcntl
    import struct
    import termios

    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfy_reality.tui", "--server", hostile.url, "--workflows", str(workflows)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=cli_env(home, TERM="xterm-256color"),
        close_fds=True,
    )
    os.close(follower)
    output = b""

    def read_until(done: Any, limit: float) -> None:
        nonlocal output
        import time

        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not done():
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    output += os.read(leader, 65536)
                except OSError:
                    return

    try:
        # The device name from /system_stats and the server's saved workflow, made visible.
        read_until(lambda: b"GPU" in output and b"\\x1b]52" in output, 40)
        os.write(leader, b"\x11")  # ctrl+q
        read_until(lambda: proc.poll() is not None, 20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        os.close(leader)
    text = output.decode("utf-8", "replace")
    assert b"GPU" in output and b"\\x1b]52" in output, text[-2000:]  # shown, made visible
    # Textual's own codes are CSI sequences; anything from the server would be OSC, ESC[2J, C1...
    assert "\x1b]52" not in text and "\x1b]0;pwned" not in text
    assert "\x9b" not in text and "\u202e" not in text and "\x7f" not in text
    assert "\x1b[2J" not in text
    # Textual's own OSC (the mouse pointer shape) is the only one, and the only BEL ends it.
    own = re.compile(r"\x1b\]22;[a-z-]*(\x07|\x1b\\)")
    assert "\x1b]" not in own.sub("", text) and "\x07" not in own.sub("", text)
    assert "Traceback" not in text
