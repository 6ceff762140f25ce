"""Suite-wide fixtures. Every test gets its own app home, so nothing touches the user's real dirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from comfy_reality import logs

FIXTURES = Path(__file__).parent / "fixtures"
PROTOCOL_FIXTURES = FIXTURES / "protocol"
CONVERSION_FIXTURES = FIXTURES / "conversion"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "comfy-reality-home"
    monkeypatch.setenv("COMFY_REALITY_HOME", str(home))
    monkeypatch.delenv("COMFYUI_URL", raising=False)
    monkeypatch.delenv("COMFYUI_TOKEN", raising=False)
    return home


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults, so no test logs into another's closed file."""
    yield
    structlog.reset_defaults()
    logs.close_log_file()
