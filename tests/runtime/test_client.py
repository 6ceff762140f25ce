"""ComfyUIClient on its own, over httpx.MockTransport: request shapes and error mapping."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from comfy_reality.runtime import (
    Auth,
    ComfyUIClient,
    PromptValidationError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
)
from comfy_reality.runtime.client import resolve_server_url

from ..conftest import PROTOCOL_FIXTURES

Handler = Callable[[httpx.Request], httpx.Response]


def recorded(scenario: str, label: str | None = None, path: str | None = None) -> dict[str, Any]:
    for line in (PROTOCOL_FIXTURES / f"{scenario}.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if (
            entry["dir"] == "http"
            and (label is None or entry.get("label") == label)
            and (path is None or entry["path"] == path)
        ):
            return dict(entry)
    raise LookupError(label or path)


def client_with(handler: Handler, **kwargs: Any) -> tuple[ComfyUIClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return ComfyUIClient("http://comfy.test:8188", transport=httpx.MockTransport(record), **kwargs), seen


def test_server_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_server_url(None) == "http://127.0.0.1:8188"
    monkeypatch.setenv("COMFYUI_URL", "https://gpu.example/comfy/")
    assert resolve_server_url(None) == "https://gpu.example/comfy"
    assert resolve_server_url("10.0.0.5:8188") == "http://10.0.0.5:8188"
    with pytest.raises(ValueError, match="Invalid ComfyUI server URL 'ftp://x'"):
        resolve_server_url("ftp://x")
    assert resolve_server_url("http://h:8188/?token=abc-secret") == "http://h:8188"


async def test_a_query_in_the_server_url_goes_on_every_request_and_the_websocket() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = ComfyUIClient("http://h:8188/?token=tok-in-url-77", transport=httpx.MockTransport(record))
    assert client.server_url == "http://h:8188"  # what messages and logs show
    async with client:
        await client.get_system_stats()
    assert seen[0].url.params["token"] == "tok-in-url-77"
    assert client.ws_url("c") == "ws://h:8188/ws?clientId=c&token=tok-in-url-77"
    from comfy_reality.logs import redact_text

    assert "tok-in-url-77" not in redact_text("GET /x?other=1 tok-in-url-77")


def test_ws_url_follows_the_scheme_and_carries_the_query_token() -> None:
    client = ComfyUIClient("https://gpu.example/comfy", auth=Auth(token="tok-123456", token_in_query=True))
    assert client.ws_url("cid") == "wss://gpu.example/comfy/ws?clientId=cid&token=tok-123456"
    assert ComfyUIClient("http://h:1").ws_url("c") == "ws://h:1/ws?clientId=c"


async def test_post_prompt_sends_ids_and_options() -> None:
    answer = {"prompt_id": "p-1", "number": 7, "node_errors": {}}
    client, seen = client_with(lambda r: httpx.Response(200, json=answer))
    async with client:
        result = await client.post_prompt(
            {"1": {"class_type": "X", "inputs": {}}},
            client_id="cid",
            prompt_id="p-1",
            extra_data={"k": 1},
            front=True,
        )
    assert (result.prompt_id, result.number, result.node_errors) == ("p-1", 7, {})
    body = json.loads(seen[0].content)
    assert body == {
        "prompt": {"1": {"class_type": "X", "inputs": {}}},
        "client_id": "cid",
        "prompt_id": "p-1",
        "extra_data": {"k": 1},
        "front": True,
    }
    assert seen[0].url.path == "/prompt"


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"client_id": "cid"},
        {"client_id": "cid", "prompt_id": "p-1", "extra_data": {"k": "ü"}, "front": True},
    ],
)
async def test_a_prompt_encoded_once_makes_the_same_body(options: dict[str, Any]) -> None:
    """The runtime passes the JSON text check_prompt made: the body is the one a dict would give."""
    from comfy_reality.runtime.prompt import checked_prompt

    prompt = {
        "1": {"class_type": "X", "inputs": {"text": "ünïcode \u2028", "n": 1.5}},
        2: {"class_type": "Y"},
    }
    checked, encoded = checked_prompt(prompt)
    client, seen = client_with(lambda r: httpx.Response(200, json={"prompt_id": "p-1"}))
    async with client:
        await client.post_prompt(checked, **options)
        await client.post_prompt(checked, encoded_prompt=encoded, **options)
    plain, once = (json.loads(request.content) for request in seen)
    assert once == plain == {"prompt": checked, **options}
    assert list(once) == list(plain)  # same key order
    assert seen[1].headers["content-type"] == "application/json"
    assert int(seen[1].headers["content-length"]) == len(seen[1].content)


async def test_400_raises_prompt_validation_error() -> None:
    entry = recorded("03_validation_errors", "missing_required_input")
    client, _ = client_with(lambda r: httpx.Response(400, json=entry["json"]))
    async with client:
        with pytest.raises(PromptValidationError) as caught:
            await client.post_prompt({"1": {"class_type": "EmptyImage", "inputs": {}}})
    assert caught.value.node_errors == entry["json"]["node_errors"]
    assert caught.value.node_messages() == ["node 1 (EmptyImage): Required input is missing: width"]


@pytest.mark.parametrize(
    "response,expected",
    [
        (httpx.Response(500, text="500 Internal Server Error\n\nServer got itself in trouble"), "HTTP 500"),
        (httpx.Response(200, text="<html>proxy login</html>"), "not JSON"),
        (httpx.Response(401, text="Unauthorized"), "Check the credentials"),
        (httpx.Response(400, text="bad"), "not JSON"),
        (httpx.Response(400, json={"nothing": 1}), "without an error description"),
        (httpx.Response(200, json={"number": 1}), "no prompt_id"),
    ],
)
async def test_bad_answers_raise_server_response_error(response: httpx.Response, expected: str) -> None:
    client, _ = client_with(lambda r: response)
    async with client:
        with pytest.raises(ServerResponseError, match=expected):
            await client.post_prompt({"1": {"class_type": "X", "inputs": {}}})


async def test_connection_errors_and_timeouts_are_mapped() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = client_with(refuse)
    async with client:
        with pytest.raises(
            ServerUnreachableError, match="Cannot reach ComfyUI at http://comfy.test:8188: .*refused"
        ):
            await client.get_queue()
    client, _ = client_with(stall, timeout=1.5)
    async with client:
        with pytest.raises(ServerTimeoutError, match="did not answer within 1.5s"):
            await client.get_system_stats()


async def test_queue_is_parsed_and_pending_sorted_by_number() -> None:
    prompt = {"1": {"class_type": "X", "inputs": {}}}
    raw = {
        "queue_running": [[5, "run", prompt, {"client_id": "c1"}, ["1"]]],
        "queue_pending": [
            [9, "late", prompt, {}, ["1"]],
            [-3, "front", prompt, {"client_id": "c2"}, ["1"]],
            [7, "mid", prompt, {}, []],
        ],
    }
    client, _ = client_with(lambda r: httpx.Response(200, json=raw))
    async with client:
        queue = await client.get_queue()
    assert [i.prompt_id for i in queue.pending] == ["front", "mid", "late"]
    assert queue.running[0].client_id == "c1" and queue.running[0].outputs_to_execute == ["1"]
    assert queue.find("mid") is not None and queue.find("mid")[0] == "pending"  # type: ignore[index]
    assert queue.find("run")[0] == "running"  # type: ignore[index]
    assert queue.find("gone") is None


async def test_history_entry_and_unknown_id() -> None:
    entry = recorded("04_runtime_error", path="/history/774e8a8b-c91d-4094-a290-e30a464ee2bf")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("774e8a8b-c91d-4094-a290-e30a464ee2bf"):
            return httpx.Response(200, json=entry["json"])
        return httpx.Response(200, json={})

    client, seen = client_with(handler)
    async with client:
        history = await client.get_history_entry("774e8a8b-c91d-4094-a290-e30a464ee2bf")
        assert await client.get_history_entry("unknown") is None
        await client.get_history(max_items=3)
    assert history is not None and history.status_str == "error" and not history.interrupted
    assert history.item is not None and history.item.outputs_to_execute == ["4", "5"]
    assert [name for name, _ in history.message_list()] == [
        "execution_start",
        "execution_cached",
        "execution_error",
    ]
    assert seen[-1].url.params["max_items"] == "3"


async def test_prompt_state_without_jobs_api() -> None:
    prompt = {"1": {"class_type": "X", "inputs": {}}}
    queue = {"queue_running": [[1, "run", prompt, {}, []]], "queue_pending": [[2, "wait", prompt, {}, []]]}
    done = {
        "done": {
            "prompt": [0, "done", prompt, {}, []],
            "outputs": {},
            "status": {"status_str": "success", "completed": True, "messages": []},
        }
    }

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/jobs":
            return httpx.Response(404)
        if path == "/queue":
            return httpx.Response(200, json=queue)
        if path == "/history/done":
            return httpx.Response(200, json=done)
        return httpx.Response(200, json={})

    client, seen = client_with(handler)
    async with client:
        assert (await client.prompt_state("run")).where == "running"
        assert (await client.prompt_state("wait")).where == "pending"
        finished = await client.prompt_state("done")
        assert finished.where == "finished" and finished.history is not None
        assert (await client.prompt_state("ghost")).where == "unknown"
    assert [r.url.path for r in seen].count("/api/jobs") == 1  # probed once, cached


async def test_prompt_state_with_jobs_api() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/jobs":
            return httpx.Response(200, json={"jobs": [], "pagination": {"offset": 0, "limit": 1, "total": 0}})
        if path == "/api/jobs/a":
            return httpx.Response(200, json={"id": "a", "status": "in_progress"})
        if path == "/api/jobs/b":
            return httpx.Response(200, json={"id": "b", "status": "pending"})
        return httpx.Response(404)

    client, seen = client_with(handler)
    async with client:
        assert (await client.prompt_state("a")).where == "running"
        assert (await client.prompt_state("b")).where == "pending"
    assert "/queue" not in [r.url.path for r in seen]


async def test_queue_history_interrupt_bodies() -> None:
    client, seen = client_with(lambda r: httpx.Response(200))
    async with client:
        await client.delete_from_queue(["a", "b"])
        await client.clear_queue()
        await client.interrupt("p")
        await client.interrupt()
        await client.delete_history(["h"])
        await client.clear_history()
    bodies = [(r.url.path, json.loads(r.content)) for r in seen]
    assert bodies == [
        ("/queue", {"delete": ["a", "b"]}),
        ("/queue", {"clear": True}),
        ("/interrupt", {"prompt_id": "p"}),
        ("/interrupt", {}),
        ("/history", {"delete": ["h"]}),
        ("/history", {"clear": True}),
    ]


async def test_userdata_paths_are_encoded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/userdata":
            return httpx.Response(404, text="Directory not found")
        if request.method == "GET":
            return httpx.Response(200, content=b'{"nodes": []}')
        return httpx.Response(200, json="workflows/a b.json")

    client, seen = client_with(handler)
    async with client:
        assert await client.list_userdata() == []
        assert await client.get_userdata("workflows/a b.json") == b'{"nodes": []}'
        assert await client.put_userdata("workflows/a b.json", b"{}", overwrite=False) == "workflows/a b.json"
    assert seen[1].url.raw_path == b"/userdata/workflows%2Fa%20b.json"
    assert seen[2].url.params["overwrite"] == "false" and seen[2].content == b"{}"


async def test_auth_headers_and_query_on_http() -> None:
    client, seen = client_with(lambda r: httpx.Response(200, json={}), auth=Auth(token="tok-abcdef"))
    async with client:
        await client.get_system_stats()
    assert seen[0].headers["authorization"] == "Bearer tok-abcdef"
    client, seen = client_with(
        lambda r: httpx.Response(200, json={}),
        auth=Auth(token="tok-abcdef", token_in_query=True, headers={"X-Team": "a"}),
    )
    async with client:
        await client.get_system_stats()
    assert seen[0].url.params["token"] == "tok-abcdef" and "authorization" not in seen[0].headers
    assert seen[0].headers["x-team"] == "a"
    client, seen = client_with(
        lambda r: httpx.Response(200, json={}), auth=Auth(username="u", password="pw-secret")
    )
    async with client:
        await client.get_system_stats()
    assert seen[0].headers["authorization"] == "Basic dTpwdy1zZWNyZXQ="


def test_auth_repr_hides_secrets() -> None:
    auth = Auth(
        token="tok-very-secret", password="pw-very-secret", username="me", headers={"X-Api-Key": "key-secret"}
    )
    text = repr(auth)
    assert "tok-very-secret" not in text and "pw-very-secret" not in text and "key-secret" not in text
