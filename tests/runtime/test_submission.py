"""post_exactly_once on its own: which failures are asked about, and what each answer leads to."""

from __future__ import annotations

from typing import Any, cast

import httpx
import pytest

from comfy_reality.runtime import PromptState, ServerTimeoutError, ServerUnreachableError
from comfy_reality.runtime.client import ComfyUIClient, PromptResponse, request_may_have_arrived
from comfy_reality.runtime.submission import post_exactly_once

URL = "http://127.0.0.1:9"


class FakeClient:
    """Answers prompt_state from a script: a PromptState 'where', or an exception to raise."""

    def __init__(self, *answers: str | BaseException) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def prompt_state(self, prompt_id: str) -> PromptState:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return PromptState(prompt_id=prompt_id, where=cast(Any, answer))


def lost(sent: bool = True) -> ServerUnreachableError:
    error = ServerUnreachableError(URL, "Server disconnected without sending a response.")
    error.request_sent = sent
    return error


class Poster:
    def __init__(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> PromptResponse:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return PromptResponse(prompt_id="p1", number=7)


@pytest.mark.parametrize(
    ("exc", "sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), False),
        (httpx.PoolTimeout("no connection free"), False),
        (httpx.ReadError("reset"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx.ReadTimeout("no answer"), True),
        (httpx.WriteError("broken pipe"), True),
    ],
)
def test_which_transport_failures_may_have_reached_the_server(exc: httpx.TransportError, sent: bool) -> None:
    assert request_may_have_arrived(exc) is sent


async def test_a_refused_connection_is_not_asked_about() -> None:
    client = FakeClient()
    post = Poster(lost(sent=False))
    with pytest.raises(ServerUnreachableError) as info:
        await post_exactly_once(cast(ComfyUIClient, client), post, "p1", confirm_delay=0)
    assert client.asked == 0 and post.calls == 1 and info.value.unconfirmed_prompt_id is None


async def test_found_after_a_lost_answer_is_not_posted_again() -> None:
    client = FakeClient("pending")
    post = Poster(lost())
    answer, found = await post_exactly_once(cast(ComfyUIClient, client), post, "p1", confirm_delay=0)
    assert post.calls == 1 and answer.prompt_id == "p1"
    assert found is not None and found.where == "pending"


async def test_unknown_once_is_asked_again_before_posting_again() -> None:
    """The server may still be validating the request: one 'unknown' is not enough."""
    client = FakeClient("unknown", "running")
    post = Poster(lost())
    _, found = await post_exactly_once(cast(ComfyUIClient, client), post, "p1", confirm_delay=0)
    assert post.calls == 1 and client.asked == 2
    assert found is not None and found.where == "running"


async def test_unknown_twice_is_posted_again() -> None:
    client = FakeClient("unknown", "unknown")
    post = Poster(lost(), None)
    answer, found = await post_exactly_once(cast(ComfyUIClient, client), post, "p1", confirm_delay=0)
    assert post.calls == 2 and found is None and answer.number == 7


async def test_a_server_that_cannot_be_asked_leaves_the_prompt_unconfirmed() -> None:
    client = FakeClient(ServerTimeoutError(URL, 1.0))
    post = Poster(lost())
    with pytest.raises(ServerUnreachableError) as info:
        await post_exactly_once(cast(ComfyUIClient, client), post, "p1", confirm_delay=0)
    assert info.value.unconfirmed_prompt_id == "p1" and post.calls == 1


async def test_passing_failures_while_asking_are_asked_again() -> None:
    client = FakeClient(lost(), lost(), "finished")
    post = Poster(lost())
    _, found = await post_exactly_once(cast(ComfyUIClient, client), post, "p1", confirm_delay=0)
    assert found is not None and found.where == "finished" and post.calls == 1
