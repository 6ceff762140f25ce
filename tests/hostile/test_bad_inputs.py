"""Every input a user (or a server, or the disk) can give gets a clear message and the right exit
code, never a traceback: issue 17, sections 5 and 6."""

from __future__ import annotations

import asyncio
import errno
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web

from comfy_reality.cli.files import save_new_file
from comfy_reality.config import ConfigError, load_settings
from comfy_reality.journal.store import JournalError, JournalStore
from comfy_reality.logs import close_log_file, configure_logging
from comfy_reality.runtime import ComfyUIClient, ServerResponseError
from comfy_reality.runtime.client import RESPONSE_CAPS
from comfy_reality.runtime.models import OutputFile, WorkflowExecution
from comfy_reality.runtime.outputs import save_outputs
from comfy_reality.safe_text import finite, safe_json, safe_str

from .hostile_server import hostile_server_thread

pytestmark = pytest.mark.timeout(120)

API_WORKFLOW = {"1": {"class_type": "EvilNode", "inputs": {"text": "x"}}}


def cli(
    home: Path, *args: str, env: dict[str, str] | None = None, module: str = "comfy_reality.cli"
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COMFYUI_")}
    base.update(COMFY_REALITY_HOME=str(home), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=90,
        check=False,
    )


def assert_clear(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output, output
    for word in words:
        assert word.lower() in output.lower(), output


def write_config(home: Path, text: str) -> None:
    folder = home / "config"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# ------------------------------------------------------------------------- section 5
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_workflow_with_non_finite_number(home: Path, tmp_path: Path, literal: str) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"1": {"class_type": "EvilNode", "inputs": {"v": ' + literal + "}}}", encoding="utf-8")
    for command in ("validate", "run", "convert"):
        args = [command, str(path)]
        if command != "convert":
            args += ["--server", "http://127.0.0.1:9"]
        assert_clear(cli(home, *args), 2, "JSON does not allow", str(path))


@pytest.mark.parametrize("where", ["flag", "env", "config"])
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[::1", ["not a URL", "Invalid IPv6 URL"]),
        ("http://" + "a" * 300 + ":8188", ["too long"]),
        ("http://127.0.0.1:99999", ["port"]),
    ],
    ids=["unclosed-ipv6", "300-char-label", "bad-port"],
)
def test_bad_server_url_is_a_usage_error(home: Path, where: str, url: str, words: list[str]) -> None:
    args = ["queue"]
    env: dict[str, str] = {}
    if where == "flag":
        args += ["--server", url]
    elif where == "env":
        env["COMFYUI_URL"] = url
    else:
        write_config(home, f'server_url = "{url}"\n')
    assert_clear(cli(home, *args, env=env), 2, *words)


def test_bad_server_url_in_the_app_is_a_usage_error(home: Path) -> None:
    result = cli(home, "--server", "http://[::1", module="comfy_reality.tui")
    assert_clear(result, 2, "not a URL")


def test_journal_keep_days_too_large(home: Path) -> None:
    write_config(home, "journal_keep_days = 1000000\n")
    for args in (("journal",), ("journal", "prune"), ("queue", "--server", "http://127.0.0.1:9")):
        assert_clear(cli(home, *args), 2, "journal_keep_days")


def test_prune_older_than_too_large(home: Path) -> None:
    assert_clear(cli(home, "journal", "prune", "--older-than", "99999999999d"), 2, "longer than")
    assert_clear(cli(home, "journal", "prune", "--older-than", "1e400d"), 2)


def test_full_disk_for_the_log_never_stops_logging_callers(tmp_path: Path) -> None:
    saved = structlog.get_config()
    try:
        configure_logging(level="debug", log_path=Path("/dev/full"))
        log = structlog.get_logger("test")
        for index in range(200):  # more than any buffer: every write fails with ENOSPC
            log.info("line", index=index, padding="x" * 200)
        close_log_file()
    finally:
        close_log_file()
        structlog.configure(**saved)


def test_full_disk_for_the_log_never_stops_a_run(home: Path, tmp_path: Path) -> None:
    log_dir = home / "log"
    log_dir.mkdir(parents=True)
    (log_dir / "comfy-reality.jsonl").symlink_to("/dev/full")
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(API_WORKFLOW), encoding="utf-8")
    with hostile_server_thread("success") as server:
        result = cli(
            home,
            "run",
            str(workflow),
            "--server",
            server.url,
            "--output-dir",
            str(tmp_path / "out"),
            "--json",
        )
    assert_clear(result, 0)
    assert json.loads(result.stdout.splitlines()[-1])["status"] == "completed"


# ------------------------------------------------------------------------- section 6
def test_non_finite_numbers_become_null_in_json(home: Path, tmp_path: Path) -> None:
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(API_WORKFLOW), encoding="utf-8")
    with hostile_server_thread("success", nan=True) as server:
        stats = cli(home, "stats", "--server", server.url, "--json")
        table = cli(home, "stats", "--server", server.url)
        run = cli(
            home, "run", str(workflow), "--server", server.url, "--json", "--output-dir", str(tmp_path / "o")
        )
    assert_clear(stats, 0)
    document = json.loads(stats.stdout, parse_constant=refuse)
    assert document["devices"][0]["vram_total"] is None
    assert document["system"]["ram_free"] is None
    assert_clear(table, 0)
    assert "inf" not in table.stdout.lower() and "nan" not in table.stdout.lower()
    assert_clear(run, 0)
    for line in run.stdout.splitlines():
        json.loads(line, parse_constant=refuse)


def test_safe_json_is_exact_and_strict() -> None:
    value = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": "\x1b]0;t\x07\x9b\u202e"}
    text = safe_json(value)
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": "\x1b]0;t\x07\x9b\u202e"}
    assert finite((math.nan,)) == [None]
    assert safe_str("a\x1bb\r\nc\rd\u202e") == "a\\x1bb\nc\\rd\\u202e"


class BigServer:
    """Answers /system_stats with more bytes than any real server sends (declared or chunked)."""

    def __init__(self, size: int, *, chunked: bool) -> None:
        self.size = size
        self.chunked = chunked
        self.sent = 0

    async def system_stats(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if not self.chunked:
            response.content_length = self.size
        await response.prepare(request)
        chunk = b" " * 65536
        try:
            while self.sent < self.size:
                await response.write(chunk)
                self.sent += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response


@pytest.fixture(params=[False, True], ids=["content-length", "chunked"])
async def big_server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, BigServer]]:
    big = BigServer(400 * 1024 * 1024, chunked=request.param)
    app = web.Application()
    app.router.add_get("/system_stats", big.system_stats)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", big
    finally:
        await runner.cleanup()


async def test_responses_are_bounded(big_server: tuple[str, BigServer]) -> None:
    url, big = big_server
    async with ComfyUIClient(url) as client:
        with pytest.raises(ServerResponseError, match="no real server sends that much"):
            await client.get_system_stats()
    # The client stopped reading at the cap (plus what was in flight), not at 400 MB.
    assert big.sent < RESPONSE_CAPS["/system_stats"] + 16 * 1024 * 1024


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_named_json_is_refused_not_read(home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    for command in ("validate", "run"):
        assert_clear(cli(home, command, str(fifo), "--server", "http://127.0.0.1:9"), 2, "not a regular file")
    assert time.monotonic() - started < 60


def test_long_output_names_are_shortened(tmp_path: Path) -> None:
    path = save_new_file(tmp_path, "é" * 300 + ".png", b"data")
    assert path.suffix == ".png" and len(path.name.encode()) <= 255
    again = save_new_file(tmp_path, "é" * 300 + ".png", b"data")
    assert again != path and len(again.name.encode()) <= 255


class _FullDisk:
    """A file whose writes fail as on a full disk."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, _data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()


def test_full_output_disk_leaves_no_empty_file_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = Path.open

    def full_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        return _FullDisk(handle) if "x" in mode else handle

    monkeypatch.setattr(Path, "open", full_open)
    with pytest.raises(OSError):
        save_new_file(tmp_path, "out.png", b"data")
    assert list(tmp_path.iterdir()) == []


async def test_full_output_disk_leaves_no_empty_file_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Source:
        async def view(self, *_args: Any) -> bytes:
            return b"data"

    import comfy_reality.runtime.outputs as outputs

    real_fdopen = os.fdopen
    monkeypatch.setattr(outputs.os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k)))
    execution = WorkflowExecution(
        workflow_id="wf",
        prompt={},
        output_files=[OutputFile(node_id="1", filename="a.png", subfolder="", type="output")],
    )
    with pytest.raises(OSError):
        await save_outputs(Source(), execution, tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_output_dir_that_cannot_be_created_is_refused_before_queueing(home: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(API_WORKFLOW), encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with hostile_server_thread("success") as server:
        result = cli(home, "run", str(workflow), "--server", server.url, "--output-dir", str(blocker / "sub"))
        assert server.prompts == []  # nothing was queued
    assert_clear(result, 2, "output folder")


def test_journal_disk_full_is_reported_not_cannot_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = sqlite3.connect

    class FullOnCommit:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.strip().upper() == "COMMIT":
                self.conn.execute("ROLLBACK")  # what SQLite does itself when the disk is full
                raise sqlite3.OperationalError("database or disk is full")
            return self.conn.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.conn, name)

    import comfy_reality.journal.connection as connection

    monkeypatch.setattr(connection.sqlite3, "connect", lambda *a, **k: FullOnCommit(real_connect(*a, **k)))
    with pytest.raises(JournalError) as info:
        JournalStore(tmp_path / "journal.sqlite3")
    assert "disk is full" in str(info.value)
    assert "cannot rollback" not in str(info.value)


def test_illegal_header_name_is_a_config_error(home: Path) -> None:
    write_config(home, '[headers]\n"X Bad Header" = "1"\n')
    assert_clear(cli(home, "queue"), 2, "header")
    write_config(home, '[headers]\n"X-Ok" = "a\\nb"\n')
    assert_clear(cli(home, "queue"), 2, "header")


def test_unknown_log_level_is_reported(home: Path) -> None:
    write_config(home, 'log_level = "loud"\n')
    assert_clear(cli(home, "queue"), 2, "log level", "loud")
    with pytest.raises(ConfigError, match="unknown log level"):
        load_settings(home / "config" / "config.toml")


@pytest.mark.parametrize(
    "keymap",
    ['run = ""', 'run = "ctrl+"', '"bad id!" = "r"', "run = 3"],
    ids=["empty", "dangling-plus", "bad-id", "not-text"],
)
def test_invalid_keymap_entries_are_reported(home: Path, keymap: str) -> None:
    write_config(home, f"[keymap]\n{keymap}\n")
    with pytest.raises(ConfigError, match="keymap"):
        load_settings(home / "config" / "config.toml")
    assert_clear(cli(home, "--server", "http://127.0.0.1:9", module="comfy_reality.tui"), 2, "keymap")


def test_user_info_in_the_url_is_auth_never_shown(home: Path) -> None:
    settings = load_settings(home / "none.toml", server_url="http://alice:s3cret-pw@127.0.0.1:9")
    assert settings.server_url == "http://127.0.0.1:9"
    assert settings.username == "alice"
    assert settings.password is not None and settings.password.get_secret_value() == "s3cret-pw"
    result = cli(home, "queue", "--server", "http://alice:s3cret-pw@127.0.0.1:9")
    assert_clear(result, 3)
    assert "s3cret-pw" not in result.stdout + result.stderr and "alice" not in result.stdout + result.stderr


def test_credentials_in_the_url_never_reach_output_log_or_journal(home: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(API_WORKFLOW), encoding="utf-8")
    with hostile_server_thread("success") as server:
        port = server.url.rsplit(":", 1)[1]
        url = f"http://bob:pw-98765@127.0.0.1:{port}/?token=tok-55555"
        outputs = [
            cli(home, "queue", "--server", url, "--json"),
            cli(home, "queue", "--server", url),
            cli(home, "stats", "--server", url),
            cli(home, "run", str(workflow), "--server", url, "--json", "--output-dir", str(tmp_path / "o")),
            cli(home, "interrupt", "--server", url),  # fails: an error message with the URL
            cli(home, "journal", "--json"),
            cli(home, "journal"),
        ]
        basic = server.authorization
    assert any(value.startswith("Basic ") for value in basic)  # user info became Basic auth
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    for secret in ("pw-98765", "tok-55555", "bob:"):
        for result in outputs:
            assert secret not in result.stdout + result.stderr, result.stdout + result.stderr
        assert secret.encode() not in stored


def test_keymap_ids_the_app_does_not_have_are_reported() -> None:
    from comfy_reality.tui.keymap import binding_ids, keymap_problems

    assert {"run", "cancel", "help", "log.follow"} <= binding_ids()
    problems = keymap_problems({"run": "ctrl+r", "runn": "ctrl+g"})
    assert len(problems) == 1 and "'runn'" in problems[0]


def test_saved_workflow_with_non_finite_numbers_reads_back(tmp_path: Path) -> None:
    from comfy_reality.workflows import read_json_file, save_workflow

    path = save_workflow(
        {"1": {"class_type": "X", "inputs": {"v": math.nan, "w": math.inf}}}, tmp_path, "edited"
    )
    assert read_json_file(path) == {"1": {"class_type": "X", "inputs": {"v": None, "w": None}}}
