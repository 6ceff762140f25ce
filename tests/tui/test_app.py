"""App-level behaviour: remapped keys, the command palette, worker failures, the log tap, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner

from comfy_reality.config import Settings
from comfy_reality.runtime.models import ConnectionState
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.__main__ import main
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.logtap import LogTap
from comfy_reality.tui.screens.input_form import InputFormScreen
from comfy_reality.tui.widgets import LogPane

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text


async def test_keys_remapped_from_the_config_keymap() -> None:
    async with EmbeddedServer(ServerConfig(port=0, speed=50)) as server:
        settings = Settings(server_url=server.url, keymap={"run": "ctrl+g", "toggle_log": "ctrl+l"})
        app = ComfyRealityApp(settings, bundled_dir=WORKFLOWS, frame_interval=0.005)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(
                pilot,
                lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
            )
            await wait_for(pilot, lambda: bool(app.workflow_files))
            app.browser.option_list.focus()
            app.browser.highlight("progress")
            await pilot.press("r")  # no longer bound
            await pilot.pause()
            assert not app.session.entries
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: bool(app.session.entries), what="a run from the remapped key")
            assert "^g Run" in screen_text(app)
            shown = app.log_pane.display
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: app.log_pane.display != shown)


async def test_command_palette_runs_app_commands_and_workflows() -> None:
    async with EmbeddedServer(ServerConfig(port=0, speed=50)) as server:
        app = ComfyRealityApp(Settings(server_url=server.url), bundled_dir=WORKFLOWS, frame_interval=0.005)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(
                pilot,
                lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
            )
            await wait_for(pilot, lambda: bool(app.workflow_files))
            await pilot.press("ctrl+p")
            await pilot.press(*"run progress")
            await wait_for_text(pilot, "Run progress")
            await pilot.press("enter")
            await wait_for(pilot, lambda: any(e.title == "progress" for e in app.session.entries.values()))
            shown = app.log_pane.display
            await pilot.press("ctrl+p")
            await pilot.press(*"toggle log")
            await wait_for_text(pilot, "Show or hide the log pane")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.log_pane.display != shown)


async def test_a_failing_runtime_worker_is_shown_not_swallowed() -> None:
    def broken(url: str) -> Any:
        raise RuntimeError("could not build the runtime")

    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9"), bundled_dir=WORKFLOWS, runtime_factory=broken
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_text(pilot, "runtime failed: RuntimeError: could not build the runtime")
        assert (
            "not connected to http://127.0.0.1:9: runtime stopped: could not build the runtime"
            in screen_text(app)
        )
        assert app.is_running  # the app stays usable: workflows can still be browsed
        await wait_for(pilot, lambda: any(wf.name == "progress" for wf in app.workflow_files))


async def test_runtime_log_lines_reach_the_log_pane(isolated_home: Path) -> None:
    tap = LogTap()
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9"), bundled_dir=WORKFLOWS, connect=False, log_tap=tap
    )
    async with app.run_test(size=(100, 50)) as pilot:
        assert tap.installed
        structlog.get_logger("test").warning("disk_almost_full", free="2 GiB", token="s3cret-value")
        await wait_for_text(pilot, "disk_almost_full free=2 GiB")
        assert "s3cret-value" not in screen_text(app)  # redacted before it reaches the pane
        assert app.query_one(LogPane).lines_written >= 1
    assert not tap.installed


async def test_form_without_a_catalogue_explains_why() -> None:
    app = ComfyRealityApp(Settings(server_url="http://127.0.0.1:9"), bundled_dir=WORKFLOWS, connect=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        app.object_info = None
        app.browser.highlight("progress")
        await pilot.press("e")
        await wait_for_text(pilot, "needs the server's node catalogue")
        assert not isinstance(app.screen, InputFormScreen)


def test_cli_help_documents_every_option() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for option in ("--server", "--token", "--workflows", "--demo", "--insecure", "--config"):
        assert option in result.output


def test_cli_reports_a_broken_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("server_url = [", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config)])
    assert result.exit_code == 2
    assert f"Cannot read config file {config}" in result.output


def test_cli_gives_the_garbage_collector_back_when_it_stops_before_the_app(tmp_path: Path) -> None:
    """Collections are held while the app starts (until its first freeze); an early exit ends the hold."""
    import gc

    config = tmp_path / "config.toml"
    config.write_text("server_url = [", encoding="utf-8")
    assert gc.isenabled()
    result = CliRunner().invoke(main, ["--config", str(config)])
    assert result.exit_code == 2
    assert gc.isenabled()


def test_cli_help_states_flags_then_environment_then_config() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Precedence: this flag, then $COMFYUI_URL, then the config file's server_url" in text
    assert "--fresh-demo" in text


def test_cli_refuses_a_config_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = CliRunner().invoke(main, ["--config", str(missing)])
    assert result.exit_code == 2
    assert f"--config {missing}: no such file" in result.output


def _app_must_not_start(*_args: Any, **_kwargs: Any) -> None:
    raise AssertionError("the app started despite options that cannot go together")


@pytest.mark.parametrize("demo_flag", ["--fresh-demo", "--demo"])
def test_cli_refuses_a_server_beside_a_demo_and_never_shows_its_password(
    demo_flag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo is its own server: a --server beside it used to be dropped without a word."""
    monkeypatch.setattr(ComfyRealityApp, "run", _app_must_not_start)
    url = "http://user:s3cret@127.0.0.1:9"
    result = CliRunner().invoke(main, [demo_flag, "--server", url])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"{demo_flag} starts its own server on 127.0.0.1, so --server cannot go with it" in text
    assert f"drop --server to try the demo, or drop {demo_flag} to connect to your server" in text
    assert "s3cret" not in result.output
    assert "user" not in result.output


def test_cli_refuses_several_demo_servers_without_a_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ComfyRealityApp, "run", _app_must_not_start)
    result = CliRunner().invoke(main, ["--servers", "3", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "--servers 3 starts that many demo servers and needs --demo or --fresh-demo" in text
    assert "repeat --server URL instead" in text


class _StubRuntime:
    """Just what saving outputs needs: executions, a status and downloads (no server)."""

    def __init__(self, execution: Any) -> None:
        from comfy_reality.runtime.models import ServerStatus

        self.executions = {execution.id: execution}
        self.status = ServerStatus(url="http://stub", state=ConnectionState.CONNECTED)
        self.downloads: list[str] = []

    async def download_output(self, file: Any) -> bytes:
        self.downloads.append(file.filename)
        return b"\x89PNG fake"


async def test_saving_outputs_refuses_server_names_that_escape_the_folder(tmp_path: Path) -> None:
    from comfy_reality.runtime.models import OutputFile, TaskStatus, WorkflowExecution

    execution = WorkflowExecution(
        workflow_id="w",
        name="w",
        status=TaskStatus.COMPLETED,
        output_files=[
            OutputFile(node_id="9", filename="../../outside.png"),
            OutputFile(node_id="9", filename="/etc/passwd"),
            OutputFile(node_id="9", filename="fine.png", subfolder="batch"),
        ],
    )
    app = ComfyRealityApp(Settings(server_url="http://stub"), bundled_dir=WORKFLOWS, connect=False)
    async with app.run_test(size=(100, 30)) as pilot:
        stub = _StubRuntime(execution)
        app.runtime = stub
        target = tmp_path / "outs"
        app.main_screen.save_outputs_to(execution.id, target)
        await wait_for_text(pilot, f"Saved 1 file(s) to {target}; refused 2 unsafe name(s)")
        assert stub.downloads == ["fine.png"]  # refused names are never even fetched
    assert sorted(
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file() and "comfy-reality-home" not in p.parts
    ) == ["outs/batch/fine.png"]


async def test_main_screen_keys_do_nothing_behind_the_form() -> None:
    from tests.tui.scenes import demo_object_info

    app = ComfyRealityApp(Settings(server_url="http://127.0.0.1:9"), bundled_dir=WORKFLOWS, connect=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        app.object_info = demo_object_info()
        app.browser.highlight("progress")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen))
        switch = next(w for w in app.screen.query(".field-editor") if type(w).__name__ == "Switch")
        switch.focus()
        shown = app.log_pane.display
        await pilot.press("r", "l", "x", "slash")
        await pilot.pause()
        assert isinstance(app.screen, InputFormScreen)
        assert app.log_pane.display == shown
        assert "Not connected" not in screen_text(app)  # "r" did not try to run anything
        assert " r Run" not in screen_text(app)  # and the footer does not offer it
