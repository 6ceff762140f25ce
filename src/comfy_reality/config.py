"""Settings: defaults < config file (TOML in the platformdirs config dir) < environment < flags."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from . import paths
from .errors import ConfigError

DEFAULT_SERVER_URL = "http://127.0.0.1:8188"


class ServerEntry(BaseModel):
    """One server of a pool (a ``[[servers]]`` table); its own credentials, weight and switch."""

    model_config = ConfigDict(extra="forbid")

    url: str
    name: str | None = Field(default=None, description="Short name for --server NAME and the app.")
    token: SecretStr | None = None
    token_in_query: bool = False
    username: str | None = None
    password: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    weight: float = Field(default=1.0, gt=0, description="Relative speed: a server twice as fast gets 2.")
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


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
    journal_keep_days: int = Field(
        default=90,
        ge=0,
        description="Finished executions older than this many days leave the journal when it opens; 0 keeps all.",
    )

    servers: list[ServerEntry] = Field(
        default_factory=list,
        description="Several servers ([[servers]] tables); empty: server_url alone, as ever.",
    )
    failover_after: float = Field(
        default=15.0, gt=0, description="Seconds of failed reconnects before a pooled server counts as down."
    )
    retry_lost: bool = Field(
        default=False, description="Submit a prompt that was running on a server that went down elsewhere."
    )

    @field_validator("server_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def pool_entries(self) -> list[ServerEntry]:
        """The servers to use: the ``[[servers]]`` tables, or ``server_url`` with the top-level credentials."""
        if self.servers:
            return list(self.servers)
        return [
            ServerEntry(
                url=self.server_url,
                token=self.token,
                token_in_query=self.token_in_query,
                username=self.username,
                password=self.password,
                headers=dict(self.headers),
            )
        ]


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
