"""The WS message parser against every recorded frame, plus the ways a frame can be broken."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from comfy_reality.runtime import protocol
from comfy_reality.runtime.protocol import (
    ExecutingMessage,
    ExecutionErrorMessage,
    GenericMessage,
    PreviewImageFrame,
    PreviewImageWithMetadataFrame,
    ProgressMessage,
    ProgressStateMessage,
    StatusMessage,
    TextFrame,
    UnknownBinaryFrame,
    encode_binary_frame,
    parse_binary,
    parse_frame,
    parse_text,
)

from ..conftest import PROTOCOL_FIXTURES
from .replay import _binary

EXPECTED = {
    "status": protocol.StatusMessage,
    "feature_flags": protocol.FeatureFlagsMessage,
    "execution_start": protocol.ExecutionStartMessage,
    "execution_cached": protocol.ExecutionCachedMessage,
    "executing": protocol.ExecutingMessage,
    "progress": protocol.ProgressMessage,
    "progress_state": protocol.ProgressStateMessage,
    "executed": protocol.ExecutedMessage,
    "execution_success": protocol.ExecutionSuccessMessage,
    "execution_error": protocol.ExecutionErrorMessage,
    "execution_interrupted": protocol.ExecutionInterruptedMessage,
    "logs": protocol.LogsMessage,
}


def recorded_lines() -> list[dict[str, Any]]:
    lines = []
    for path in sorted(PROTOCOL_FIXTURES.glob("*.jsonl")):
        lines.extend(
            json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        )
    return [line for line in lines if line["dir"] == "ws_in"]


RECORDED = recorded_lines()


def test_every_recorded_text_message_parses_to_its_model() -> None:
    seen: set[str] = set()
    for line in RECORDED:
        if line.get("binary"):
            continue
        message = parse_text(json.dumps(line["json"]))
        assert isinstance(message, EXPECTED[line["type"]]), line["json"]
        seen.add(line["type"])
    assert seen == set(EXPECTED)


def test_every_recorded_binary_frame_decodes() -> None:
    kinds = {1: PreviewImageFrame, 3: TextFrame}
    count = 0
    for line in RECORDED:
        if not line.get("binary") or line["event_type_int"] == 4:
            continue
        frame = parse_binary(_binary(line))
        assert isinstance(frame, kinds[line["event_type_int"]])
        decoded = line["decoded"]
        if isinstance(frame, TextFrame):
            assert (frame.node_id, frame.text) == (decoded["node_id"], decoded["text"])
        else:
            assert isinstance(frame, PreviewImageFrame)
            assert frame.image_type == {"JPEG": "image/jpeg", "PNG": "image/png"}[decoded["image_format"]]
            assert len(frame.image) == decoded["image_len"]
            assert frame.image[:8].hex() == decoded["image_magic_hex"]
        count += 1
    assert count > 10


def test_preview_with_metadata_frame() -> None:
    line = next(rec for rec in RECORDED if rec.get("binary") and rec["event_type_int"] == 4)
    meta = json.dumps(line["decoded"]["metadata"]).encode()
    frame = parse_binary(encode_binary_frame(4, len(meta), meta + b"\xff\xd8\xff\xe0rest"))
    assert isinstance(frame, PreviewImageWithMetadataFrame)
    assert frame.prompt_id == line["decoded"]["metadata"]["prompt_id"]
    assert (frame.node_id, frame.display_node_id, frame.image_type) == ("2", "2", "image/jpeg")
    assert frame.image == b"\xff\xd8\xff\xe0rest"


def test_fields_of_the_main_messages() -> None:
    status = parse_text('{"type":"status","data":{"status":{"exec_info":{"queue_remaining":3}},"sid":"abc"}}')
    assert status == StatusMessage(queue_remaining=3, sid="abc")
    done = parse_text('{"type":"executing","data":{"node":null,"prompt_id":"p"}}')
    assert isinstance(done, ExecutingMessage) and done.node is None and done.prompt_id == "p"
    bare = parse_text('{"type":"executing","data":{"node":"2"}}')
    assert isinstance(bare, ExecutingMessage) and bare.prompt_id is None and bare.node == "2"
    progress = parse_text('{"type":"progress","data":{"value":3,"max":10,"prompt_id":"p","node":2}}')
    assert isinstance(progress, ProgressMessage)
    assert (progress.value, progress.max, progress.node) == (3.0, 10.0, "2")  # node ids are strings
    state = parse_text(
        '{"type":"progress_state","data":{"prompt_id":"p","nodes":{"1":{"value":1.0,"max":1.0,"state":"finished"}}}}'
    )
    assert isinstance(state, ProgressStateMessage) and state.nodes["1"]["state"] == "finished"


def test_blocker_error_has_a_list_for_current_inputs() -> None:
    line = next(
        rec
        for rec in RECORDED
        if rec.get("type") == "execution_error"
        and rec["json"]["data"]["exception_type"] == "ExecutionBlocked"
    )
    message = parse_text(json.dumps(line["json"]))
    assert isinstance(message, ExecutionErrorMessage)
    assert (
        message.is_blocked
        and message.current_inputs == {}
        and message.traceback == []
        and message.timestamp is None
    )


def test_unknown_type_is_a_generic_message_and_logged() -> None:
    with capture_logs() as logs:
        message = parse_text('{"type":"crystools.monitor","data":{"cpu":3}}')
    assert (
        isinstance(message, GenericMessage)
        and message.type == "crystools.monitor"
        and message.data == {"cpu": 3}
    )
    assert logs[0]["event"] == "ws_unknown_message"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"type": "progress", "data":',
        "[1, 2]",
        '{"data": {}}',
        '{"type": "status", "data": [1]}',
        '{"type": "progress", "data": {"value": "x", "max": 10}}',
        '{"type": "progress", "data": {"value": true, "max": 10}}',
        '{"type": "progress_state", "data": {"prompt_id": "p", "nodes": []}}',
        '{"type": "execution_start", "data": {}}',
        '{"type": "executed", "data": {"node": "1", "output": "text"}}',
    ],
)
def test_malformed_text_frames_are_logged_and_skipped(text: str) -> None:
    with capture_logs() as logs:
        assert parse_text(text) is None
    assert logs and logs[0]["log_level"] == "warning"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00\x00\x00\x01",
        encode_binary_frame(3, 50, b"2abc"),
        encode_binary_frame(4, 500, b"{}"),
        encode_binary_frame(4, 5, b"{bad}xx"),
        encode_binary_frame(4, 2, b"[]xx"),
    ],
)
def test_truncated_binary_frames_are_logged_and_skipped(frame: bytes) -> None:
    with capture_logs() as logs:
        assert parse_binary(frame) is None
    assert logs and logs[0]["log_level"] == "warning"


def test_unknown_binary_type_is_kept_as_such() -> None:
    frame = parse_binary(encode_binary_frame(9, 0, b"abc"))
    assert frame == UnknownBinaryFrame(event_type=9, size=11)


def test_parse_frame_dispatches_on_frame_kind() -> None:
    assert isinstance(parse_frame('{"type":"status","data":{}}'), StatusMessage)
    assert isinstance(parse_frame(encode_binary_frame(3, 1, b"4hello")), TextFrame)


def test_flood_parsing_is_fast() -> None:
    """~13 000 msgs/s arrive from a fast node; parsing must keep far ahead of that."""
    flood = [
        json.dumps(rec["json"])
        for rec in json.loads(
            "[" + ",".join((PROTOCOL_FIXTURES / "11_progress_rate.jsonl").read_text().splitlines()) + "]"
        )
        if rec["dir"] == "ws_in" and not rec.get("binary")
    ]
    started = time.perf_counter()
    for text in flood:
        assert parse_text(text) is not None
    rate = len(flood) / (time.perf_counter() - started)
    assert rate > 20_000, f"parsed only {rate:.0f} msgs/s"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"type":"executed","data":{"node":"1","prompt_id":"p","output":'
        + '{"a":' * 20_000
        + "1"
        + "}" * 20_000
        + "}}",
    ],
    ids=["nested-array", "nested-output"],
)
def test_absurdly_deep_json_is_skipped(text: str) -> None:
    with capture_logs() as logs:
        assert parse_text(text) is None
    assert logs and logs[0]["log_level"] == "warning"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "progress", "data": {"value": 3, "max": 8, "prompt_id": "p", "node": "2"}},
        {"type": "progress", "data": {"value": 1.5, "max": 2}},
        {"type": "progress_state", "data": {"prompt_id": "p", "nodes": {"1": {"state": "running"}}}},
        {"type": "executing", "data": {"node": None, "prompt_id": "p"}},
        {"type": "executing", "data": {"node": "4", "display_node": "4", "prompt_id": "p"}},
    ],
)
def test_the_hot_path_builds_the_same_message_as_model_construct(frame: dict[str, Any]) -> None:
    message = protocol.parse_text(json.dumps(frame))
    assert message is not None
    fields = {k: v for k, v in message.__dict__.items() if k != "type"}
    reference = type(message).model_construct(**fields)
    assert message == reference
    assert message.model_fields_set == reference.model_fields_set
    assert message.model_dump() == reference.model_dump()
    with pytest.raises(ValueError):  # still frozen
        message.__setattr__("prompt_id", "other")


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}, "sid": "abc"}},
        {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}},
        {"type": "execution_start", "data": {"prompt_id": "p", "timestamp": 1796192924136}},
        {"type": "execution_start", "data": {"prompt_id": "p"}},
        {"type": "execution_start", "data": {"prompt_id": "p", "timestamp": None, "extra": 1}},
        {"type": "execution_start", "data": {"prompt_id": "p", "timestamp": 12.0}},  # validated: 12
        {"type": "execution_success", "data": {"prompt_id": "p", "timestamp": 5}},
        {"type": "execution_success", "data": {"prompt_id": "p", "timestamp": True}},  # validated
    ],
)
def test_fast_built_messages_equal_validated_ones(frame: dict[str, Any]) -> None:
    """Messages built without validation (exact types from the server) are the validated instance."""
    message = protocol.parse_text(json.dumps(frame))
    assert message is not None
    if frame["type"] == "status":
        status = frame["data"]
        reference: Any = protocol.StatusMessage(
            queue_remaining=status["status"]["exec_info"]["queue_remaining"], sid=status.get("sid")
        )
    else:
        reference = type(message).model_validate(frame["data"])
    assert message == reference
    assert message.model_fields_set == reference.model_fields_set
    assert message.model_dump() == reference.model_dump()
    with pytest.raises(ValueError):  # still frozen
        message.__setattr__("type", "other")


def test_a_prompt_end_with_a_wrong_prompt_id_type_is_still_rejected() -> None:
    with capture_logs():
        assert protocol.parse_text(json.dumps({"type": "execution_start", "data": {"prompt_id": 3}})) is None
