"""A batch keeps a summary per job once its execution ends: what the report reads, no more."""

from __future__ import annotations

from datetime import UTC, datetime

from comfy_reality.cli.run import execution_summary
from comfy_reality.runtime.models import (
    ErrorReport,
    OutputFile,
    Task,
    TaskStatus,
    TaskType,
    WorkflowExecution,
)


def test_the_summary_keeps_what_the_report_reads_and_drops_the_task_tree_and_prompt() -> None:
    start, end = datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    files = [OutputFile(node_id="9", filename="a.png")]
    error = ErrorReport(
        node_id="3", node_type="KSampler", exception_type="RuntimeError", exception_message="x"
    )
    execution = WorkflowExecution(
        workflow_id="/w/a.json",
        name="a",
        status=TaskStatus.FAILED,
        started_at=start,
        completed_at=end,
        server_url="http://127.0.0.1:8188",
        prompt_id="p-1",
        prompt={"3": {"class_type": "KSampler", "inputs": {}}},
        tasks=[Task(name="KSampler #3", type=TaskType.NODE, node_id="3")],
        outputs={"9": {"images": [{"filename": "a.png"}]}},
        output_files=files,
        error=error,
        node_errors={"3": {"errors": []}},
        status_detail="RuntimeError: x",
        metadata={"server_name": "gpu1", "extra_data": {"extra_pnginfo": {"workflow": {"nodes": []}}}},
    )
    summary = execution_summary(execution)
    assert summary is not execution
    assert (summary.id, summary.prompt_id, summary.status, summary.server_url) == (
        execution.id,
        "p-1",
        TaskStatus.FAILED,
        "http://127.0.0.1:8188",
    )
    assert summary.duration == 3.0
    assert summary.output_files == files and summary.error == error
    assert summary.node_errors == execution.node_errors and summary.status_detail == "RuntimeError: x"
    assert summary.tasks == [] and summary.prompt == {} and summary.outputs == {}
    assert summary.metadata == {"server_name": "gpu1"}  # the web UI's graph stays with the runtime
    assert execution.tasks and execution.prompt and execution.outputs  # the execution itself untouched
