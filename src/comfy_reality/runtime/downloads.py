"""GET /view with retries: an output is reported missing only after the server kept saying so.

A dropped connection, a time-out, a 5xx or a 404 can be passing (a proxy restarting, a server
busy writing the file, a network share catching up), so each is tried again with a growing
pause before the error reaches the user. A refusal that will not change (401/403, 400) is not
retried.
"""

from __future__ import annotations

import asyncio

from comfy_reality.logs import get_logger

from ..errors import ServerResponseError, ServerUnreachableError
from .client import ComfyUIClient

__all__ = ["DOWNLOAD_ATTEMPTS", "view_with_retry"]

log = get_logger("comfy_reality.runtime.downloads")

DOWNLOAD_ATTEMPTS = 4
FIRST_PAUSE = 0.25  # then 0.5 s, 1 s: under two seconds in all before an output is called missing


def _passing(exc: ServerUnreachableError | ServerResponseError) -> bool:
    if isinstance(exc, ServerUnreachableError):
        return True
    return exc.status_code is None or exc.status_code == 404 or exc.status_code >= 500


async def view_with_retry(
    client: ComfyUIClient,
    filename: str,
    subfolder: str = "",
    type: str = "output",
    *,
    attempts: int = DOWNLOAD_ATTEMPTS,
    first_pause: float | None = None,
) -> bytes:
    """The file's bytes; the last error once ``attempts`` tries failed (or at once when final)."""
    pause = FIRST_PAUSE if first_pause is None else first_pause
    for attempt in range(1, attempts + 1):
        try:
            return await client.view(filename, subfolder, type)
        except (ServerUnreachableError, ServerResponseError) as exc:
            if attempt >= attempts or not _passing(exc):
                raise
            log.info("view_retry", filename=filename, attempt=attempt, reason=str(exc)[:200], pause=pause)
        await asyncio.sleep(pause)
        pause *= 2
    raise AssertionError("unreachable")  # the loop returns or raises
