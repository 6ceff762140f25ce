"""Both commands start the same way, and the embedded server has one command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from comfy_reality import logs, startup


def test_start_up_masks_the_token_and_the_password_in_the_log(tmp_path: Path) -> None:
    settings = startup.load(token="tok-secret-1234", password="pw-secret-5678")
    log_path = startup.start_logging(settings)
    structlog.get_logger("test").warning("leak", token="tok-secret-1234", auth="pw-secret-5678")
    logs.close_log_file()
    text = log_path.read_text(encoding="utf-8")
    assert "leak" in text
    assert "tok-secret-1234" not in text and "pw-secret-5678" not in text


def test_both_commands_go_through_the_start_up_module() -> None:
    import inspect

    from comfy_reality.cli import _common
    from comfy_reality.tui import __main__ as tui_main

    assert "startup.start_logging" in inspect.getsource(_common.setup_logging)
    assert "_open_app(" in inspect.getsource(tui_main.main.callback)  # type: ignore[arg-type]
    assert "startup.start_logging" in inspect.getsource(tui_main._open_app)


def test_python_m_server_is_the_comfy_reality_server_command() -> None:
    from comfy_reality.cli.server import server

    result = CliRunner().invoke(server, ["--help"])
    assert result.exit_code == 0
    assert "--data-dir" in result.output and "--speed" in result.output
    bad = CliRunner().invoke(server, ["--speed", "0"])
    assert bad.exit_code == 2 and "--speed must be greater than 0" in bad.output


def test_the_module_entry_runs_the_click_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from comfy_reality.cli import server as cli_server
    from comfy_reality.server import __main__ as entry

    seen: dict[str, object] = {}

    def fake_serve(**kwargs: object) -> None:
        seen.update(kwargs)

    monkeypatch.setattr("comfy_reality.server.serve", fake_serve)
    with pytest.raises(SystemExit) as done:
        entry.main(["--port", "0", "--speed", "2", "--data-dir", "somewhere"])
    assert done.value.code == 0
    assert seen == {
        "host": "127.0.0.1",
        "port": 0,
        "speed": 2.0,
        "data_dir": Path("somewhere"),
        "api": "0.3.64",
        "preview_method": "auto",
    }
    assert cli_server.server.name == "server"


LOG_CALLS = r"""
import sys
from pathlib import Path

from comfy_reality import logs

logs.register_secret("tok-secret-1234")
logs.configure_logging(level="info", log_path=Path(sys.argv[1]))
log = logs.get_logger("comfy_reality.test")
log.debug("hidden", detail="below the level")
log.info("plain", count=3, ratio=0.5, flag=True, missing=None, items=[1, "two"], nested={"token": "x", "n": 1})
log.warning("leak", token="tok-secret-1234", url="http://user:pw@example.invalid:8188/x", note="has tok-secret-1234")
log.warning("formatted %s of %d", "three", 4)
log.info("odd value", path=Path("/tmp/example"), obj=object.__new__(type("Odd", (), {"__repr__": lambda s: "<odd>"})))
try:
    raise ValueError("boom")
except ValueError:
    log.exception("failed", where="here")
log.error("no traceback", exc_info=False)
log.critical("end")
print("STRUCTLOG" if "structlog" in sys.modules else "NO-STRUCTLOG")
"""


def _without_timestamps(path: Path) -> list[dict[str, object]]:
    import json

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        assert str(line.pop("timestamp")).endswith("Z")
    return lines


def test_the_file_log_without_structlog_writes_what_structlog_writes(tmp_path: Path) -> None:
    """The run path logs without importing structlog; its lines must be structlog's, byte for byte
    apart from the time (same keys, order, level names, redaction, exception text)."""
    import subprocess
    import sys

    script = tmp_path / "log_calls.py"
    script.write_text(LOG_CALLS, encoding="utf-8")
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    done = subprocess.run(
        [sys.executable, str(script), str(fast)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "NO-STRUCTLOG"
    # The same calls with structlog imported first: the configuration goes to structlog.
    forced = subprocess.run(
        [
            sys.executable,
            "-c",
            "import structlog, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
            str(script),
            str(slow),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert forced.stdout.strip() == "STRUCTLOG"
    fast_lines, slow_lines = _without_timestamps(fast), _without_timestamps(slow)
    assert fast_lines == slow_lines
    assert [line["event"] for line in fast_lines] == [
        "plain",
        "leak",
        "formatted three of 4",
        "odd value",
        "failed",
        "no traceback",
        "end",
    ]
    text = fast.read_text(encoding="utf-8")
    assert "tok-secret-1234" not in text and "user:pw" not in text
    assert "ValueError: boom" in fast_lines[4]["exception"]  # type: ignore[operator]
    # Key order is part of the format: the call's keys, then event, level, timestamp.
    first = fast.read_text(encoding="utf-8").splitlines()[0]
    assert (
        first.index('"count"') < first.index('"event"') < first.index('"level"') < first.index('"timestamp"')
    )


def test_structlog_users_get_the_file_log_once_structlog_is_wanted(tmp_path: Path) -> None:
    """Code that uses structlog directly (the TUI's log tap) asks for the configuration first."""
    import subprocess
    import sys

    path = tmp_path / "app.jsonl"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from comfy_reality import logs\n"
        "logs.configure_logging(log_path=Path(sys.argv[1]))\n"
        "logs.get_logger('a').info('before')\n"
        "assert 'structlog' not in sys.modules\n"
        "logs.ensure_structlog()\n"
        "import structlog\n"
        "assert structlog.is_configured() and logs.is_configured()\n"
        "structlog.get_logger('b').info('direct', token='tok-secret-9999')\n"
        "logs.get_logger('a').info('after')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    lines = _without_timestamps(path)
    assert [line["event"] for line in lines] == ["before", "direct", "after"]
    assert lines[1]["token"] == "***"


def test_the_tui_app_imports_no_http_stack_journal_or_structlog_before_its_first_frame() -> None:
    """Paint first: the runtime's HTTP and WebSocket libraries, the journal (SQLite) and structlog
    load once the panes are on the screen (the backend's jobs, the log tap), not with the app."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from comfy_reality.tui.app import ComfyRealityApp\n"
        "heavy = ('httpx', 'websockets', 'structlog', 'sqlite3', 'aiohttp', 'comfy_reality.journal',\n"
        "         'comfy_reality.runtime.pool', 'comfy_reality.runtime.client')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == []


_FIRST_FRAME_CHILD = r"""
import asyncio, json, sys
from pathlib import Path
from comfy_reality.tui.gc_tuning import hold_collections
hold_collections()
from comfy_reality import startup
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.logtap import LogTap

HEAVY = ('httpx', 'websockets', 'structlog', 'sqlite3', 'aiohttp', 'comfy_reality.journal',
         'comfy_reality.runtime.pool', 'comfy_reality.runtime.client', 'comfy_reality.runtime.printer',
         'comfy_reality.workflows.convert', 'rich.traceback', 'pygments', 'rich._emoji_codes',
         'pydantic', 'importlib.metadata', 'comfy_reality.config', 'comfy_reality.runtime.models',
         # dialogs and helpers of actions, loaded on their first use
         'comfy_reality.tui.screens.confirm_quit', 'comfy_reality.tui.screens.name_prompt',
         'comfy_reality.tui.screens.save_outputs', 'comfy_reality.tui.clipboard', 'comfy_reality.runtime.outputs')
seen = {}

async def main():
    settings = startup.read(None, server_url="http://127.0.0.1:9")
    startup.start_logging(settings.first_frame)
    app = ComfyRealityApp(settings, connect=False, bundled_dir=Path(sys.argv[1]), log_tap=LogTap(),
                          freeze_long_lived=True)
    display = app._display

    def first_frame(screen, renderable):
        display(screen, renderable)
        if renderable is not None and "first" not in seen:
            seen["first"] = sorted(m for m in HEAVY if m in sys.modules)

    app._display = first_frame
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.workflow_files or app.journal is None:
            await pilot.pause(0.01)
        await pilot.pause()
        seen["settled"] = sorted(m for m in ("structlog", "rich.traceback", "pygments") if m in sys.modules)
        seen["journal"] = "comfy_reality.journal" in sys.modules
        seen["validated"] = app._settings is not None  # by the app itself, once the first frame was up

asyncio.run(main())
print(json.dumps(seen))
"""


def test_the_tui_first_frame_is_drawn_before_the_http_stack_journal_and_converter_load(
    tmp_path: Path,
) -> None:
    """Started as ``comfy-reality-tui`` starts it in a terminal (settings' sources read, file log, log
    tap): the first frame is on the screen before pydantic with the settings and task models, the
    HTTP and WebSocket libraries, the journal (SQLite) and the UI converter load, and before Rich's
    emoji table (a str label parsed as markup loads it); structlog (with Rich's traceback and
    Pygments) never loads for the log pane."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "COMFY_REALITY_HOME": str(tmp_path)}
    bundled = Path(__file__).parent / "tui" / "fixtures" / "workflows"
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_FRAME_CHILD, str(bundled)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first"] == []
    assert seen["journal"] is True  # opened after the first frame, as it should be
    assert seen["validated"] is True
    assert seen["settled"] == []


def test_the_log_tap_sees_the_file_log_without_structlog_and_with_it(tmp_path: Path) -> None:
    """The TUI's log pane taps the file log's writer (no structlog import), and keeps tapping once
    structlog is in use."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from comfy_reality import logs\n"
        "from comfy_reality.tui.logtap import LogTap\n"
        "logs.configure_logging(log_path=Path(sys.argv[1]))\n"
        "tap = LogTap()\n"
        "tap.install()\n"
        "logs.get_logger('a').info('before', token='tok-secret-1234')\n"
        "logs.get_logger('a').debug('hidden')\n"
        "assert 'structlog' not in sys.modules\n"
        "assert [line.text for line in tap.drain()] == ['before token=***'], 'fast path'\n"
        "logs.ensure_structlog()\n"
        "import structlog\n"
        "structlog.get_logger('b').warning('direct', free='2 GiB')\n"
        "assert [line.text for line in tap.drain()] == ['direct free=2 GiB'], 'structlog chain'\n"
        "tap.uninstall()\n"
        "logs.get_logger('a').info('after')\n"
        "assert tap.drain() == []\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "app.jsonl")], check=True, timeout=60)


def test_modules_log_through_logs_get_logger_not_structlog() -> None:
    """structlog imported directly after the file log is set up would be unconfigured (lines on the
    terminal); every module logs through ``logs.get_logger``, which installs the configuration."""
    import re

    import comfy_reality

    root = Path(comfy_reality.__file__).parent
    allowed = {root / "logs.py"}  # it installs the file log's configuration first
    direct = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path not in allowed
        and re.search(r"^\s*(import structlog|from structlog)", path.read_text("utf-8"), re.M)
    ]
    assert direct == []
