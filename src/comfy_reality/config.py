"""Settings: defaults < config file (TOML in the platformdirs config dir) < environment < flags."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .config_sources import DEFAULT_SERVER_URL, check_keymap, check_log_level, read_sources
from .errors import ConfigError
from .safe_text import safe_str
from .url_secrets import redact_url, split_credentials

MAX_KEEP_DAYS = 36_500  # a hundred years: beyond it a date cannot be computed
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


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
        le=MAX_KEEP_DAYS,
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

    def prompt_extra_data(self) -> dict[str, Any]:
        """What goes into every prompt's extra_data: the preview method, unless left to the server."""
        return {} if self.preview_method == "default" else {"preview_method": self.preview_method}

    @field_validator("server_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        value = value.strip()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(
                f"{redact_url(value)!r} is not a URL ({exc}); give it as http://HOST:PORT"
            ) from exc
        host = parts.hostname or ""
        if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
            raise ValueError(
                f"the host name in {redact_url(value)[:80]!r}… is too long "
                "(at most 63 characters between dots, 253 in all)"
            )
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

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return check_log_level(value)

    @field_validator("keymap")
    @classmethod
    def _keymap_syntax(cls, value: dict[str, str]) -> dict[str, str]:
        return check_keymap(value)

    @field_validator("headers")
    @classmethod
    def _legal_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a legal HTTP header name (letters, digits, - and _)")
            if _HEADER_VALUE_FORBIDDEN.search(header):
                raise ValueError(f"the value of header {name!r} holds a control character (line break?)")
        return value

    @model_validator(mode="after")
    def _credentials_out_of_url(self) -> Settings:
        """``http://user:pass@host``: the user info is Basic auth, never part of the shown URL."""
        clean, username, password = split_credentials(self.server_url)
        if clean != self.server_url:
            self.server_url = clean
            if self.username is None and self.password is None:
                self.username = username or ""
                self.password = SecretStr(password or "")
        return self


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from every source; ``overrides`` are flags (None means 'not given')."""
    return validate_settings(*read_sources(config_path, **overrides))


def validate_settings(path: Path, values: dict[str, Any]) -> Settings:
    """The model over the sources' values; ``ConfigError`` names the file and every problem."""
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
        )
        problems = safe_str(redact_url(problems), one_line=True)
        raise ConfigError(f"Invalid settings (config file {path}, environment or flags): {problems}") from exc
