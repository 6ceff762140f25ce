"""HTTP + WebSocket transport for one ComfyUI server (usable on its own, without the runtime).

Every endpoint maps transport failures onto the runtime's error tree: connection problems
become :class:`ServerUnreachableError`, time-outs :class:`ServerTimeoutError`, 5xx or bodies
that are not the JSON we need :class:`ServerResponseError`, and a 400 from ``POST /prompt``
:class:`PromptValidationError` with the server's per-node errors. Message shapes and
quirks follow the real server's recorded transcripts in ``tests/fixtures/protocol``.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from ..errors import (
    PromptValidationError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
)
from ..logs import get_logger, redact_text, register_secret
from ..url_secrets import split_credentials
from .auth import Auth
from .protocol import feature_flags_frame
from .read_coalescing import CoalescingConnection
from .tls import verifying_context

log = get_logger("comfy_reality.client")

DEFAULT_SERVER_URL = "http://127.0.0.1:8188"
WS_MAX_SIZE = 64 * 1024 * 1024  # large previews (type 4 frames of big images) must not kill the socket
_SECRET_PARAM = re.compile(r"(token|key|auth|secret|password|session)", re.I)


MIB = 1024 * 1024
ERROR_BODY_BYTES = 64 * 1024  # only the start of an error body is ever shown
# What a real server sends, with a wide margin; anything bigger is refused, not read.
RESPONSE_CAPS: dict[str, int] = {
    "/system_stats": 4 * MIB,
    "/features": 1 * MIB,
    "/prompt": 16 * MIB,
    "/interrupt": 1 * MIB,
    "/api/jobs": 64 * MIB,
    "/queue": 256 * MIB,
    "/history": 256 * MIB,
    "/object_info": 256 * MIB,
    "/userdata": 64 * MIB,
    "/upload": 1 * MIB,
    "/view": 1024 * MIB,
}
DEFAULT_RESPONSE_CAP = 16 * MIB
_JSON_HEADERS = {"Content-Type": "application/json"}


def max_response_bytes(path: str) -> int:
    """The cap for an endpoint (its first path segment(s) decide: ``/history/<id>`` is /history)."""
    for prefix, cap in RESPONSE_CAPS.items():
        if path == prefix or path.startswith((prefix + "/", prefix + "?")):
            return cap
    return DEFAULT_RESPONSE_CAP


def split_server_url(server_url: str | None = None) -> tuple[str, dict[str, str]]:
    """Argument, else ``COMFYUI_URL``, else the local default -> (base URL, query parameters).

    A query such as ``?token=...`` (ComfyUI-Login) is kept apart: it goes on every request and
    the WebSocket URL, but never into ``server_url``, which shows up in messages and logs.
    """
    raw = (server_url or os.environ.get("COMFYUI_URL") or DEFAULT_SERVER_URL).strip()
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"Invalid ComfyUI server URL {base!r}: use http://host:port or https://host "
            "(set it with --server or COMFYUI_URL)."
        )
    if "@" in parts.netloc:
        # User info is a credential (Basic auth, see ComfyUIClient): never part of the shown URL.
        _, _, hostport = parts.netloc.rpartition("@")
        base = urlunsplit((parts.scheme, hostport, parts.path.rstrip("/"), "", ""))
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params.items():
        if _SECRET_PARAM.search(key):
            register_secret(value)
    return base, params


def resolve_server_url(server_url: str | None = None) -> str:
    """The normalised base URL (no trailing slash, no query)."""
    return split_server_url(server_url)[0]


# ------------------------------------------------------------------------ response models
def _whole_number(value: Any) -> Any:
    """ComfyUI keeps a client-given ``number`` as a float (``float(json["number"])``): 23.0 is 23,
    23.5 (a prompt moved between 23 and 24) stays a float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


QueueNumber = Annotated[int | float, BeforeValidator(_whole_number)]


class PromptResponse(BaseModel):
    """200 from POST /prompt; ``node_errors`` non-empty means only part of the graph will run."""

    prompt_id: str
    number: QueueNumber | None = None
    node_errors: dict[str, Any] = Field(default_factory=dict)


class QueueItem(BaseModel):
    """``[number, prompt_id, prompt, extra_data, outputs_to_execute]`` from GET /queue."""

    model_config = ConfigDict(defer_build=True)  # built on the first queue read, not at start-up

    number: QueueNumber
    prompt_id: str
    prompt: dict[str, Any] = Field(default_factory=dict)
    extra_data: dict[str, Any] = Field(default_factory=dict)
    outputs_to_execute: list[str] = Field(default_factory=list)

    @classmethod
    def from_raw(cls, raw: Any) -> QueueItem:
        if not isinstance(raw, list) or len(raw) < 2:
            raise ValueError(f"queue item is not a list: {raw!r:.80}")
        padded = [*raw, None, None, None][:5]
        return cls(
            number=padded[0],
            prompt_id=str(padded[1]),
            prompt=padded[2] if isinstance(padded[2], dict) else {},
            extra_data=padded[3] if isinstance(padded[3], dict) else {},
            outputs_to_execute=[str(x) for x in padded[4]] if isinstance(padded[4], list) else [],
        )

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return value if isinstance(value, str) else None


class QueueState(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on the first queue read, not at start-up

    running: list[QueueItem] = Field(default_factory=list)
    pending: list[QueueItem] = Field(default_factory=list)  # sorted by number (the server's order)

    def find(self, prompt_id: str) -> tuple[Literal["running", "pending"], QueueItem] | None:
        for item in self.running:
            if item.prompt_id == prompt_id:
                return "running", item
        for item in self.pending:
            if item.prompt_id == prompt_id:
                return "pending", item
        return None


class HistoryStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status_str: str | None = None
    completed: bool = False
    messages: list[Any] = Field(default_factory=list)


class HistoryEntry(BaseModel):
    """One prompt in GET /history: its queue item, UI outputs per node and final status."""

    model_config = ConfigDict(extra="ignore")

    prompt: list[Any] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    status: HistoryStatus | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def item(self) -> QueueItem | None:
        try:
            return QueueItem.from_raw(self.prompt)
        except (ValueError, ValidationError):
            return None

    @property
    def status_str(self) -> str | None:
        return self.status.status_str if self.status else None

    def message_list(self) -> list[tuple[str, dict[str, Any]]]:
        result: list[tuple[str, dict[str, Any]]] = []
        for entry in self.status.messages if self.status else []:
            if (
                isinstance(entry, list)
                and len(entry) >= 2
                and isinstance(entry[0], str)
                and isinstance(entry[1], dict)
            ):
                result.append((entry[0], entry[1]))
        return result

    @property
    def interrupted(self) -> bool:
        return any(name == "execution_interrupted" for name, _ in self.message_list())


class PromptState(BaseModel):
    """Where the server has a prompt right now (for reconcile after a reconnect)."""

    model_config = ConfigDict(defer_build=True)  # built on the first queue read, not at start-up

    prompt_id: str
    where: Literal["running", "pending", "finished", "unknown"]
    queue_item: QueueItem | None = None
    history: HistoryEntry | None = None


# ------------------------------------------------------------------------------ client
class ComfyUIClient:
    """Thin async wrapper over one server's HTTP API and WebSocket."""

    def __init__(
        self,
        server_url: str | None = None,
        *,
        auth: Auth | None = None,
        timeout: float = 30.0,
        verify_tls: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server_url, self._url_params = split_server_url(server_url)
        raw_url = server_url or os.environ.get("COMFYUI_URL")
        if auth is None and raw_url and "://" in raw_url:
            _, username, password = split_credentials(raw_url.strip())
            if username is not None or password is not None:
                auth = Auth(username=username or "", password=password or "")
        self.auth = auth
        self.timeout = timeout
        self.verify_tls = verify_tls
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._jobs_api: bool | None = None
        self.server_features: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle
    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(
                base_url=self.server_url,
                headers=self.auth.http_headers() if self.auth else None,
                params=self._query_params() or None,
                timeout=httpx.Timeout(self.timeout),
                # Trust is loaded on the first TLS handshake: a plain-http server never pays for it.
                verify=verifying_context() if self.verify_tls else False,
                transport=self._transport,
                follow_redirects=True,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> ComfyUIClient:
        _ = self.http
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- transport core
    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        ok_statuses: tuple[int, ...] = (),
        max_bytes: int | None = None,
    ) -> httpx.Response:
        url = f"{self.server_url}{path}"
        try:
            response = await self._send_bounded(
                method,
                path,
                max_bytes=max_bytes,
                params=params,
                json=json_body,
                content=content,
                files=files,
                data=data,
                headers=headers,
            )
        except httpx.TimeoutException as exc:
            log.warning("http_timeout", method=method, path=path, error=type(exc).__name__)
            timeout = ServerTimeoutError(self.server_url, self.timeout)
            timeout.request_sent = request_may_have_arrived(exc)
            raise timeout from exc
        except httpx.TransportError as exc:
            reason = redact_text(str(exc)) or type(exc).__name__
            log.warning("http_unreachable", method=method, path=path, reason=reason)
            unreachable = ServerUnreachableError(self.server_url, reason)
            unreachable.request_sent = request_may_have_arrived(exc)
            raise unreachable from exc
        if log.enabled("debug"):  # asked first: two requests a prompt, and debug is mostly off
            log.debug("http", method=method, path=path, status=response.status_code)
        if response.status_code in ok_statuses or response.status_code < 400:
            return response
        body = redact_text(response.text[:500])
        if response.status_code in (401, 403):
            message = (
                f"ComfyUI at {self.server_url} refused {method} {path} (HTTP {response.status_code}). "
                "Check the credentials (token / username and password / headers)."
            )
        elif response.status_code >= 500:
            message = (
                f"ComfyUI at {self.server_url} failed on {method} {path} (HTTP {response.status_code}): "
                f"{body.strip()[:200] or 'empty body'}. See the server's console for the cause."
            )
        else:
            message = (
                f"ComfyUI at {self.server_url} answered {method} {path} with HTTP {response.status_code}: "
                f"{body.strip()[:200] or 'empty body'}"
            )
        raise ServerResponseError(message, url=url, status_code=response.status_code, body=body)

    async def _send_bounded(
        self, method: str, path: str, *, max_bytes: int | None, **request: Any
    ) -> httpx.Response:
        """Send and read the body, at most ``max_bytes`` of it (the endpoint's cap), so that a
        hostile or broken server cannot make the client hold gigabytes. Error bodies are cut
        at :data:`ERROR_BODY_BYTES` (only their start is ever shown)."""
        limit = max_bytes if max_bytes is not None else max_response_bytes(path)
        response = await self.http.send(self.http.build_request(method, path, **request), stream=True)
        try:
            if response.status_code >= 400:
                limit = min(limit, ERROR_BODY_BYTES)
            declared = response.headers.get("content-length", "")
            if response.status_code < 400 and declared.isdigit() and int(declared) > limit:
                raise self._too_large(method, path, int(declared), limit)
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > limit:
                    if response.status_code >= 400:
                        chunks.append(chunk[: limit - (total - len(chunk))])
                        break
                    raise self._too_large(method, path, total, limit)
                chunks.append(chunk)
        finally:
            await response.aclose()
        # The body as read, decoded; .content/.text/.json() work on it as on a read response.
        response._content = b"".join(chunks)
        return response

    def _too_large(self, method: str, path: str, size: int, limit: int) -> ServerResponseError:
        return ServerResponseError(
            f"ComfyUI at {self.server_url} sent more than {limit // 1024 // 1024} MiB for {method} {path} "
            f"({'at least ' if size > limit else ''}{size} bytes); no real server sends that much, "
            "so the answer was refused.",
            url=f"{self.server_url}{path}",
        )

    def _json(self, response: httpx.Response, method: str, path: str) -> Any:
        try:
            return response.json()
        except (ValueError, RecursionError) as exc:
            body = redact_text(response.text[:500])
            raise ServerResponseError(
                f"ComfyUI at {self.server_url} answered {method} {path} with a body that is not JSON "
                f"(HTTP {response.status_code}, {response.headers.get('content-type', 'no content-type')}): "
                f"{body[:120]!r}. Is the URL really a ComfyUI server?",
                url=f"{self.server_url}{path}",
                status_code=response.status_code,
                body=body,
            ) from exc

    async def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._request("GET", path, params=params)
        return self._json(response, "GET", path)

    def _expect_dict(self, value: Any, what: str, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ServerResponseError(
                f"ComfyUI at {self.server_url} sent an unexpected {what} from {path}: {str(value)[:120]}",
                url=f"{self.server_url}{path}",
            )
        return value

    # ------------------------------------------------------------------- prompts
    async def post_prompt(
        self,
        prompt: dict[str, Any],
        *,
        client_id: str | None = None,
        prompt_id: str | None = None,
        extra_data: dict[str, Any] | None = None,
        front: bool = False,
        number: float | None = None,
        partial_execution_targets: list[str] | None = None,
        encoded_prompt: str | None = None,
    ) -> PromptResponse:
        """Queue a prompt. The server accepts a client-chosen ``prompt_id`` (reuse overwrites history).

        ``encoded_prompt``: ``prompt`` already as JSON text (from :func:`.prompt.checked_prompt`),
        embedded in the body as it is instead of being encoded again."""
        body: dict[str, Any] = {"prompt": prompt}
        if client_id is not None:
            body["client_id"] = client_id
        if prompt_id is not None:
            body["prompt_id"] = prompt_id
        if extra_data:
            body["extra_data"] = extra_data
        if front:
            body["front"] = True
        if number is not None:
            body["number"] = number
        if partial_execution_targets:
            body["partial_execution_targets"] = partial_execution_targets
        if encoded_prompt is None:
            response = await self._request("POST", "/prompt", json_body=body, ok_statuses=(400,))
        else:
            del body["prompt"]
            rest = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            text = '{"prompt":' + encoded_prompt + ("," + rest[1:] if len(rest) > 2 else "}")
            response = await self._request(
                "POST", "/prompt", content=text.encode("utf-8"), headers=_JSON_HEADERS, ok_statuses=(400,)
            )
        payload = self._json(response, "POST", "/prompt")
        if response.status_code == 400:
            if isinstance(payload, dict) and isinstance(payload.get("error"), (dict, str)):
                error = payload["error"]
                if isinstance(error, str):
                    error = {"type": "error", "message": error}
                node_errors = payload.get("node_errors")
                raise PromptValidationError(
                    error,
                    node_errors if isinstance(node_errors, dict) else {},
                    url=f"{self.server_url}/prompt",
                )
            raise ServerResponseError(
                f"ComfyUI at {self.server_url} rejected the prompt (HTTP 400) without an error description: "
                f"{str(payload)[:200]}",
                url=f"{self.server_url}/prompt",
                status_code=400,
            )
        try:
            return PromptResponse.model_validate(payload)
        except ValidationError as exc:
            raise ServerResponseError(
                f"ComfyUI at {self.server_url} accepted the prompt but its answer has no prompt_id: "
                f"{str(payload)[:200]}",
                url=f"{self.server_url}/prompt",
                status_code=response.status_code,
            ) from exc

    async def get_queue(self) -> QueueState:
        raw = self._expect_dict(await self._get_json("/queue"), "queue", "/queue")
        try:
            running = [QueueItem.from_raw(i) for i in raw.get("queue_running") or []]
            pending = [QueueItem.from_raw(i) for i in raw.get("queue_pending") or []]
        except (ValueError, ValidationError) as exc:
            raise ServerResponseError(
                f"ComfyUI at {self.server_url} sent a queue in an unknown shape: {exc}",
                url=f"{self.server_url}/queue",
            ) from exc
        pending.sort(key=lambda item: item.number)
        return QueueState(running=running, pending=pending)

    async def delete_from_queue(self, prompt_ids: list[str]) -> None:
        """Drop pending prompts. Running or unknown ids are ignored by the server (always 200)."""
        await self._request("POST", "/queue", json_body={"delete": list(prompt_ids)})

    async def clear_queue(self) -> None:
        await self._request("POST", "/queue", json_body={"clear": True})

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Interrupt the running prompt; with ``prompt_id`` only if that one is running."""
        await self._request("POST", "/interrupt", json_body={"prompt_id": prompt_id} if prompt_id else {})

    async def get_history(
        self, prompt_id: str | None = None, *, max_items: int | None = None, offset: int | None = None
    ) -> dict[str, HistoryEntry]:
        path = f"/history/{quote(prompt_id, safe='')}" if prompt_id else "/history"
        params: dict[str, Any] = {}
        if max_items is not None:
            params["max_items"] = max_items
        if offset is not None:
            params["offset"] = offset
        raw = self._expect_dict(await self._get_json(path, params or None), "history", path)
        entries: dict[str, HistoryEntry] = {}
        for key, value in raw.items():
            try:
                entries[str(key)] = HistoryEntry.model_validate(value)
            except ValidationError as exc:
                log.warning("history_entry_unreadable", prompt_id=key, error=str(exc)[:200])
        return entries

    async def get_history_entry(self, prompt_id: str) -> HistoryEntry | None:
        """The prompt's history entry, or None while it is queued/running (or unknown)."""
        return (await self.get_history(prompt_id)).get(prompt_id)

    async def delete_history(self, prompt_ids: list[str]) -> None:
        await self._request("POST", "/history", json_body={"delete": list(prompt_ids)})

    async def clear_history(self) -> None:
        await self._request("POST", "/history", json_body={"clear": True})

    # ------------------------------------------------------------- jobs (newer servers)
    async def has_jobs_api(self) -> bool:
        """Probe ``/api/jobs`` once; older servers (like the recorded 0.3.64) answer 404."""
        if self._jobs_api is None:
            try:
                response = await self._request(
                    "GET", "/api/jobs", params={"limit": 1}, ok_statuses=(404, 405)
                )
                payload = response.json() if response.status_code == 200 else None
                self._jobs_api = isinstance(payload, dict) and isinstance(payload.get("jobs"), list)
            except (ServerResponseError, ValueError, RecursionError):
                self._jobs_api = False
            log.debug("jobs_api_probe", available=self._jobs_api)
        return self._jobs_api

    async def get_job(self, prompt_id: str) -> dict[str, Any] | None:
        path = f"/api/jobs/{quote(prompt_id, safe='')}"
        response = await self._request("GET", path, ok_statuses=(404,))
        if response.status_code == 404:
            return None
        return self._expect_dict(self._json(response, "GET", path), "job", path)

    async def prompt_state(self, prompt_id: str) -> PromptState:
        """Queued, running, finished (with its history entry) or unknown to the server."""
        if await self.has_jobs_api():
            job = await self.get_job(prompt_id)
            if job is not None and job.get("status") in ("pending", "in_progress"):
                where: Literal["running", "pending"] = (
                    "running" if job["status"] == "in_progress" else "pending"
                )
                return PromptState(prompt_id=prompt_id, where=where)
            if job is not None:
                entry = await self.get_history_entry(prompt_id)
                if entry is not None:
                    return PromptState(prompt_id=prompt_id, where="finished", history=entry)
        queue = await self.get_queue()
        found = queue.find(prompt_id)
        if found is not None:
            return PromptState(prompt_id=prompt_id, where=found[0], queue_item=found[1])
        entry = await self.get_history_entry(prompt_id)
        if entry is not None:
            return PromptState(prompt_id=prompt_id, where="finished", history=entry)
        # Between "taken from the queue" and "stored in history" a prompt is in neither; ask once more.
        queue = await self.get_queue()
        found = queue.find(prompt_id)
        if found is not None:
            return PromptState(prompt_id=prompt_id, where=found[0], queue_item=found[1])
        return PromptState(prompt_id=prompt_id, where="unknown")

    # ------------------------------------------------------------------ info
    async def get_object_info(self, class_type: str | None = None) -> dict[str, Any]:
        path = f"/object_info/{quote(class_type, safe='')}" if class_type else "/object_info"
        return self._expect_dict(await self._get_json(path), "object_info", path)

    async def get_system_stats(self) -> dict[str, Any]:
        return self._expect_dict(await self._get_json("/system_stats"), "system_stats", "/system_stats")

    async def features(self) -> dict[str, Any]:
        """The server's feature flags (GET /features); ``{}`` on servers that predate them."""
        response = await self._request("GET", "/features", ok_statuses=(404,))
        if response.status_code == 404:
            return {}
        return self._expect_dict(self._json(response, "GET", "/features"), "feature list", "/features")

    # ------------------------------------------------------------------ files
    async def view(self, filename: str, subfolder: str = "", type: str = "output") -> bytes:
        params = {"filename": filename, "subfolder": subfolder, "type": type}
        response = await self._request("GET", "/view", params=params, ok_statuses=(404,))
        if response.status_code == 404:
            where = f"{type}/{subfolder + '/' if subfolder else ''}{filename}"
            raise ServerResponseError(
                f"ComfyUI at {self.server_url} has no file {where} (HTTP 404); it may have been deleted.",
                url=f"{self.server_url}/view",
                status_code=404,
            )
        return response.content

    async def upload_image(
        self,
        data: bytes,
        filename: str,
        *,
        subfolder: str = "",
        type: str = "input",
        overwrite: bool = False,
        content_type: str = "image/png",
    ) -> dict[str, Any]:
        form = {"subfolder": subfolder, "type": type, "overwrite": "true" if overwrite else "false"}
        files = {"image": (filename, data, content_type)}
        response = await self._request("POST", "/upload/image", files=files, data=form)
        return self._expect_dict(
            self._json(response, "POST", "/upload/image"), "upload answer", "/upload/image"
        )

    async def list_userdata(self, dir: str = "workflows") -> list[str]:
        """Files under the user's data dir; [] when the directory does not exist yet (404)."""
        response = await self._request("GET", "/userdata", params={"dir": dir}, ok_statuses=(404,))
        if response.status_code == 404:
            return []
        payload = self._json(response, "GET", "/userdata")
        if not isinstance(payload, list):
            raise ServerResponseError(
                f"Unexpected /userdata listing: {str(payload)[:120]}", url=self.server_url
            )
        return [str(x) for x in payload]

    async def get_userdata(self, path: str) -> bytes:
        response = await self._request("GET", f"/userdata/{quote(path, safe='')}")
        return response.content

    async def put_userdata(self, path: str, data: bytes, *, overwrite: bool = True) -> Any:
        response = await self._request(
            "POST",
            f"/userdata/{quote(path, safe='')}",
            params={"overwrite": "true" if overwrite else "false"},
            content=data,
        )
        if not response.content:
            return None
        try:
            return response.json()
        except (ValueError, RecursionError):
            return response.text

    # -------------------------------------------------------------- websocket
    def _query_params(self) -> dict[str, str]:
        return {**self._url_params, **(self.auth.query_params() if self.auth else {})}

    def ws_url(self, client_id: str) -> str:
        parts = urlsplit(self.server_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = {"clientId": client_id, **self._query_params()}
        return urlunsplit((scheme, parts.netloc, f"{parts.path}/ws", urlencode(query), ""))

    async def connect_websocket(self, client_id: str) -> ClientConnection:
        """Open ``/ws?clientId=``; the first frame declares ``supports_preview_metadata`` as the frontend does."""
        url = self.ws_url(client_id)
        options: dict[str, Any] = {}
        if url.startswith("wss://") and not self.verify_tls:
            # The user chose to trust this server's certificate (self-signed): same rule as HTTP.
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
            options["ssl"] = tls
        try:
            ws = await connect(
                url,
                **options,
                additional_headers=self.auth.http_headers() if self.auth else None,
                max_size=WS_MAX_SIZE,
                create_connection=CoalescingConnection,
                open_timeout=self.timeout,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = " (check the credentials)" if status in (401, 403) else ""
            raise ServerUnreachableError(
                self.server_url, f"WebSocket handshake refused with HTTP {status}{hint}"
            ) from exc
        except (InvalidURI, InvalidHandshake) as exc:
            raise ServerUnreachableError(
                self.server_url, f"WebSocket handshake failed: {redact_text(str(exc))}"
            ) from exc
        except TimeoutError as exc:
            raise ServerTimeoutError(self.server_url, self.timeout) from exc
        except ValueError as exc:  # e.g. UnicodeError: a host label longer than 63 characters
            raise ServerUnreachableError(
                self.server_url, f"invalid WebSocket URL: {redact_text(str(exc))}"
            ) from exc
        except OSError as exc:
            raise ServerUnreachableError(
                self.server_url, redact_text(str(exc)) or type(exc).__name__
            ) from exc
        try:
            await ws.send(feature_flags_frame())
        except Exception as exc:
            await ws.close()
            raise ServerUnreachableError(
                self.server_url, f"WebSocket closed during the handshake: {exc}"
            ) from exc
        log.debug("ws_connected", url=redact_text(url))
        return ws


def request_may_have_arrived(exc: httpx.TransportError) -> bool:
    """False only when the request surely never reached the server: no connection was made
    (refused, DNS, TLS, connect time-out) or none was free. A reset, a close without an answer
    or a read time-out happen after the request went out: the server may have acted on it."""
    return not isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    )


def new_client_id() -> str:
    return uuid.uuid4().hex
