"""Hostile WebSocket frames: wrong types, missing fields, unknown types, huge and truncated frames.

Each is fed to the parser alone, and to a live runtime (the frame path ``_on_frame`` -> parse ->
fold into the task tree of a prompt that is really running on the embedded server). The rules:
nothing raises, nothing is swallowed by the runtime's last-resort handler (``ws_frame_failed``
would mean the folding code crashed half-way), and memory does not grow with the number of
hostile frames.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfy_reality.runtime import ComfyUIAsyncRuntime, TaskStatus, WorkflowExecution
from comfy_reality.runtime.client import WS_MAX_SIZE
from comfy_reality.runtime.protocol import encode_binary_frame, parse_binary, parse_frame, parse_text
from comfy_reality.server import EmbeddedServer, ServerConfig

from ..faults.conftest import make_runtime, progress_prompt, wait_for_progress

KNOWN_TYPES = [
    "status",
    "feature_flags",
    "execution_start",
    "execution_cached",
    "executing",
    "progress",
    "progress_state",
    "executed",
    "execution_success",
    "execution_error",
    "execution_interrupted",
    "logs",
]
# Messages that end a prompt are fuzzed separately (once one arrives, the rest are ignored).
ENDING = {"execution_success", "execution_error", "execution_interrupted"}
FIELDS = [
    "prompt_id",
    "node",
    "display_node",
    "value",
    "max",
    "nodes",
    "output",
    "executed",
    "node_id",
    "node_type",
    "exception_message",
    "exception_type",
    "traceback",
    "current_inputs",
    "timestamp",
    "status",
    "sid",
    "entries",
    "display_node_id",
    "parent_node_id",
    "real_node_id",
    "state",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["1", "2", "3", "2.0.0.1", "running", "finished", "images"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)


def node_state_map() -> st.SearchStrategy[dict[str, Any]]:
    entry = st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ("value", "max", "state", "node_id", "display_node_id", "parent_node_id"), json_values
        ),
    )
    return st.dictionaries(
        st.sampled_from(["1", "2", "3", "2.0.0.1", "9", "x"]) | st.text(max_size=4),
        entry | json_values,
        max_size=5,
    )


@st.composite
def text_frames(draw: st.DrawFn, prompt_id: str, types: list[str]) -> str:
    mtype = draw(st.sampled_from(types) | st.text(max_size=10))
    data: Any = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=7))
    if mtype == "progress_state" and draw(st.booleans()):
        data["nodes"] = draw(node_state_map())
    if draw(st.integers(0, 3)):
        data["prompt_id"] = prompt_id
    shape = draw(st.integers(0, 9))
    if shape == 0:
        data = draw(json_values)  # data of the wrong type
    body: Any = {"type": mtype, "data": data}
    if shape == 1:
        body = draw(json_values)  # not even an envelope
    elif shape == 2:
        body.pop("type")
    text = json.dumps(body, allow_nan=True)
    if shape == 3:
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]  # truncated JSON
    return text


@st.composite
def binary_frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from([1, 3, 4, 2, 0, 7, 2**32 - 1]))
    header = draw(st.integers(0, 2**32 - 1) | st.integers(0, 64))
    payload = draw(st.binary(max_size=80))
    frame = encode_binary_frame(kind, header, payload)
    if draw(st.booleans()):
        frame = frame[: draw(st.integers(0, len(frame)))]  # truncated anywhere, even in the header
    return frame


# ------------------------------------------------------------------------------- parser alone
@settings(max_examples=400, deadline=None)
@given(
    frame=text_frames("p-1", KNOWN_TYPES) | binary_frames() | st.text(max_size=50) | st.binary(max_size=50)
)
def test_the_parser_never_raises(frame: str | bytes) -> None:
    parse_frame(frame)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"type":"progress","data":' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"type":"executed","data":{"node":"1","prompt_id":"p","output":'
        + '{"a":' * 20_000
        + "1"
        + "}" * 20_000
        + "}}",
    ],
    ids=["nested-array", "nested-data", "nested-output"],
)
def test_deeply_nested_json_is_skipped_not_a_crash(text: str) -> None:
    assert parse_text(text) is None


def test_a_huge_message_is_parsed_or_skipped_and_the_socket_limit_is_bounded() -> None:
    huge = json.dumps(
        {"type": "progress", "data": {"value": 1, "max": 2, "prompt_id": "p", "node": "x" * 5_000_000}}
    )
    message = parse_text(huge)
    assert message is None or getattr(message, "value", None) == 1
    assert 0 < WS_MAX_SIZE <= 256 * 1024 * 1024  # the transport refuses larger frames


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00\x00\x00",
        encode_binary_frame(3, 50, b"short"),
        encode_binary_frame(4, 2**32 - 1, b"{}"),
        encode_binary_frame(4, 5, b"nojsn\xff\xd8"),
        encode_binary_frame(4, 2, b"[]"),
        encode_binary_frame(3, 2, b"\xff\xfe\xff text"),
    ],
)
def test_truncated_or_lying_binary_frames(frame: bytes) -> None:
    result = parse_binary(frame)
    assert result is None or result.type in (
        "text",
        "unknown_binary",
        "preview_image",
        "preview_image_with_metadata",
    )


# ------------------------------------------------------------------- through a live runtime
@pytest.fixture
async def live() -> AsyncIterator[tuple[ComfyUIAsyncRuntime, WorkflowExecution]]:
    """A runtime following a prompt that keeps running on the embedded server during the test."""
    async with EmbeddedServer(ServerConfig(port=0, speed=50)) as server:
        runtime = make_runtime(server.url)
        async with runtime.session():
            execution = await runtime.submit(progress_prompt(steps=100_000, delay=1.0), name="target")
            await wait_for_progress(runtime, execution)
            yield runtime, execution
            await runtime.cancel(execution)


def crashes(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry.get("event") in ("ws_frame_failed", "subscriber_failed")]


async def test_hostile_frames_fold_without_crashing(
    live: tuple[ComfyUIAsyncRuntime, WorkflowExecution],
) -> None:
    runtime, execution = live
    prompt_id = execution.prompt_id or ""
    frames = text_frames(prompt_id, [t for t in KNOWN_TYPES if t not in ENDING]) | binary_frames()

    with structlog.testing.capture_logs() as logs:

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(frame=frames)
        def feed(frame: str | bytes) -> None:
            runtime._on_frame(frame)

        feed()
    assert crashes(logs) == []
    assert not execution.is_final
    await asyncio.sleep(0)  # let queued subscribers run; the runtime still works afterwards
    assert runtime.connected


@pytest.mark.parametrize("ending", sorted(ENDING))
async def test_hostile_ending_messages(
    live: tuple[ComfyUIAsyncRuntime, WorkflowExecution], ending: str
) -> None:
    runtime, execution = live
    prompt_id = execution.prompt_id or ""
    with structlog.testing.capture_logs() as logs:

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(data=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8))
        def feed(data: dict[str, Any]) -> None:
            data = {**data, "prompt_id": "someone-else"}  # ends nothing of ours, still folded
            runtime._on_frame(json.dumps({"type": ending, "data": data}))

        feed()
    assert crashes(logs) == []
    assert not execution.is_final


def _grown_by(runtime: ComfyUIAsyncRuntime, frames: list[str]) -> int:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for frame in frames:
        runtime._on_frame(frame)
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before


@contextmanager
def quiet_logs() -> Iterator[None]:
    previous = structlog.get_config()

    def drop(*_: Any) -> Any:
        raise structlog.DropEvent

    structlog.configure(processors=[drop])
    try:
        yield
    finally:
        structlog.configure(**previous)


def _flood(prompt_id: str, kind: str, i: int) -> str:
    data: dict[str, Any]
    if kind == "progress_state":
        data = {
            "prompt_id": prompt_id,
            "nodes": {
                f"2.{i}": {"state": "running", "value": i % 7, "max": 7, "display_node_id": "2"},
                f"junk-{i}": {"state": "running", "value": 1, "max": 2},
            },
        }
    elif kind == "executing":
        data = {"prompt_id": prompt_id, "node": f"9{i}", "display_node": f"9{i}"}
    elif kind == "progress":
        data = {"prompt_id": prompt_id, "node": f"junk{i}", "value": i, "max": i + 1}
    elif kind == "executed":
        data = {"prompt_id": prompt_id, "node": f"junk{i}", "output": {"images": [{"filename": f"x{i}.png"}]}}
    elif kind == "executed-expansion":
        data = {
            "prompt_id": prompt_id,
            "node": f"2.{i}",
            "display_node": "2",
            "output": {"images": [{"filename": f"x{i}.png", "subfolder": "", "type": "temp"}]},
        }
    else:
        return json.dumps({"type": f"unknown-{i}", "data": {"blob": "x" * 1000}})
    return json.dumps({"type": kind.split("-")[0], "data": data})


def _growth(runtime: ComfyUIAsyncRuntime, prompt_id: str, kind: str) -> tuple[int, int]:
    counter = iter(range(10**9))

    def batch(n: int) -> list[str]:
        return [_flood(prompt_id, kind, next(counter)) for _ in range(n)]

    tracemalloc.start()
    try:
        with quiet_logs():  # captured log lines would be the growth measured
            _grown_by(runtime, batch(1_000))  # warm-up: caches and first-time allocations
            first = _grown_by(runtime, batch(3_000))
            second = _grown_by(runtime, batch(3_000))
    finally:
        tracemalloc.stop()
    return first, second


@pytest.mark.parametrize(
    "kind", ["progress", "executing", "unknown", "executed", "executed-expansion", "progress_state"]
)
async def test_memory_does_not_grow_with_hostile_frames(
    live: tuple[ComfyUIAsyncRuntime, WorkflowExecution], kind: str
) -> None:
    runtime, execution = live
    first, second = _growth(runtime, execution.prompt_id or "", kind)
    # Bounded memory: another 3,000 hostile frames with fresh node ids cost (almost) nothing more.
    assert second < 300_000, f"grew by {first} then {second} bytes per 3,000 hostile {kind} frames"
    assert execution.status is TaskStatus.RUNNING


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        ('{"type": "progress", "data": {"value": 1', "ws_malformed_json"),
        ('{"data": {}}', "ws_message_without_type"),
        ('{"type": "progress", "data": [1, 2]}', "ws_message_data_not_object"),
        ('{"type": "progress", "data": {"value": "lots", "max": 2}}', "ws_invalid_message"),
        (b"\x00\x00", "ws_binary_truncated"),
    ],
)
def test_a_bad_frame_is_logged_and_skipped(frame: str | bytes, event: str) -> None:
    with structlog.testing.capture_logs() as logs:
        assert parse_frame(frame) is None
    assert [entry["event"] for entry in logs] == [event]
    assert logs[0]["log_level"] == "warning"
