"""Both commands start the same way, and the embedded server has one command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from comfy_reality import logs, startup


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("COMFY_REALITY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COMFYUI_URL", raising=False)
    monkeypatch.delenv("COMFYUI_TOKEN", raising=False)
    yield tmp_path
    logs.close_log_file()
    structlog.reset_defaults()


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
    assert "startup.start_logging" in inspect.getsource(tui_main.main.callback)  # type: ignore[arg-type]


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
