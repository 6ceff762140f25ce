"""The newer ComfyUI generation's API, for the embedded server's ``--api current`` mode.

Written from ComfyUI's own source (read, not copied), Comfy-Org/ComfyUI:

* ``comfy_execution/jobs.py`` @ dfb874a6: the job shapes (``normalize_queue_item``,
  ``normalize_history_item``, ``get_outputs_summary``), ``get_all_jobs`` (filter, sort, page),
  ``validate_job_id`` and ``cancel_job`` (classify running / pending / terminal / unknown).
* ``server.py`` @ 002c3fb9: the routes ``GET /api/jobs``, ``GET /api/jobs/{job_id}``,
  ``POST /api/jobs/{job_id}/cancel``, ``POST /api/jobs/cancel`` (their 400 bodies), and
  ``POST /prompt``'s ``invalid_prompt_id`` rejection and ``extra_data["create_time"]``.
* ``execution.py`` @ 04e2a914: ``PromptQueue.interrupt_if_running`` (atomic targeted interrupt).

The 0.3.64 mode (the recorded transcripts) has none of this; :data:`API_VERSIONS` names both.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

if TYPE_CHECKING:
    from comfy_reality.server.app import EmbeddedServer

ApiVersion = Literal["0.3.64", "current"]
API_VERSIONS: tuple[ApiVersion, ...] = ("0.3.64", "current")
# comfyui_version.py @ 20ca544e says 0.38.1: what the "current" mode reports in /system_stats.
CURRENT_COMFYUI_VERSION = "0.38.1"
# comfy_api/feature_flags.py @ 1924b05e: the core flags of a newer server (no manager, no assets db).
CURRENT_EXTRA_FEATURES: dict[str, Any] = {
    "supports_model_type_tags": True,
    "extension": {"manager": {"supports_v4": True}},
    "node_replacements": True,
    "assets": False,
}


def comfyui_version(api: str, legacy: str) -> str:
    """The version /system_stats reports: the recorded one, or the newer source's."""
    return CURRENT_COMFYUI_VERSION if api == "current" else legacy


def features_for(api: str, base: dict[str, Any]) -> dict[str, Any]:
    """GET /features: the 0.3.64 flags, plus the newer core flags in the current mode."""
    return {**base, **CURRENT_EXTRA_FEATURES} if api == "current" else dict(base)


PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = (
    "pending",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
)
ALL_STATUSES = [PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED]
_PREVIEWABLE = frozenset({"images", "video", "audio", "3d", "text"})
_TEXT_EXTENSIONS = (".txt", ".md", ".json")


# ------------------------------------------------------------------------------ prompt ids
def validate_job_id(value: Any) -> str:
    """A client-chosen id must be a canonical lowercase hyphenated UUID (jobs.py validate_job_id)."""
    if not isinstance(value, str):
        raise ValueError(f"job id must be a string, got {type(value).__name__}")
    if str(uuid.UUID(value)) != value:
        raise ValueError("job id must be a UUID in canonical lowercase hyphenated form")
    return value


def choose_prompt_id(json_data: dict[str, Any], strict: bool) -> str | web.Response:
    """The prompt id POST /prompt uses, or (strict mode) the 400 the newer server answers."""
    if not strict:  # 0.3.64: str(json_data.get("prompt_id", uuid.uuid4())), anything goes
        return str(json_data.get("prompt_id", uuid.uuid4()))
    client_id = json_data.get("prompt_id")
    if client_id is None:  # absent or null: the server mints one
        return str(uuid.uuid4())
    try:
        return validate_job_id(client_id)
    except (ValueError, AttributeError, TypeError):
        error = {
            "type": "invalid_prompt_id",
            "message": "prompt_id must be a valid UUID",
            "details": "prompt_id must be a UUID string in canonical lowercase hyphenated form; "
            "omit it to let the server generate one",
            "extra_info": {},
        }
        return web.json_response({"error": error, "node_errors": {}}, status=400)


def stamp_create_time(extra_data: dict[str, Any]) -> None:
    """Newer servers record when a prompt was queued (ms); the jobs API sorts on it."""
    extra_data["create_time"] = int(time.time() * 1000)


# ---------------------------------------------------------------------------- job shapes
def _pruned(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _metadata(extra_data: Any) -> tuple[Any, Any]:
    extra = extra_data if isinstance(extra_data, dict) else {}
    pnginfo = extra.get("extra_pnginfo")
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    return extra.get("create_time"), workflow.get("id") if isinstance(workflow, dict) else None


def queue_job(item: list[Any], status: str) -> dict[str, Any]:
    create_time, workflow_id = _metadata(item[3])
    return _pruned(
        {
            "id": item[1],
            "status": status,
            "priority": item[0],
            "create_time": create_time,
            "outputs_count": 0,
            "previewable_outputs_count": 0,
            "workflow_id": workflow_id,
        }
    )


def _previewable(media_type: str, item: dict[str, Any]) -> bool:
    fmt = str(item.get("format", ""))
    return media_type in _PREVIEWABLE or fmt.startswith(("video/", "audio/"))


def outputs_summary(outputs: Any) -> tuple[int, int, dict[str, Any] | None]:
    """(outputs_count, previewable_outputs_count, preview_output): a saved visual file first, then
    any other visual (temp previews), then a saved text file, then raw text (not counted)."""
    count = previewable = 0
    saved = other = text_file = raw_text = None
    for node_id, node_outputs in (outputs or {}).items():
        if not isinstance(node_outputs, dict):
            continue
        for media_type, items in node_outputs.items():
            if media_type == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    if media_type == "text" and raw_text is None and item is not None:
                        raw_text = {"content": str(item)[:1024], "nodeId": node_id, "mediaType": "text"}
                        if len(str(item)) > 1024:
                            raw_text["truncated"] = True
                    continue
                count += 1
                if not _previewable(media_type, item):
                    continue
                previewable += 1
                enriched = {**item, "nodeId": node_id, "mediaType": item.get("mediaType", media_type)}
                is_text = media_type == "text" or str(item.get("filename", "")).lower().endswith(
                    _TEXT_EXTENSIONS
                )
                if is_text:
                    text_file = text_file or enriched
                elif item.get("type") == "output":
                    saved = saved or enriched
                else:
                    other = other or enriched
    return count, previewable, saved or other or text_file or raw_text


def history_job(prompt_id: str, entry: dict[str, Any], include_outputs: bool = False) -> dict[str, Any]:
    item = entry["prompt"]
    create_time, workflow_id = _metadata(item[3])
    status_info = entry.get("status") or {}
    status_str = status_info.get("status_str")
    start = end = error = None
    interrupted = False
    node_errors: list[Any] = []
    for message in status_info.get("messages", []) or []:
        if not (isinstance(message, (list, tuple)) and len(message) >= 2 and isinstance(message[1], dict)):
            continue
        event, data = message[0], message[1]
        if event == "execution_start":
            start = data.get("timestamp")
        elif event in ("execution_success", "execution_error", "execution_interrupted"):
            end = data.get("timestamp")
            error = data if event == "execution_error" else error
            interrupted = interrupted or event == "execution_interrupted"
        elif event == "execution_node_error":
            node_errors.append(data)
    if status_str == "error":
        status = CANCELLED if interrupted else FAILED
    else:
        status = COMPLETED
    outputs = entry.get("outputs") or {}
    count, previewable, preview = outputs_summary(outputs)
    job = _pruned(
        {
            "id": prompt_id,
            "status": status,
            "priority": item[0],
            "create_time": create_time,
            "execution_start_time": start,
            "execution_end_time": end,
            "execution_error": error,
            "completion_status": "success" if status_str == "success" else None,
            "has_errors": (bool(node_errors) or error is not None) if status_info else None,
            "execution_error_count": (len(node_errors) or int(error is not None)) if status_info else None,
            "outputs_count": count,
            "previewable_outputs_count": previewable,
            "preview_output": preview,
            "workflow_id": workflow_id,
        }
    )
    if include_outputs:
        job["outputs"] = outputs
        job["execution_status"] = entry.get("status")
        job["execution_errors"] = node_errors
        job["workflow"] = {"prompt": item[2], "extra_data": item[3]}
    return job


def all_jobs(
    running: list[list[Any]],
    pending: list[list[Any]],
    history: dict[str, dict[str, Any]],
    *,
    statuses: list[str],
    workflow_id: str | None,
    sort_by: str,
    sort_order: str,
    limit: int | None,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    jobs: list[dict[str, Any]] = []
    if IN_PROGRESS in statuses:
        jobs += [queue_job(item, IN_PROGRESS) for item in running]
    if PENDING in statuses:
        jobs += [queue_job(item, PENDING) for item in pending]
    finished = {COMPLETED, FAILED, CANCELLED} & set(statuses)
    if finished:
        for prompt_id, entry in history.items():
            job = history_job(prompt_id, entry)
            if job["status"] in finished:
                jobs.append(job)
    if workflow_id:
        jobs = [job for job in jobs if job.get("workflow_id") == workflow_id]

    def key(job: dict[str, Any]) -> Any:
        if sort_by == "execution_duration":
            start, end = job.get("execution_start_time", 0), job.get("execution_end_time", 0)
            return end - start if start and end else 0
        return job.get("create_time", 0)

    jobs.sort(key=key, reverse=sort_order == "desc")
    total = len(jobs)
    jobs = jobs[offset:] if offset > 0 else jobs
    return (jobs[:limit] if limit is not None else jobs), total


# ------------------------------------------------------------------------------- routes
def _error(message: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class JobsApi:
    """The four jobs routes; they read the server's current state (a restart swaps it)."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server

    def routes(self) -> list[tuple[str, str, Callable[[web.Request], Any]]]:
        # The real server declares them as "/api/jobs..." and then adds an "/api" twin of every
        # route, so "/api/api/jobs" answers too.
        paths = [
            ("GET", "/jobs", self.list_jobs),
            ("GET", "/jobs/{job_id}", self.get_job),
            ("POST", "/jobs/{job_id}/cancel", self.cancel_one),
            ("POST", "/jobs/cancel", self.cancel_batch),
        ]
        return [(m, prefix + p, h) for prefix in ("/api", "/api/api") for m, p, h in paths]

    async def list_jobs(self, request: web.Request) -> web.Response:
        query = request.query
        sort_by = query.get("sort_by", "created_at").lower()
        sort_order = query.get("sort_order", "desc").lower()
        statuses = list(ALL_STATUSES)
        if query.get("status"):
            statuses = [s.strip().lower() for s in query["status"].split(",") if s.strip()]
            invalid = [s for s in statuses if s not in ALL_STATUSES]
            if invalid:
                return _error(
                    f"Invalid status value(s): {', '.join(invalid)}. Valid values: {', '.join(ALL_STATUSES)}"
                )
        if sort_by not in ("created_at", "execution_duration"):
            return _error("sort_by must be 'created_at' or 'execution_duration'")
        if sort_order not in ("asc", "desc"):
            return _error("sort_order must be 'asc' or 'desc'")
        limit: int | None = None
        if "limit" in query:
            try:
                limit = int(query["limit"])
            except ValueError:
                return _error("limit must be an integer")
            if limit <= 0:
                return _error("limit must be a positive integer")
        offset = 0
        if "offset" in query:
            try:
                offset = max(0, int(query["offset"]))
            except ValueError:
                return _error("offset must be an integer")
        state = self.server.state
        running, pending = state.queue.snapshot()
        jobs, total = all_jobs(
            running,
            pending,
            state.queue.history,
            statuses=statuses,
            workflow_id=query.get("workflow_id"),
            sort_by=sort_by,
            sort_order=sort_order,
            limit=limit,
            offset=offset,
        )
        pagination = {
            "offset": offset,
            "limit": limit,
            "total": total,
            "has_more": offset + len(jobs) < total,
        }
        return web.json_response({"jobs": jobs, "pagination": pagination})

    async def get_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        state = self.server.state
        entry = state.queue.get_history(prompt_id=job_id).get(job_id)
        if entry is not None:
            return web.json_response(history_job(job_id, entry, include_outputs=True))
        running, pending = state.queue.snapshot()
        for items, status in ((running, IN_PROGRESS), (pending, PENDING)):
            for item in items:
                if item[1] == job_id:
                    return web.json_response(queue_job(item, status))
        return _error("Job not found", 404)

    async def _cancel(self, job_id: str) -> bool:
        """True when a running job was interrupted or a pending one dequeued; else a no-op."""
        state = self.server.state
        if any(item[1] == job_id for item in state.queue.snapshot()[1]) and await state.queue.delete(job_id):
            await state.logs.write(f"Cancelling pending prompt {job_id}")
            return True
        # Single-threaded: checking the running set and interrupting cannot be split by the
        # worker, which is what the real server's interrupt_if_running takes its lock for.
        if any(item[1] == job_id for item in state.queue.snapshot()[0]):
            await state.logs.write(f"Cancelling running prompt {job_id}")
            state.executor.interrupt()
            return True
        return False

    async def cancel_one(self, request: web.Request) -> web.Response:
        return web.json_response({"cancelled": await self._cancel(request.match_info["job_id"])})

    async def cancel_batch(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error("Request body must be valid JSON")
        job_ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(job_ids, list):
            return _error("job_ids must be a list")
        invalid = []
        for job_id in job_ids:
            try:
                validate_job_id(job_id)
            except (ValueError, AttributeError):
                invalid.append(job_id if isinstance(job_id, str) else repr(job_id))
        if invalid:
            return _error("job_ids contains invalid id(s)", invalid_ids=invalid)
        cancelled = False
        for job_id in job_ids:
            cancelled = await self._cancel(job_id) or cancelled
        return web.json_response({"cancelled": cancelled})
