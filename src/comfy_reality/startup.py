"""The one start-up path of both commands (``comfy-reality`` and ``comfy-reality-tui``).

Settings come from flags over the environment over the config file; every secret in them is
registered with the log redactor before the first log line can be written; logging goes to the
app's JSON-lines file (never the terminal, which belongs to the TUI or to machine-readable output).
``comfy-reality-tui`` reads the sources first (:func:`read`) and validates them with the model
right after its first frame (pydantic is not on that frame's path).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config_sources import FirstFrameSettings, PendingSettings, read_pending
from .logs import configure_logging, register_secret

if TYPE_CHECKING:
    from .config import Settings


def load(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from every source; ``overrides`` are flags (None: not given). Raises ``ConfigError``."""
    from .config import load_settings

    return load_settings(config_path, **overrides)


def read(config_path: Path | None = None, **overrides: Any) -> PendingSettings:
    """Every source read, not yet validated (:meth:`PendingSettings.validate`). Raises ``ConfigError``
    when the config file cannot be read."""
    return read_pending(config_path, **overrides)


def guard_secrets(settings: Settings | FirstFrameSettings) -> None:
    """Mask the token and the password wherever they would show up in a log line."""
    if isinstance(settings, FirstFrameSettings):
        for raw in settings.secrets:
            if raw:
                register_secret(raw)
        return
    secrets = [settings.token, settings.password]
    for server in settings.servers:
        secrets += [server.token, server.password]
    for secret in secrets:
        if secret is not None:
            register_secret(secret.get_secret_value())


def start_logging(settings: Settings | FirstFrameSettings | None = None) -> Path:
    """Guard the settings' secrets, then log at their level (``info`` without settings) to the log file.

    Returns the log file's path; raises ``OSError`` when it cannot be opened.
    """
    if settings is not None:
        guard_secrets(settings)
    return configure_logging(level=settings.log_level if settings is not None else "info")
