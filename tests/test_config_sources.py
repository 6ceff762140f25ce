"""The settings' sources read without pydantic: what the TUI's first frame may take from them, and
that the model still validates the same values with the same messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import structlog

from comfy_reality import logs, startup
from comfy_reality.config import Settings, load_settings
from comfy_reality.config_sources import IMAGE_MODES, FirstFrameSettings, first_frame_settings, read_pending
from comfy_reality.errors import ConfigError


def test_the_image_modes_are_the_models() -> None:
    assert get_args(Settings.model_fields["images"].annotation) == IMAGE_MODES


def test_the_first_frame_takes_the_url_as_the_model_leaves_it_and_every_secret() -> None:
    first = first_frame_settings(
        {
            "server_url": " http://alice:pw-in-url@127.0.0.1:9/ ",
            "token": "tok-top-1234",
            "servers": [{"url": "http://a:1", "password": "pw-pool-5678"}],
            "images": "off",
            "keymap": {"run": "ctrl+r"},
            "log_level": "DEBUG",
        }
    )
    assert first == FirstFrameSettings(
        server_url="http://127.0.0.1:9",
        images="off",
        keymap={"run": "ctrl+r"},
        log_level="debug",
        secrets=("tok-top-1234", "pw-pool-5678", "pw-in-url"),
    )
    model = load_settings(
        Path("none.toml"), server_url=" http://alice:pw-in-url@127.0.0.1:9/ ", images="off", log_level="DEBUG"
    )
    assert (model.server_url, model.images, model.log_level) == (first.server_url, "off", "debug")


@pytest.mark.parametrize(
    "values",
    [
        {"images": "retina"},
        {"images": 3},
        {"log_level": "loud"},
        {"keymap": {"run": "ctrl+"}},
        {"keymap": {"bad id!": "r"}},
        {"keymap": {"run": 3}},
        {"token": 1234},
        {"servers": [{"url": "http://a:1", "password": ["x"]}]},
        {"servers": "http://a:1"},
        {"server_url": "http://[::1"},
        {"server_url": 8188},
    ],
    ids=repr,
)
def test_a_value_the_first_frame_needs_that_the_model_would_refuse_means_no_early_frame(
    values: dict[str, Any],
) -> None:
    """Then the model validates before the app starts and its own message reaches the user."""
    assert first_frame_settings(values) is None
    with pytest.raises(ConfigError):
        load_settings(Path("none.toml"), **values)


def test_pending_settings_validate_with_the_models_message(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("timeout = -1\n", encoding="utf-8")
    pending = read_pending(config)
    assert pending.first_frame is not None  # nothing the first frame uses is wrong
    with pytest.raises(ConfigError) as early:
        load_settings(config)
    with pytest.raises(ConfigError) as late:
        pending.validate()
    assert str(late.value) == str(early.value)
    assert "timeout" in str(late.value)


def test_an_unreadable_config_file_is_reported_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("server_url = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="Cannot read config file"):
        startup.read(config)


def test_the_first_frames_secrets_are_masked_in_the_log_before_validation() -> None:
    pending = startup.read(server_url="http://alice:pw-url-4321@127.0.0.1:9", token="tok-secret-1234")
    assert pending.first_frame is not None
    log_path = startup.start_logging(pending.first_frame)
    structlog.get_logger("test").warning("leak", token="tok-secret-1234", url="pw-url-4321")
    logs.close_log_file()
    text = log_path.read_text(encoding="utf-8")
    assert "leak" in text
    assert "tok-secret-1234" not in text and "pw-url-4321" not in text


def test_the_start_up_modules_the_first_frame_uses_load_no_pydantic() -> None:
    code = (
        "import sys\n"
        "from comfy_reality import startup\n"
        "pending = startup.read(server_url='http://127.0.0.1:9')\n"
        "startup.start_logging(pending.first_frame)\n"
        "assert 'pydantic' not in sys.modules, 'pydantic'\n"
        "pending.validate()\n"
        "assert 'pydantic' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
