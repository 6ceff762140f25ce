"""POST /prompt so that a lost answer never loses (or doubles) a prompt.

The client chooses the ``prompt_id``, so when the connection fails after the request went out
(a reset, a close without an answer, a read time-out) the server can be asked whether it has
that id: in the queue, running, or in its history (the jobs API first where the server has it,
see :meth:`ComfyUIClient.prompt_state`). Found: the prompt is followed as if the answer had
arrived. Surely not there (asked twice, ``confirm_delay`` apart, so a request still being
validated is not mistaken for a lost one): POSTed again under the same id. The server cannot be
asked: the caller gets the original error with ``unconfirmed_prompt_id`` set, and the journal
row written before the POST lets a later reconcile settle it. A refused connection is
unambiguous (the server never saw the request) and is raised as is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from comfy_reality.logs import get_logger

from ..errors import ServerError, ServerTimeoutError, ServerUnreachableError
from .client import ComfyUIClient, PromptResponse, PromptState
from .models import WorkflowExecution

__all__ = ["SubmissionRecorder", "find_prompt", "post_exactly_once", "record_failed_submission"]

log = get_logger("comfy_reality.runtime.submission")

CONFIRM_DELAY = 0.5  # seconds a prompt must stay unknown (asked twice) before it is POSTed again
MAX_POSTS = 3  # the first POST and at most two more, each only after the server said "not here"
ASK_ATTEMPTS = 4  # questions to a server that resets connections before the outcome counts as unknown


class SubmissionRecorder(Protocol):
    """Keeps a durable record of each submission (the journal): the row exists before the POST."""

    async def submitting(self, execution: WorkflowExecution) -> None:
        """Awaited before each POST /prompt (and again when its outcome stays unconfirmed)."""

    async def not_queued(self, execution: WorkflowExecution) -> None:
        """The server surely did not queue it (refused, rejected, or not there after asking)."""


async def find_prompt(
    client: ComfyUIClient,
    prompt_id: str,
    cause: ServerUnreachableError,
    *,
    confirm_delay: float,
) -> PromptState | None:
    """Where the server has ``prompt_id``; None when it surely has not. Raises ``cause`` (marked
    unconfirmed) when the server cannot say: it does not answer, or keeps failing."""
    delay = max(confirm_delay, 0.05)
    failures = 0
    seen_unknown = False
    while True:
        try:
            state = await client.prompt_state(prompt_id)
        except ServerTimeoutError as exc:  # a stalled server: asking again would stall as long
            log.warning("prompt_unconfirmed", prompt_id=prompt_id, reason=str(exc)[:200])
            cause.unconfirmed_prompt_id = prompt_id
            raise cause from exc
        except (ServerUnreachableError, ServerError) as exc:
            failures += 1
            if failures >= ASK_ATTEMPTS:
                log.warning("prompt_unconfirmed", prompt_id=prompt_id, reason=str(exc)[:200])
                cause.unconfirmed_prompt_id = prompt_id
                raise cause from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if state.where != "unknown":
            return state
        if seen_unknown:
            return None
        seen_unknown = True
        await asyncio.sleep(confirm_delay)  # a request still in the server's hands is not lost


async def post_exactly_once(
    client: ComfyUIClient,
    post: Callable[[], Awaitable[PromptResponse]],
    prompt_id: str,
    *,
    confirm_delay: float | None = None,
    max_posts: int = MAX_POSTS,
) -> tuple[PromptResponse, PromptState | None]:
    """``post()`` until the server holds ``prompt_id`` once: the answer, and where the prompt was
    found when the answer was lost (None when it arrived)."""
    delay = CONFIRM_DELAY if confirm_delay is None else confirm_delay
    posts = 0
    while True:
        posts += 1
        try:
            return await post(), None
        except ServerUnreachableError as exc:
            if not exc.request_sent:
                raise  # refused or never connected: the server did not see this request
            lost = exc
        log.warning("prompt_answer_lost", prompt_id=prompt_id, attempt=posts, reason=lost.reason[:200])
        state = await find_prompt(client, prompt_id, lost, confirm_delay=delay)
        if state is not None:
            item = state.queue_item or (state.history.item if state.history else None)
            log.info("prompt_confirmed", prompt_id=prompt_id, where=state.where)
            return PromptResponse(prompt_id=prompt_id, number=item.number if item else None), state
        if posts >= max_posts:
            raise lost  # asked after every POST: the server surely has none of them
        log.info("prompt_reposted", prompt_id=prompt_id, attempt=posts + 1)


async def record_failed_submission(
    recorders: list[SubmissionRecorder], execution: WorkflowExecution, exc: BaseException
) -> None:
    """Tell the recorders what became of a submission that did not end in a queued prompt:
    surely not queued (the row goes), or unconfirmed (the row stays, saying so)."""
    if not isinstance(exc, Exception):
        return  # cancelled mid-POST: the row stays as written; the journal's reconcile settles it
    unconfirmed = isinstance(exc, ServerUnreachableError) and exc.unconfirmed_prompt_id is not None
    if unconfirmed:
        execution.status_detail = (
            "unconfirmed: the server's answer was lost and it could not be asked whether it queued "
            "the prompt; reconciling the journal settles it"
        )
    for recorder in list(recorders):
        try:
            if unconfirmed:
                await recorder.submitting(execution)
            else:
                await recorder.not_queued(execution)
        except Exception:
            log.exception("submission_recorder_failed", recorder=repr(recorder))
