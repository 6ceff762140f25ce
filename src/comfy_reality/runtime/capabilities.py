"""What one ComfyUI server offers, detected once per client: version, feature flags, jobs API.

Every newer path (jobs listing, targeted cancel) is chosen from what the server answered,
never guessed from a version number. Probes have no side effects: ``GET /api/jobs?limit=1``
and ``POST /api/jobs/cancel`` with an empty id list (a no-op on servers that have it, 404/405
on those that do not). ``partial_execution_targets`` arrived in 0.3.48, before the jobs API.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from pydantic import BaseModel, ConfigDict, Field

from comfy_reality.logs import get_logger

from ..errors import ServerResponseError

if TYPE_CHECKING:
    from .client import ComfyUIClient

log = get_logger("comfy_reality.capabilities")

PARTIAL_EXECUTION_SINCE = (0, 3, 48)
_CACHE: WeakKeyDictionary[ComfyUIClient, ServerCapabilities] = WeakKeyDictionary()


def parse_version(text: Any) -> tuple[int, ...] | None:
    """``"0.3.64"`` -> ``(0, 3, 64)``; ``"v0.38.1-dev"`` -> ``(0, 38, 1)``; nonsense -> None."""
    if not isinstance(text, str):
        return None
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


class ServerCapabilities(BaseModel):
    """The server's generation, as far as the client needs it."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # built when a command first asks

    comfyui_version: str | None = None
    features: dict[str, Any] = Field(default_factory=dict)
    jobs_api: bool = False
    targeted_cancel: bool = False

    @property
    def version(self) -> tuple[int, ...] | None:
        return parse_version(self.comfyui_version)

    @property
    def partial_execution(self) -> bool:
        """Whether POST /prompt honours ``partial_execution_targets`` (unknown version: assume so)."""
        version = self.version
        return self.jobs_api or version is None or version >= PARTIAL_EXECUTION_SINCE

    def summary(self) -> dict[str, Any]:
        """Flat, JSON-ready, for ``stats`` and the app's server details."""
        return {
            "comfyui_version": self.comfyui_version,
            "jobs_api": self.jobs_api,
            "targeted_cancel": self.targeted_cancel,
            "partial_execution": self.partial_execution,
            "preview_metadata": bool(self.features.get("supports_preview_metadata")),
            "feature_flags": sorted(self.features),
        }


async def detect_capabilities(client: ComfyUIClient) -> ServerCapabilities:
    """Ask the server (three to four small requests); see :func:`capabilities` for the cached form."""
    try:  # an unreachable server still raises: nothing else would work either
        stats = await client.get_system_stats()
    except ServerResponseError as exc:
        log.info("system_stats_unavailable", error=str(exc)[:200])
        stats = {}
    system = stats.get("system")
    version = system.get("comfyui_version") if isinstance(system, dict) else None
    try:
        features = await client.features()
    except ServerResponseError:
        features = {}
    jobs_api = await client.has_jobs_api()
    targeted = False
    if jobs_api:
        try:
            response = await client._request(
                "POST", "/api/jobs/cancel", json_body={"job_ids": []}, ok_statuses=(404, 405)
            )
            body = response.json() if response.status_code == 200 else None
            targeted = isinstance(body, dict) and isinstance(body.get("cancelled"), bool)
        except (ServerResponseError, ValueError, RecursionError):
            targeted = False
    found = ServerCapabilities(
        comfyui_version=version if isinstance(version, str) else None,
        features=features,
        jobs_api=jobs_api,
        targeted_cancel=targeted,
    )
    log.info("server_capabilities", **found.summary())
    return found


async def capabilities(client: ComfyUIClient, *, refresh: bool = False) -> ServerCapabilities:
    """The client's server capabilities, detected on first use and kept for the client's life."""
    found = None if refresh else _CACHE.get(client)
    if found is None:
        found = _CACHE[client] = await detect_capabilities(client)
    return found


def forget_capabilities(client: ComfyUIClient) -> None:
    """After a reconnect to what may be another server (an upgrade): detect again on next use."""
    _CACHE.pop(client, None)
    client._jobs_api = None
