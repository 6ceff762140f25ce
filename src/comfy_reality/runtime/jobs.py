"""Jobs on a ComfyUI server: list (paginated), look up, cancel; and the prompt ids we choose.

Newer servers have one API for queued, running and finished prompts (``/api/jobs``) and a
targeted, idempotent cancel (``/api/jobs/{id}/cancel``). On older ones (0.3.64) the same answers
are built from ``/queue`` + ``/history`` and cancel falls back to ``POST /queue {"delete"}``
(pending) or ``POST /interrupt {"prompt_id"}`` (running). Callers get one :class:`Job` shape
either way; ``source`` says which path answered.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ServerResponseError
from .capabilities import capabilities

if TYPE_CHECKING:
    from .client import ComfyUIClient, HistoryEntry, QueueItem

JOB_STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
FINISHED_STATUSES = ("completed", "failed", "cancelled")
Source = Literal["jobs", "queue+history"]


# ------------------------------------------------------------------------------ prompt ids
def new_prompt_id() -> str:
    """A canonical lowercase hyphenated UUID: the only client-chosen id newer servers accept."""
    return str(uuid.uuid4())


def is_canonical_prompt_id(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


# ----------------------------------------------------------------------------------- models
class Job(BaseModel):
    """One prompt in the jobs API's shape (``comfy_execution/jobs.py``); times in ms since epoch."""

    model_config = ConfigDict(extra="ignore", defer_build=True)  # built on the first jobs listing

    id: str
    status: str
    priority: float | None = None
    create_time: int | None = None
    execution_start_time: int | None = None
    execution_end_time: int | None = None
    execution_error: dict[str, Any] | None = None
    outputs_count: int = 0
    preview_output: dict[str, Any] | None = None
    workflow_id: str | None = None
    outputs: dict[str, Any] | None = None  # only from a single-job lookup
    workflow: dict[str, Any] | None = None  # {"prompt", "extra_data"}: only from a single-job lookup
    source: Source = "jobs"

    @property
    def duration(self) -> float | None:
        if self.execution_start_time and self.execution_end_time:
            return (self.execution_end_time - self.execution_start_time) / 1000
        return None


class JobsPage(BaseModel):
    jobs: list[Job] = Field(default_factory=list)
    offset: int = 0
    limit: int | None = None
    total: int | None = None  # unknown on the fallback path unless the whole history was read
    has_more: bool = False
    source: Source = "jobs"


# ----------------------------------------------------------------------- fallback shapes
def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def job_from_queue_item(item: QueueItem, status: Literal["pending", "in_progress"]) -> Job:
    return Job(
        id=item.prompt_id,
        status=status,
        priority=item.number,
        create_time=_int_or_none(item.extra_data.get("create_time")),
        source="queue+history",
    )


def job_from_history(prompt_id: str, entry: HistoryEntry, *, include_outputs: bool = False) -> Job:
    """The same mapping as the server's normalize_history_item: error + interrupted = cancelled."""
    kinds = dict(entry.message_list())
    if entry.status_str == "error":
        status = "cancelled" if entry.interrupted else "failed"
    else:
        status = "completed"
    end = None
    for kind in ("execution_success", "execution_error", "execution_interrupted"):
        end = end or kinds.get(kind, {}).get("timestamp")
    item = entry.item
    count = 0
    preview: dict[str, Any] | None = None
    for node_id, ui in entry.outputs.items():
        for media, values in ui.items() if isinstance(ui, dict) else []:
            for value in values if isinstance(values, list) and media != "animated" else []:
                if isinstance(value, dict):
                    count += 1
                    if preview is None or (value.get("type") == "output" and preview.get("type") != "output"):
                        preview = {**value, "nodeId": node_id, "mediaType": media}
    start = kinds.get("execution_start", {}).get("timestamp")
    error = kinds.get("execution_error")
    return Job(
        id=prompt_id,
        status=status,
        priority=item.number if item else None,
        create_time=_int_or_none(item.extra_data.get("create_time")) if item else None,
        execution_start_time=_int_or_none(start),
        execution_end_time=_int_or_none(end),
        execution_error=error,
        outputs_count=count,
        preview_output=preview,
        outputs=entry.outputs if include_outputs else None,
        workflow={"prompt": item.prompt, "extra_data": item.extra_data} if include_outputs and item else None,
        source="queue+history",
    )


# ------------------------------------------------------------------------------ listing
def _statuses(statuses: list[str] | tuple[str, ...] | None) -> list[str]:
    chosen = list(statuses) if statuses else list(JOB_STATUSES)
    unknown = [s for s in chosen if s not in JOB_STATUSES]
    if unknown:
        raise ValueError(f"unknown job status {', '.join(unknown)}; known: {', '.join(JOB_STATUSES)}")
    return chosen


async def list_jobs(
    client: ComfyUIClient,
    *,
    statuses: list[str] | tuple[str, ...] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> JobsPage:
    """Newest first. One page from ``/api/jobs``; on older servers from /queue + /history,
    reading only the newest ``offset + limit`` history entries."""
    chosen = _statuses(statuses)
    if (await capabilities(client)).jobs_api:
        params: dict[str, Any] = {"status": ",".join(chosen), "sort_order": "desc", "offset": offset}
        if limit is not None:
            params["limit"] = limit
        raw = client._expect_dict(await client._get_json("/api/jobs", params), "job list", "/api/jobs")
        jobs: list[Job] = []
        for value in raw.get("jobs") or []:
            try:
                jobs.append(Job.model_validate(value))
            except ValidationError as exc:
                raise ServerResponseError(
                    f"ComfyUI at {client.server_url} sent a job in an unknown shape: {str(exc)[:200]}",
                    url=f"{client.server_url}/api/jobs",
                ) from exc
        pagination = raw.get("pagination")
        page: dict[str, Any] = pagination if isinstance(pagination, dict) else {}
        total = page.get("total")
        return JobsPage(
            jobs=jobs,
            offset=offset,
            limit=limit,
            total=total if isinstance(total, int) else None,
            has_more=bool(page.get("has_more")),
        )
    return await _list_from_queue_and_history(client, chosen, limit, offset)


async def _list_from_queue_and_history(
    client: ComfyUIClient, chosen: list[str], limit: int | None, offset: int
) -> JobsPage:
    jobs: list[Job] = []
    if "pending" in chosen or "in_progress" in chosen:
        queue = await client.get_queue()
        if "pending" in chosen:  # the last queued first, as "newest first" by creation
            jobs += [job_from_queue_item(i, "pending") for i in reversed(queue.pending)]
        if "in_progress" in chosen:
            jobs += [job_from_queue_item(i, "in_progress") for i in queue.running]
    finished = [s for s in chosen if s in FINISHED_STATUSES]
    read_all = True
    if finished:
        wanted = None if limit is None else offset + limit
        history = await client.get_history(max_items=wanted)
        read_all = wanted is None or len(history) < wanted
        for prompt_id, entry in reversed(list(history.items())):  # the server keeps oldest first
            job = job_from_history(prompt_id, entry)
            if job.status in finished:
                jobs.append(job)
    window = jobs[offset:] if limit is None else jobs[offset : offset + limit]
    return JobsPage(
        jobs=window,
        offset=offset,
        limit=limit,
        total=len(jobs) if read_all else None,
        has_more=(offset + len(window) < len(jobs)) or not read_all,
        source="queue+history",
    )


async def get_job(client: ComfyUIClient, prompt_id: str) -> Job | None:
    """One job with its outputs and workflow when finished; None if the server does not know it."""
    if (await capabilities(client)).jobs_api:
        raw = await client.get_job(prompt_id)
        if raw is None:
            return None
        try:
            return Job.model_validate(raw)
        except ValidationError as exc:
            raise ServerResponseError(
                f"ComfyUI at {client.server_url} sent a job in an unknown shape: {str(exc)[:200]}",
                url=f"{client.server_url}/api/jobs/{quote(prompt_id, safe='')}",
            ) from exc
    state = await client.prompt_state(prompt_id)
    if state.where == "finished" and state.history is not None:
        return job_from_history(prompt_id, state.history, include_outputs=True)
    if state.where in ("running", "pending") and state.queue_item is not None:
        return job_from_queue_item(state.queue_item, "in_progress" if state.where == "running" else "pending")
    return None


# ------------------------------------------------------------------------------- cancel
async def _post_cancel(client: ComfyUIClient, path: str, body: Any = None) -> bool:
    response = await client._request("POST", path, json_body=body)
    answer = client._json(response, "POST", path)
    return bool(answer.get("cancelled")) if isinstance(answer, dict) else False


async def cancel_running(client: ComfyUIClient, prompt_id: str) -> None:
    """Stop ``prompt_id`` only if it is the one running: the atomic targeted cancel where the
    server has it, else ``/interrupt {"prompt_id"}`` (checked and fired in two steps there)."""
    if (await capabilities(client)).targeted_cancel:
        await _post_cancel(client, f"/api/jobs/{quote(prompt_id, safe='')}/cancel")
    else:
        await client.interrupt(prompt_id)


async def cancel_job(client: ComfyUIClient, prompt_id: str) -> bool:
    """Cancel whatever its state (running: interrupted, pending: dequeued, finished: no-op).
    True when something was actually cancelled."""
    if (await capabilities(client)).targeted_cancel:
        return await _post_cancel(client, f"/api/jobs/{quote(prompt_id, safe='')}/cancel")
    state = await client.prompt_state(prompt_id)
    if state.where == "pending":
        await client.delete_from_queue([prompt_id])
        state = await client.prompt_state(prompt_id)
        if state.where != "running":  # gone from the queue (or, narrowly, already finished)
            return state.where != "finished"
    if state.where == "running":
        await client.interrupt(prompt_id)
        return True
    return False


async def cancel_jobs(client: ComfyUIClient, prompt_ids: list[str]) -> bool:
    """Cancel several at once (one request on newer servers). True if any was cancelled."""
    if (await capabilities(client)).targeted_cancel:
        return await _post_cancel(client, "/api/jobs/cancel", {"job_ids": list(prompt_ids)})
    # Pending ones first: interrupting the running one first would let the next start meanwhile.
    queue = await client.get_queue()
    pending = {item.prompt_id for item in queue.pending}
    cancelled = False
    for prompt_id in sorted(prompt_ids, key=lambda p: p not in pending):
        cancelled = await cancel_job(client, prompt_id) or cancelled
    return cancelled
