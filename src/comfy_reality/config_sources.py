"""The settings' sources (config file, environment, flags) read without pydantic, and what the TUI's
first frame may take from them before the settings model has validated them.

:func:`comfy_reality.config.load_settings` reads the sources here and validates them with the
model, as every command does. ``comfy-reality-tui`` draws its first frame before loading pydantic
(about 60 ms of a cold start): :class:`PendingSettings` holds the sources until the app validates
them, right after that frame and before any of their values is used for anything else. The few
values the first frame needs are checked here by the same rules the model applies; when one of
them does not pass, the app validates everything before it starts, so the user gets the model's
own error message exactly as before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths
from .errors import ConfigError
from .url_secrets import split_credentials

if TYPE_CHECKING:
    from .config import Settings

DEFAULT_SERVER_URL = "http://127.0.0.1:8188"
IMAGE_MODES = ("auto", "kitty", "sixel", "halfblock", "off")
"""The ``images`` setting's values (the model's Literal; a test keeps the two the same)."""
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_BINDING_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_KEY = re.compile(r"[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*")
_SECRET_KEYS = ("token", "password")


def read_sources(config_path: Path | None = None, **overrides: Any) -> tuple[Path, dict[str, Any]]:
    """The config file's path and the raw values: file < environment < flags (None: not given).

    Raises ``ConfigError`` when the file cannot be read or is not TOML."""
    path = config_path or paths.config_file()
    values: dict[str, Any] = {}
    if path.exists():
        import tomllib  # only with a config file to read

        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"Cannot read config file {path}: {exc}. Fix or remove it.") from exc
    if url := os.environ.get("COMFYUI_URL"):
        values["server_url"] = url
    if token := os.environ.get("COMFYUI_TOKEN"):
        values["token"] = token
    values.update({k: v for k, v in overrides.items() if v is not None and v != () and v != []})
    return path, values


def check_log_level(value: str) -> str:
    """The level in lower case; ``ValueError`` for an unknown one (the model's rule)."""
    if value.lower() not in LOG_LEVELS:
        raise ValueError(f"unknown log level {value!r}; use one of {', '.join(LOG_LEVELS)}")
    return value.lower()


def check_keymap(value: dict[str, str]) -> dict[str, str]:
    """``ValueError`` for a binding id or a key that cannot be one (the model's rule)."""
    for binding_id, keys in value.items():
        if not _BINDING_ID.fullmatch(binding_id):
            raise ValueError(
                f"{binding_id!r} is not a binding id (the ids are listed in the help screen, F1)"
            )
        tokens = [token.strip() for token in keys.split(",")]
        for token in tokens:
            if not (_KEY.fullmatch(token) or (len(token) == 1 and token.isprintable() and token != " ")):
                raise ValueError(
                    f"{binding_id} = {keys!r}: {token!r} is not a key; write keys like 'ctrl+r', 'f5' or "
                    "'r', several separated by commas"
                )
    return value


@dataclass(frozen=True, slots=True)
class FirstFrameSettings:
    """What the TUI needs before its first frame: the server's URL as it is shown, how to draw
    pictures, the keys, the log level and the secrets the log must mask. Each value passed the
    model's own rule for it (the URL is only drawn: it is used once validated)."""

    server_url: str = DEFAULT_SERVER_URL
    images: str = "auto"
    keymap: dict[str, str] = field(default_factory=dict)
    log_level: str = "info"
    secrets: tuple[str, ...] = ()


def first_frame_settings(values: dict[str, Any]) -> FirstFrameSettings | None:
    """The first frame's values, or None when one of them (or a secret) is not plainly valid."""
    images = values.get("images", "auto")
    log_level = values.get("log_level", "info")
    keymap = values.get("keymap", {})
    if not isinstance(images, str) or images not in IMAGE_MODES or not isinstance(log_level, str):
        return None
    if not isinstance(keymap, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keymap.items()
    ):
        return None
    url = values.get("server_url", DEFAULT_SERVER_URL)
    if not isinstance(url, str):
        return None
    try:
        # As the model leaves it: spaces and the trailing slash gone, the user info out of the URL.
        shown_url, _user, password = split_credentials(url.strip().rstrip("/"))
        secrets = _secrets(values, password)
        if secrets is None:
            return None
        return FirstFrameSettings(
            shown_url, images, check_keymap(dict(keymap)), check_log_level(log_level), secrets
        )
    except ValueError:
        return None  # not a URL, or a key or level the model refuses: it will say so


def _secrets(values: dict[str, Any], url_password: str | None) -> tuple[str, ...] | None:
    """Every token and password (the pool's too, and ``url_password``, the server URL's); None
    when one is not a string (the model will say so)."""
    tables = [values, *(values.get("servers") or [])]
    if not isinstance(values.get("servers", []), list) or not all(isinstance(t, dict) for t in tables):
        return None
    found: list[str] = []
    for table in tables:
        for key in _SECRET_KEYS:
            secret = table.get(key)
            if secret is None:
                continue
            if not isinstance(secret, str):
                return None
            found.append(secret)
    if url_password:
        found.append(url_password)
    return tuple(found)


class PendingSettings:
    """The settings' sources, read; validated by the model on :meth:`validate` (once)."""

    def __init__(self, path: Path, values: dict[str, Any]) -> None:
        self.path = path
        self.values = values
        self.first_frame = first_frame_settings(values)
        """What the first frame may use before :meth:`validate`; None: validate before the app starts."""
        self._settings: Settings | None = None

    def validate(self) -> Settings:
        """The settings model (pydantic loads here); raises ``ConfigError`` as ``load_settings`` does."""
        if self._settings is None:
            from .config import validate_settings

            self._settings = validate_settings(self.path, self.values)
        return self._settings


def read_pending(config_path: Path | None = None, **overrides: Any) -> PendingSettings:
    """:func:`read_sources` kept for the model to validate later; raises ``ConfigError`` as it does."""
    return PendingSettings(*read_sources(config_path, **overrides))
