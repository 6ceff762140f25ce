"""Settings: defaults < config file (TOML in the platformdirs config dir) < environment < flags."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from . import paths

DEFAULT_SERVER_URL = "http://127.0.0.1:8188"


class ConfigError(Exception):
    """The config file is unreadable or invalid; the message says which file and which key."""


class Settings(BaseModel):
    """Everything a user can set. Secrets are SecretStr so they never print by accident."""

    model_config = ConfigDict(extra="forbid")

    server_url: str = DEFAULT_SERVER_URL
    token: SecretStr | None = None
    token_in_query: bool = Field(
        default=False, description="Send the token as ?token= (ComfyUI-Login) instead of a bearer header."
    )
    username: str | None = None
    password: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True
    timeout: float = Field(default=30.0, gt=0)
    workflow_dirs: list[Path] = Field(default_factory=list)
    output_dir: Path | None = None
    log_level: str = "info"
    keymap: dict[str, str] = Field(
        default_factory=dict, description="Binding id -> key(s), e.g. run = 'ctrl+r'."
    )
    correct_frontend_defects: bool = Field(
        default=False,
        description=(
            "Convert web-UI workflows by what they mean where ComfyUI's frontend 1.27.10 gets it wrong "
            "(legacy group nodes, bypassed or muted subgraphs) instead of exactly as the browser would."
        ),
    )
    images: Literal["auto", "kitty", "sixel", "halfblock", "off"] = Field(
        default="auto",
        description=(
            "How the app and `run --show` draw pictures: auto asks the terminal (Kitty graphics, Sixel, "
            "else half blocks); off draws and decodes none."
        ),
    )
    preview_method: Literal["default", "none", "auto", "latent2rgb", "taesd"] = Field(
        default="auto",
        description=(
            "Sampler previews asked of the server with each prompt (extra_data.preview_method); "
            "default leaves it to the server's --preview-method. Servers before late 2025 ignore it."
        ),
    )
    journal_keep_days: int = Field(
        default=90,
        ge=0,
        description="Finished executions older than this many days leave the journal when it opens; 0 keeps all.",
    )

    def prompt_extra_data(self) -> dict[str, Any]:
        """What goes into every prompt's extra_data: the preview method, unless left to the server."""
        return {} if self.preview_method == "default" else {"preview_method": self.preview_method}

    @field_validator("server_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from every source; ``overrides`` are flags (None means 'not given')."""
    path = config_path or paths.config_file()
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"Cannot read config file {path}: {exc}. Fix or remove it.") from exc
    if url := os.environ.get("COMFYUI_URL"):
        values["server_url"] = url
    if token := os.environ.get("COMFYUI_TOKEN"):
        values["token"] = token
    values.update({k: v for k, v in overrides.items() if v is not None and v != () and v != []})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"Invalid settings (config file {path}, environment or flags): {problems}") from exc
