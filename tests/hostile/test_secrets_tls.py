"""Secrets never leak (log file, journal, error messages, console output), and TLS is verified
unless explicitly turned off."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from aiohttp import web

from comfy_reality import paths
from comfy_reality.config import load_settings
from comfy_reality.journal import Journal
from comfy_reality.logs import configure_logging
from comfy_reality.runtime import (
    Auth,
    ComfyError,
    ComfyUIAsyncRuntime,
    ServerResponseError,
    ServerUnreachableError,
    TaskStatus,
)
from comfy_reality.server import EmbeddedServer, ServerConfig

from ..faults.conftest import FAST_BACKOFF, progress_prompt, wait_connected

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]


def new_secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


def leaks(secret: str, *places: tuple[str, bytes | str]) -> list[str]:
    """Names of the places where the secret (or its bytes) shows up."""
    found = []
    for name, content in places:
        data = content.encode("utf-8", "replace") if isinstance(content, str) else content
        if secret.encode() in data:
            found.append(name)
    return found


def journal_bytes(path: Path) -> bytes:
    """The database and its WAL, as stored on disk."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging() is global: give the next tests back the configuration they had."""
    previous = structlog.get_config()
    yield
    structlog.configure(**previous)


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(port=0, speed=50)) as running:
        yield running


@pytest.mark.parametrize("token_in_query", [False, True], ids=["bearer-header", "query-token"])
async def test_a_token_never_reaches_logs_journal_or_errors(
    server: EmbeddedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    token_in_query: bool,
) -> None:
    token = new_secret("tok")
    password = new_secret("pw")
    monkeypatch.setenv("COMFYUI_TOKEN", token)
    config = tmp_path / "config.toml"
    config.write_text(
        f'username = "alice"\npassword = "{password}"\ntoken_in_query = {str(token_in_query).lower()}\n'
    )
    settings = load_settings(config)
    assert settings.token is not None and settings.token.get_secret_value() == token
    assert token not in repr(settings) and password not in repr(settings)
    auth = Auth.from_settings(settings)
    assert auth is not None
    log_path = configure_logging(level="debug", console=True, log_path=tmp_path / "app.jsonl")
    errors: list[str] = []
    journal_path = tmp_path / "journal.sqlite3"
    journal = await Journal.open(journal_path)
    runtime = ComfyUIAsyncRuntime(server.url, auth=auth, backoff=FAST_BACKOFF, timeout=2.0)
    # The credentials really are sent: otherwise this test would prove nothing.
    if token_in_query:
        assert token in runtime.client.ws_url(runtime.client_id)
    else:
        assert runtime.client.http.headers["Authorization"] == f"Bearer {token}"
    journal.attach(runtime)
    try:
        async with runtime.session():
            await wait_connected(runtime)
            done = await runtime.execute_workflow(progress_prompt(steps=3), name="with a token")
            assert done.status is TaskStatus.COMPLETED
            failing = progress_prompt(steps=1, nonce=9)
            failing["4"] = {"class_type": "RealityFail", "inputs": {"image": ["2", 0], "message": "boom"}}
            failing["3"]["inputs"]["images"] = ["4", 0]
            failed = await runtime.execute_workflow(failing, name="failing")
            assert failed.status is TaskStatus.FAILED
            for fault in (500, 200):
                server.faults.http_error = fault
                try:
                    await runtime.submit(progress_prompt(nonce=fault), name="fault")
                except ServerResponseError as exc:
                    errors.append(str(exc))
                    errors.append(repr(exc))
                    errors.append(str(getattr(exc, "body", "")))
                finally:
                    server.faults.http_error = None
        with socket.socket() as sock:  # a port nothing listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        dead = ComfyUIAsyncRuntime(f"http://127.0.0.1:{port}", auth=auth, backoff=FAST_BACKOFF, timeout=1.0)
        async with dead.session():
            with pytest.raises(ServerUnreachableError) as info:
                await dead.submit(progress_prompt(), name="nowhere")
            errors.append(str(info.value))
    finally:
        await journal.close()
    assert len(errors) >= 5
    entries = await (await Journal.open(journal_path)).list_executions(full=True)
    assert len(entries) == 2
    captured = capfd.readouterr()
    log_text = log_path.read_text()
    assert "with a token" in log_text  # the log file was written
    for secret in (token, password):
        assert (
            leaks(
                secret,
                ("log file", log_text),
                ("journal", journal_bytes(journal_path)),
                ("journal entries", json.dumps([e.model_dump(mode="json") for e in entries])),
                ("error messages", "\n".join(errors)),
                ("stdout", captured.out),
                ("stderr", captured.err),
            )
            == []
        )


async def test_the_cli_run_with_a_token_leaks_it_nowhere(server: EmbeddedServer, tmp_path: Path) -> None:
    token = new_secret("clitok")
    workflow = tmp_path / "flow.json"
    workflow.write_text(json.dumps(progress_prompt(steps=3, prefix="cli")))
    env = {**os.environ, "COMFY_REALITY_HOME": os.environ["COMFY_REALITY_HOME"]}
    runs = []
    for url in (server.url, "http://127.0.0.1:9"):  # a working server, then a dead one
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "comfy_reality.cli",
            "run",
            str(workflow),
            "--server",
            url,
            "--token",
            token,
            "--output-dir",
            str(tmp_path / "out"),
            "--json",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        runs.append((process.returncode, out, err))
    assert runs[0][0] == 0, runs[0][2].decode(errors="replace")[-2000:]
    assert runs[1][0] != 0
    places: list[tuple[str, bytes | str]] = []
    for index, (_, out, err) in enumerate(runs):
        places += [(f"stdout {index}", out), (f"stderr {index}", err)]
    log_file = paths.log_file()
    if log_file.exists():
        places.append(("log file", log_file.read_bytes()))
    journal_file = paths.journal_file()
    if journal_file.exists():
        places.append(("journal", journal_bytes(journal_file)))
    assert any(
        name.startswith("stdout") and b"cli" in content
        for name, content in places
        if isinstance(content, bytes)
    )
    assert leaks(token, *places) == []


# ------------------------------------------------------------------------------------- TLS
@pytest.fixture
async def tls_server() -> AsyncIterator[str]:
    """An HTTPS + WSS server with a self-signed certificate that no trust store accepts."""

    async def queue(_: web.Request) -> web.Response:
        return web.json_response({"queue_running": [], "queue_pending": []})

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket_ = web.WebSocketResponse()
        await socket_.prepare(request)
        await socket_.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}})
        async for _ in socket_:
            pass
        return socket_

    app = web.Application()
    app.router.add_get("/queue", queue)
    app.router.add_get("/ws", ws)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / "selfsigned-cert.pem", DATA / "selfsigned-key.pem")
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_tls_verification_is_on_by_default() -> None:
    assert ComfyUIAsyncRuntime("https://example.invalid").client.verify_tls is True
    assert ComfyUIAsyncRuntime("https://example.invalid", verify_tls=False).client.verify_tls is False
    assert load_settings(Path("/nonexistent/config.toml")).verify_tls is True


async def test_an_untrusted_certificate_is_refused_by_default(tls_server: str) -> None:
    runtime = ComfyUIAsyncRuntime(tls_server, timeout=5.0, backoff=FAST_BACKOFF)
    async with runtime.client:
        with pytest.raises(ComfyError) as info:
            await runtime.client.get_queue()
    assert "certificate" in str(info.value).lower() or "ssl" in str(info.value).lower()
    with pytest.raises(ServerUnreachableError):
        await runtime.client.connect_websocket(runtime.client_id)


async def test_verify_tls_false_accepts_it_over_http(tls_server: str) -> None:
    runtime = ComfyUIAsyncRuntime(tls_server, timeout=5.0, verify_tls=False, backoff=FAST_BACKOFF)
    async with runtime.client:
        queue = await runtime.client.get_queue()
    assert queue.running == [] and queue.pending == []


async def test_verify_tls_false_accepts_it_over_the_websocket(tls_server: str) -> None:
    runtime = ComfyUIAsyncRuntime(tls_server, timeout=5.0, verify_tls=False, backoff=FAST_BACKOFF)
    ws = await runtime.client.connect_websocket(runtime.client_id)
    await ws.close()
