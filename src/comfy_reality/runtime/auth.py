"""Credentials for a ComfyUI server behind a login (ComfyUI-Login, a reverse proxy, ...).

The same credentials go on every HTTP request *and* on the WebSocket handshake: a proxy that
guards ``/prompt`` guards ``/ws`` too. Secret values are registered with the log redactor the
moment an :class:`Auth` is built, so they never reach a log line.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..logs import register_secret

_SECRET_HEADER = re.compile(r"(auth|token|cookie|key|secret|session)", re.I)


class Auth(BaseModel):
    """Bearer token, basic auth, extra headers, or ``?token=`` in the query (ComfyUI-Login)."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # most servers need none: built when one does

    token: str | None = Field(default=None, repr=False)
    token_in_query: bool = False
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)

    @model_validator(mode="after")
    def _register_secrets(self) -> Auth:
        register_secret(self.token)
        register_secret(self.password)
        if self.username is not None and self.password is not None:
            register_secret(self._basic_value())
        for name, value in self.headers.items():
            if _SECRET_HEADER.search(name):
                register_secret(value)
                # "Bearer xyz": the bare token must be masked too.
                register_secret(value.split(" ", 1)[-1])
        return self

    def _basic_value(self) -> str:
        raw = f"{self.username or ''}:{self.password or ''}".encode()
        return base64.b64encode(raw).decode("ascii")

    def http_headers(self) -> dict[str, str]:
        """Headers for HTTP requests and the WebSocket handshake alike."""
        headers: dict[str, str] = {}
        if self.username is not None and self.password is not None:
            headers["Authorization"] = f"Basic {self._basic_value()}"
        if self.token and not self.token_in_query:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(self.headers)
        return headers

    def query_params(self) -> dict[str, str]:
        return {"token": self.token} if self.token and self.token_in_query else {}

    @classmethod
    def from_settings(cls, settings: Any) -> Auth | None:
        """Build from :class:`comfy_reality.config.Settings` (None when nothing is set)."""
        token = settings.token.get_secret_value() if getattr(settings, "token", None) else None
        password = settings.password.get_secret_value() if getattr(settings, "password", None) else None
        username = getattr(settings, "username", None)
        headers = dict(getattr(settings, "headers", {}) or {})
        if not (token or username or password or headers):
            return None
        return cls(
            token=token,
            token_in_query=bool(getattr(settings, "token_in_query", False)),
            username=username,
            password=password,
            headers=headers,
        )
