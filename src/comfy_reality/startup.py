"""The one start-up path of both commands (``comfy-reality`` and ``comfy-reality-tui``).

Settings come from flags over the environment over the config file; every secret in them is
registered with the log redactor before the first log line can be written; logging goes to the
app's JSON-lines file (never the terminal, which belongs to the TUI or to machine-readable output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Settings, load_settings
from .logs import configure_logging, register_secret


def load(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from every source; ``overrides`` are flags (None: not given). Raises ``ConfigError``."""
    return load_settings(config_path, **overrides)


def guard_secrets(settings: Settings) -> None:
    """Mask the token and the password wherever they would show up in a log line."""
    secrets = [settings.token, settings.password]
    for server in settings.servers:
        secrets += [server.token, server.password]
    for secret in secrets:
        if secret is not None:
            register_secret(secret.get_secret_value())


def start_logging(settings: Settings | None = None) -> Path:
    """Guard the settings' secrets, then log at their level (``info`` without settings) to the log file.

    Returns the log file's path; raises ``OSError`` when it cannot be opened.
    """
    if settings is not None:
        guard_secrets(settings)
    return configure_logging(level=settings.log_level if settings is not None else "info")
