"""JSON round trip of every model: what the journal, the CLI's NDJSON and the TUI rely on."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from comfy_reality.runtime import (
    ErrorReport,
    OutputFile,
    ServerStatus,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    WorkflowExecution,
    kinds,
)
from comfy_reality.runtime.models import ConnectionState, utc_now


def _node_task() -> Task:
    start = utc_now()
    return Task(
        type=TaskType.NODE,
        name="KSampler #3",
        node_id="12:5",
        class_type="KSampler",
        status=TaskStatus.FAILED,
        started_at=start,
        completed_at=start + timedelta(seconds=2.5),
        progress=0.4,
        value=8,
        max=20,
        rate=3.2,
        eta_seconds=3.75,
        error="boom",
        error_type="RuntimeError",
        traceback=["Traceback", "  line 1"],
        outputs={"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]},
    )


SAMPLES: list[BaseModel] = [
    _node_task(),
    TaskEvent(task_id="t1", event_type="progress", data={"progress": 0.5, "value": 5}, message="half"),
    ErrorReport(node_id="2", node_type="RealityFail", exception_type="RuntimeError", exception_message="x"),
    OutputFile(node_id="6", filename="out_00001_.png"),
    ServerStatus(url="http://127.0.0.1:8188", state=ConnectionState.DOWN, reason="refused", retry_in=2.0),
    WorkflowExecution(
        workflow_id="workflows/txt2img.json",
        name="txt2img",
        status=TaskStatus.COMPLETED,
        prompt_id="abc",
        client_id="cid",
        tasks=[_node_task()],
        prompt={"1": {"class_type": "EmptyImage", "inputs": {"width": 8}}},
        output_files=[OutputFile(node_id="6", filename="x.png")],
        error=ErrorReport(exception_type="RuntimeError", exception_message="x"),
        retry_of="exec_old",
    ),
]


@pytest.mark.parametrize("model", SAMPLES, ids=lambda m: type(m).__name__)
def test_json_round_trip(model: BaseModel) -> None:
    restored = type(model).model_validate_json(model.model_dump_json())
    assert restored == model


def test_duration_none_until_finished() -> None:
    task = Task(name="n")
    assert task.duration is None
    task.started_at = utc_now()
    assert task.duration is None
    assert task.elapsed() is not None
    task.completed_at = task.started_at + timedelta(seconds=1)
    assert task.duration == 1.0


def test_task_event_is_frozen() -> None:
    event = TaskEvent(task_id="t", event_type="created")
    with pytest.raises(ValidationError):
        event.task_id = "other"  # type: ignore[misc]


def test_node_ids_stay_strings() -> None:
    task = Task.model_validate({"name": "n", "node_id": "2.0.0.1"})
    assert task.node_id == "2.0.0.1"
    with pytest.raises(ValueError):
        Task.model_validate({"name": "n", "node_id": 5})


def test_an_unusable_log_folder_turns_logging_off_instead_of_crashing(tmp_path) -> None:
    import structlog

    from comfy_reality import logs

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    with pytest.raises(OSError):
        logs.configure_logging(log_path=blocker / "logs" / "app.jsonl")
    # Configured (to drop), so nothing later tries the broken path again or prints to the terminal.
    assert structlog.is_configured()
    structlog.get_logger().info("goes nowhere")


def test_module_loggers_follow_every_reconfiguration(tmp_path) -> None:
    """logs.get_logger keeps its bound logger only while structlog's configuration is unchanged."""
    import json

    import structlog
    from structlog.testing import capture_logs

    from comfy_reality import logs

    log = logs.get_logger("comfy_reality.test")
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    try:
        logs.configure_logging(level="info", log_path=first)
        log.info("one", n=1)
        log.debug("filtered out at info")
        logs.configure_logging(level="debug", log_path=second)
        log.debug("two", n=2)
        with capture_logs() as captured:  # mutates the processor list in place
            log.info("three", n=3)
        log.warning("four", token="s3cret-value")
        structlog.configure(processors=[structlog.testing.LogCapture()])
        log.info("five")  # a new processor list: not written to the file
    finally:
        structlog.reset_defaults()
        logs.close_log_file()
    assert [json.loads(line)["event"] for line in first.read_text().splitlines()] == ["one"]
    lines = [json.loads(line) for line in second.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["two", "four"]
    assert lines[1]["token"] == "***"  # still redacted
    assert [entry["event"] for entry in captured] == ["three"]


def test_new_id_is_uuid4_hex_of_the_same_random_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """new_id skips the UUID object: it must still be ``uuid4().hex`` of the same 16 random bytes."""
    for raw in (bytes(16), b"\xff" * 16, bytes(range(16)), bytes(range(240, 256))):
        monkeypatch.setattr(kinds, "urandom", lambda _n, raw=raw: raw)
        assert kinds.new_id("node") == "node_" + uuid.UUID(bytes=raw, version=4).hex


def test_tasks_built_without_validation_equal_validated_ones() -> None:
    """construct_task (the task trees' builder) makes what Task(**values) makes: same fields in the
    same order, same fields set, fresh default containers per task."""
    from comfy_reality.runtime.models import construct_task

    samples: list[dict[str, object]] = [
        {"id": "workflow_1", "type": TaskType.WORKFLOW, "name": "run", "prompt_id": "p", "execution_id": "e",
         "metadata": {"workflow_id": "w", "server_url": "http://127.0.0.1:9", "client_id": "c"}},
        {"id": "node_1", "type": TaskType.NODE, "name": "KSampler #3", "parent_id": "workflow_1",
         "node_id": "3", "class_type": "KSampler", "prompt_id": "p", "execution_id": "e"},
        {"name": "only a name"},
    ]  # fmt: skip
    for values in samples:
        built, validated = construct_task(dict(values)), Task(**values)  # type: ignore[arg-type]
        if "id" not in values:  # a default factory: a fresh id each, the rest alike
            assert built.id != validated.id and built.id.startswith("task_")
            built.__dict__["id"] = validated.id
        built.__dict__["created_at"] = validated.created_at  # (not setattr: that adds to the fields set)
        assert built == validated
        assert list(built.__dict__) == list(validated.__dict__)
        assert built.model_fields_set == validated.model_fields_set
        assert built.model_dump() == validated.model_dump()
    first, second = construct_task({"name": "a"}), construct_task({"name": "b"})
    first.metadata["k"] = 1
    first.traceback.append("x")
    first.outputs["o"] = 1
    assert second.metadata == {} and second.traceback == [] and second.outputs == {}


def test_output_files_built_without_validation_equal_validated_ones() -> None:
    from comfy_reality.runtime.models import output_files_from

    outputs = {
        "9": {"images": [{"filename": "a.png", "subfolder": "s", "type": "temp"}, {"filename": "b.png"}]},
        "10": {"gifs": [{"filename": "c.gif", "subfolder": 3, "type": ""}, {"nope": 1}], "text": ["x"]},
    }
    files = output_files_from(outputs)
    assert [(f.node_id, f.filename, f.subfolder, f.type, f.kind) for f in files] == [
        ("9", "a.png", "s", "temp", "images"),
        ("9", "b.png", "", "output", "images"),
        ("10", "c.gif", "", "output", "gifs"),
    ]
    for file in files:
        validated = OutputFile(**file.model_dump())
        assert file == validated and file.model_fields_set == validated.model_fields_set
        assert list(file.__dict__) == list(validated.__dict__)


@pytest.mark.parametrize("with_structlog", [False, True])
def test_a_logger_says_which_calls_would_be_written(
    tmp_path, monkeypatch: pytest.MonkeyPatch, with_structlog: bool
) -> None:
    """Logger.enabled(method) is True exactly for the calls that reach the file, with the file
    writer (no structlog imported) and with structlog's chain alike, at every level."""
    import json
    import sys

    from comfy_reality import logs

    if with_structlog:
        import structlog
    else:
        monkeypatch.delitem(sys.modules, "structlog", raising=False)
    log = logs.get_logger("comfy_reality.test_enabled")
    try:
        for level in ("debug", "info", "warning"):
            path = tmp_path / f"{level}.jsonl"
            logs.configure_logging(level=level, log_path=path)
            answers = {method: log.enabled(method) for method in ("debug", "info", "warning", "error")}
            for method in answers:
                getattr(log, method)(f"{method}_line")
            logs.close_log_file()
            written = {json.loads(line)["event"] for line in path.read_text().splitlines()}
            assert answers == {method: f"{method}_line" in written for method in answers}, level
            assert ("structlog" in sys.modules) is with_structlog
    finally:
        logs.close_log_file()
        if with_structlog:
            import structlog

            structlog.reset_defaults()


@pytest.mark.parametrize("remaining", [0, 3, None])
def test_status_with_queue_is_what_model_copy_builds(remaining: int | None) -> None:
    status = ServerStatus(url="http://127.0.0.1:8188", state=ConnectionState.CONNECTED, queue_remaining=1)
    expected = status.model_copy(update={"queue_remaining": remaining})
    copied = status.with_queue(remaining)
    assert copied == expected
    assert copied.__dict__ == expected.__dict__
    assert copied.model_fields_set == expected.model_fields_set
    assert copied.changed_at == status.changed_at  # a copy: the same moment, not a new one
    assert status.queue_remaining == 1  # the original is left as it was
    with pytest.raises(ValidationError):
        copied.queue_remaining = 5  # still frozen
