"""Typed ComfyUI WebSocket messages and binary frames, parsed fast and never fatally.

Every text frame is ``{"type": ..., "data": {...}}``; :func:`parse_text` dispatches on the
type string to one small parser per message type. The two flood types (``progress`` and
``progress_state``, ~13 000 messages/s from a fast node) are built with ``model_construct``
after a few cheap checks instead of full validation: they are the hot path. Everything else
is validated. A frame that cannot be understood is logged and skipped (``None``); an unknown
type becomes a :class:`GenericMessage`. Shapes follow the recorded transcripts in
``tests/fixtures/protocol``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypedDict

from ..errors import ProtocolError
from ..logs import get_logger

log = get_logger("comfy_reality.protocol")

# Binary frame event types (first 4 bytes, big endian).
PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}


class _Message(BaseModel):
    # defer_build: a message type's validator is built when the first such frame arrives, so
    # start-up does not pay for the types a run never sees.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


_M = TypeVar("_M", bound=_Message)
_Stamped = TypeVar("_Stamped", "ExecutionStartMessage", "ExecutionSuccessMessage")


# --------------------------------------------------------------------------- text messages
class StatusMessage(_Message):
    """Queue size broadcast; ``sid`` is present only in the message sent on connect."""

    type: Literal["status"] = "status"
    queue_remaining: int | None = None
    sid: str | None = None


class FeatureFlagsMessage(_Message):
    type: Literal["feature_flags"] = "feature_flags"
    flags: dict[str, Any] = Field(default_factory=dict)


class ExecutionStartMessage(_Message):
    type: Literal["execution_start"] = "execution_start"
    prompt_id: str
    timestamp: int | None = None


class ExecutionCachedMessage(_Message):
    type: Literal["execution_cached"] = "execution_cached"
    prompt_id: str
    nodes: list[str] = Field(default_factory=list)
    timestamp: int | None = None


class ExecutingMessage(_Message):
    """``node=None`` with a prompt_id ends a prompt; no prompt_id at all is the reconnect hint."""

    type: Literal["executing"] = "executing"
    node: str | None = None
    display_node: str | None = None
    prompt_id: str | None = None


class ProgressMessage(_Message):
    type: Literal["progress"] = "progress"
    value: float
    max: float
    prompt_id: str | None = None
    node: str | None = None


class NodeProgressState(TypedDict, total=False):
    """One entry of ``progress_state.nodes`` (kept as the raw dict: it is the hot path)."""

    value: float
    max: float
    state: str
    node_id: str
    prompt_id: str
    display_node_id: str | None
    parent_node_id: str | None
    real_node_id: str | None


class ProgressStateMessage(_Message):
    """A full snapshot of every node of the prompt that is no longer pending."""

    type: Literal["progress_state"] = "progress_state"
    prompt_id: str | None = None
    nodes: dict[str, NodeProgressState] = Field(default_factory=dict)


class ExecutedMessage(_Message):
    type: Literal["executed"] = "executed"
    node: str
    display_node: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    prompt_id: str | None = None


class ExecutionSuccessMessage(_Message):
    type: Literal["execution_success"] = "execution_success"
    prompt_id: str
    timestamp: int | None = None


class ExecutionErrorMessage(_Message):
    """A node raised. ``exception_type == "ExecutionBlocked"`` is not a failure: ComfyUI sends it when an
    ExecutionBlocker with a message stops a branch, then ends the prompt with ``execution_success``."""

    type: Literal["execution_error"] = "execution_error"
    prompt_id: str
    node_id: str | None = None
    node_type: str | None = None
    executed: list[str] = Field(default_factory=list)
    exception_message: str = ""
    exception_type: str = "Error"
    traceback: list[str] = Field(default_factory=list)
    current_inputs: dict[str, Any] = Field(default_factory=dict)
    current_outputs: list[str] = Field(default_factory=list)
    timestamp: int | None = None

    @property
    def is_blocked(self) -> bool:
        return self.exception_type == "ExecutionBlocked"


class ExecutionInterruptedMessage(_Message):
    type: Literal["execution_interrupted"] = "execution_interrupted"
    prompt_id: str
    node_id: str | None = None
    node_type: str | None = None
    executed: list[str] = Field(default_factory=list)
    timestamp: int | None = None


class LogEntry(_Message):
    t: str
    m: str


class LogsMessage(_Message):
    type: Literal["logs"] = "logs"
    entries: list[LogEntry] = Field(default_factory=list)
    size: Any = None


class GenericMessage(_Message):
    """A message type this client does not know (newer server, custom node)."""

    type: str
    data: dict[str, Any] = Field(default_factory=dict)


# -------------------------------------------------------------------------- binary frames
class PreviewImageFrame(_Message):
    """Type 1: a preview for a client without ``supports_preview_metadata`` (no prompt id)."""

    type: Literal["preview_image"] = "preview_image"
    image_type: str
    image: bytes = Field(repr=False)


class TextFrame(_Message):
    """Type 3: ``send_progress_text`` output; broadcast to every socket, no prompt id."""

    type: Literal["text"] = "text"
    node_id: str
    text: str


class PreviewImageWithMetadataFrame(_Message):
    """Type 4: a preview that says which prompt and node it belongs to."""

    type: Literal["preview_image_with_metadata"] = "preview_image_with_metadata"
    metadata: dict[str, Any]
    image_type: str
    image: bytes = Field(repr=False)

    @property
    def prompt_id(self) -> str | None:
        value = self.metadata.get("prompt_id")
        return value if isinstance(value, str) else None

    @property
    def node_id(self) -> str | None:
        value = self.metadata.get("node_id")
        return value if isinstance(value, str) else None

    @property
    def display_node_id(self) -> str | None:
        value = self.metadata.get("display_node_id")
        return value if isinstance(value, str) else None


class UnknownBinaryFrame(_Message):
    type: Literal["unknown_binary"] = "unknown_binary"
    event_type: int
    size: int


WsMessage = (
    StatusMessage
    | FeatureFlagsMessage
    | ExecutionStartMessage
    | ExecutionCachedMessage
    | ExecutingMessage
    | ProgressMessage
    | ProgressStateMessage
    | ExecutedMessage
    | ExecutionSuccessMessage
    | ExecutionErrorMessage
    | ExecutionInterruptedMessage
    | LogsMessage
    | GenericMessage
)
BinaryFrame = PreviewImageFrame | TextFrame | PreviewImageWithMetadataFrame | UnknownBinaryFrame
Frame = WsMessage | BinaryFrame


# ------------------------------------------------------------------------------ parsers
def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a node id sent as a number by some custom server
    raise ProtocolError(f"expected a string, got {type(value).__name__}")


def _number(value: Any, name: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ProtocolError(f"{name} is not a number: {value!r}")


_new_object = object.__new__
_set_attribute = object.__setattr__


def _built(cls: type[_M], values: dict[str, Any]) -> _M:
    """The hot path's ``model_construct``: every field given, already checked by the caller.

    The instance is the one ``model_construct`` builds (same field values, same fields set),
    without its per-field default lookups, which cost more than the parsing at 13,000 frames/s.
    """
    message = _new_object(cls)
    fields_set = set(values)
    fields_set.discard("type")  # the default, as model_construct leaves it
    _set_attribute(message, "__dict__", values)
    _set_attribute(message, "__pydantic_fields_set__", fields_set)
    _set_attribute(message, "__pydantic_extra__", None)
    _set_attribute(message, "__pydantic_private__", None)
    return message


def _parse_status(data: dict[str, Any]) -> StatusMessage:
    status = data.get("status")
    remaining: int | None = None
    if isinstance(status, dict):
        exec_info = status.get("exec_info")
        if isinstance(exec_info, dict):
            raw = exec_info.get("queue_remaining")
            if isinstance(raw, int) and not isinstance(raw, bool):
                remaining = raw
    sid = data.get("sid")
    return _built(
        StatusMessage,
        {"type": "status", "queue_remaining": remaining, "sid": sid if isinstance(sid, str) else None},
    )


def _parse_progress(data: dict[str, Any]) -> ProgressMessage:
    return _built(
        ProgressMessage,
        {
            "type": "progress",
            "value": _number(data.get("value"), "value"),
            "max": _number(data.get("max"), "max"),
            "prompt_id": _opt_str(data.get("prompt_id")),
            "node": _opt_str(data.get("node")),
        },
    )


def _parse_progress_state(data: dict[str, Any]) -> ProgressStateMessage:
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        raise ProtocolError("progress_state.nodes is not an object")
    return _built(
        ProgressStateMessage,
        {"type": "progress_state", "prompt_id": _opt_str(data.get("prompt_id")), "nodes": nodes},
    )


def progress_state_message(prompt_id: str, nodes: dict[str, Any]) -> ProgressStateMessage:
    """What :func:`parse_text` makes of a snapshot already split up (snapshot_decode.py)."""
    return _built(ProgressStateMessage, {"type": "progress_state", "prompt_id": prompt_id, "nodes": nodes})


def _parse_executing(data: dict[str, Any]) -> ExecutingMessage:
    return _built(
        ExecutingMessage,
        {
            "type": "executing",
            "node": _opt_str(data.get("node")),
            "display_node": _opt_str(data.get("display_node")),
            "prompt_id": _opt_str(data.get("prompt_id")),
        },
    )


def _parse_execution_error(data: dict[str, Any]) -> ExecutionErrorMessage:
    fixed = dict(data)
    # The blocker's error carries ``current_inputs: []`` (a list), real errors an object.
    if not isinstance(fixed.get("current_inputs"), dict):
        fixed["current_inputs"] = {}
    if not isinstance(fixed.get("traceback"), list):
        fixed["traceback"] = [str(fixed["traceback"])] if fixed.get("traceback") else []
    if fixed.get("exception_message") is None:
        fixed["exception_message"] = ""
    return ExecutionErrorMessage.model_validate(fixed)


def _prompt_end(model: type[_Stamped], type_name: str) -> Callable[[dict[str, Any]], _Stamped]:
    """``execution_start`` / ``execution_success``: built directly when the values already have the
    exact types (the real server's case), validated otherwise. The same instance either way."""

    def parse(data: dict[str, Any]) -> _Stamped:
        prompt_id = data.get("prompt_id")
        stamp = data.get("timestamp")
        if type(prompt_id) is not str or (stamp is not None and type(stamp) is not int):
            return model.model_validate(data)
        values: dict[str, Any] = {"type": type_name, "prompt_id": prompt_id, "timestamp": stamp}
        message = _built(model, values)
        if "timestamp" not in data:
            message.__pydantic_fields_set__.discard("timestamp")  # left to its default
        return message

    return parse


def _validator(model: type[_Message]) -> Callable[[dict[str, Any]], _Message]:
    def parse(data: dict[str, Any]) -> _Message:
        return model.model_validate(data)

    return parse


_PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "status": _parse_status,
    "feature_flags": lambda data: FeatureFlagsMessage(flags=data),
    "execution_start": _prompt_end(ExecutionStartMessage, "execution_start"),
    "execution_cached": _validator(ExecutionCachedMessage),
    "executing": _parse_executing,
    "progress": _parse_progress,
    "progress_state": _parse_progress_state,
    "executed": _validator(ExecutedMessage),
    "execution_success": _prompt_end(ExecutionSuccessMessage, "execution_success"),
    "execution_error": _parse_execution_error,
    "execution_interrupted": _validator(ExecutionInterruptedMessage),
    "logs": _validator(LogsMessage),
}


_unknown_types_seen: set[str] = set()


def parse_text(text: str | bytes) -> WsMessage | None:
    """Parse one text frame; ``None`` (after a log line) if it is not a usable message."""
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        log.warning("ws_malformed_json", error=str(exc), head=str(text[:120]))
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        log.warning("ws_message_without_type", head=str(text[:120]))
        return None
    mtype: str = obj["type"]
    data = obj.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        log.warning("ws_message_data_not_object", message_type=mtype)
        return None
    return parse_message(mtype, data)


def parse_message(mtype: str, data: dict[str, Any]) -> WsMessage | None:
    """A message already split into type and data (history ``messages`` entries come this way)."""
    parser = _PARSERS.get(mtype)
    if parser is None:
        # Custom nodes send their own types (system monitors: one a second): say so once.
        first = mtype not in _unknown_types_seen
        if first and len(_unknown_types_seen) < 256:
            _unknown_types_seen.add(mtype)
        (log.info if first else log.debug)("ws_unknown_message", message_type=mtype)
        return GenericMessage(type=mtype, data=data)
    try:
        message: WsMessage = parser(data)
    except (ValidationError, ProtocolError, TypeError, ValueError, RecursionError) as exc:
        log.warning("ws_invalid_message", message_type=mtype, error=str(exc)[:300])
        return None
    return message


def parse_binary(frame: bytes) -> BinaryFrame | None:
    """Decode a binary frame's header and keep the image bytes; ``None`` if truncated."""
    if len(frame) < 8:
        log.warning("ws_binary_truncated", size=len(frame))
        return None
    event_type = int.from_bytes(frame[0:4], "big")
    word = int.from_bytes(frame[4:8], "big")
    if event_type == PREVIEW_IMAGE:
        return PreviewImageFrame(
            image_type=_IMAGE_FORMATS.get(word, "application/octet-stream"), image=frame[8:]
        )
    if event_type == TEXT:
        end = 8 + word
        if end > len(frame):
            log.warning("ws_binary_truncated", event_type=event_type, size=len(frame), declared=word)
            return None
        node_id = frame[8:end].decode("utf-8", errors="replace")
        return TextFrame(node_id=node_id, text=frame[end:].decode("utf-8", errors="replace"))
    if event_type == PREVIEW_IMAGE_WITH_METADATA:
        end = 8 + word
        if end > len(frame):
            log.warning("ws_binary_truncated", event_type=event_type, size=len(frame), declared=word)
            return None
        try:
            metadata = json.loads(frame[8:end])
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            log.warning("ws_binary_bad_metadata", error=str(exc))
            return None
        if not isinstance(metadata, dict):
            log.warning("ws_binary_bad_metadata", error="metadata is not an object")
            return None
        image_type = metadata.get("image_type")
        return PreviewImageWithMetadataFrame(
            metadata=metadata,
            image_type=image_type if isinstance(image_type, str) else "application/octet-stream",
            image=frame[end:],
        )
    log.info("ws_unknown_binary_frame", event_type=event_type, size=len(frame))
    return UnknownBinaryFrame(event_type=event_type, size=len(frame))


def parse_frame(frame: str | bytes) -> Frame | None:
    """A websockets frame: ``str`` for text, ``bytes`` for binary."""
    if isinstance(frame, str):
        return parse_text(frame)
    return parse_binary(frame)


def encode_binary_frame(event_type: int, header: int, payload: bytes) -> bytes:
    """Build a binary frame the way the server does (used by tests and the embedded server)."""
    return event_type.to_bytes(4, "big") + header.to_bytes(4, "big") + payload


def feature_flags_frame(**flags: Any) -> str:
    """The first frame the real frontend sends; it switches previews to type 4 with metadata."""
    return json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True, **flags}})
