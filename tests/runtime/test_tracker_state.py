"""The tracker on its own: an explicit state, its end reported through callbacks, and the one
task-tree factory linking an execution and its tasks both ways."""

from __future__ import annotations

import json

from comfy_reality.runtime import AsyncTaskManager, TaskEvent, TaskStatus, TaskType, WorkflowExecution
from comfy_reality.runtime.protocol import WsMessage, parse_text
from comfy_reality.runtime.tracker import Tracker, TrackerState
from comfy_reality.runtime.tree import build_task_tree

PROMPT = {
    "10": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}},
    "2": {"class_type": "RealityProgress", "inputs": {"image": ["1", 0]}, "_meta": {"title": "Slow"}},
    "1": {"class_type": "EmptyImage", "inputs": {}},
}


def message(kind: str, **data: object) -> WsMessage:
    parsed = parse_text(json.dumps({"type": kind, "data": {"prompt_id": "p", **data}}))
    assert parsed is not None
    return parsed


def make() -> tuple[Tracker, AsyncTaskManager, list[str], list[TaskEvent]]:
    manager = AsyncTaskManager()
    events: list[TaskEvent] = []
    manager.subscribe(events.append)
    calls: list[str] = []
    execution = WorkflowExecution(
        workflow_id="w", prompt_id="p", prompt=PROMPT, server_url="http://127.0.0.1:9"
    )
    tracker = Tracker(
        execution,
        manager,
        on_ending=lambda t: calls.append(f"ending:{t.state.value}"),
        on_finished=lambda t: calls.append(f"finished:{t.state.value}"),
    )
    return tracker, manager, calls, events


def test_the_tree_is_built_once_and_linked_both_ways() -> None:
    execution = WorkflowExecution(workflow_id="w", name="run", prompt_id="p", prompt=PROMPT)
    workflow, nodes = build_task_tree(execution)
    assert [t.node_id for t in nodes] == ["1", "2", "10"]  # natural order, not text order
    assert [t.name for t in nodes] == ["EmptyImage #1", "Slow #2", "SaveImage #10"]
    assert workflow.type is TaskType.WORKFLOW and workflow.name == "run"
    assert execution.workflow_task_id == workflow.id and execution.tasks == nodes
    assert {t.execution_id for t in [workflow, *nodes]} == {execution.id}
    assert all(t.parent_id == workflow.id and t.prompt_id == "p" for t in nodes)


def test_messages_before_registration_are_buffered_then_folded() -> None:
    tracker, manager, calls, _ = make()
    tracker.feed(message("execution_start"))
    assert tracker.state is TrackerState.BUFFERING and manager.tasks() == []
    tracker.register()
    assert tracker.state is TrackerState.FOLLOWING
    assert tracker.execution.status is TaskStatus.RUNNING
    assert calls == []


def test_an_end_message_reports_ending_once_then_finish_reports_finished_once() -> None:
    tracker, _, calls, _ = make()
    tracker.register()
    tracker.feed(message("execution_success"))
    tracker.feed(message("execution_success"))
    assert tracker.state is TrackerState.ENDING and tracker.ended
    assert calls == ["ending:ending"]
    tracker.finish(None)
    tracker.finish(None)
    assert tracker.state is TrackerState.FINISHED and tracker.done.is_set()
    assert calls == ["ending:ending", "finished:finished"]
    assert tracker.execution.status is TaskStatus.COMPLETED
    assert all(t.is_final for t in tracker.execution.tasks)


def test_detach_wakes_waiters_and_resume_picks_up_where_it_was() -> None:
    tracker, _, calls, _ = make()
    tracker.register()
    tracker.feed(message("execution_error", node_id="2", exception_type="X", exception_message="boom"))
    assert tracker.state is TrackerState.ENDING
    tracker.detach()
    assert tracker.state is TrackerState.DETACHED and tracker.done.is_set()
    assert not tracker.execution.is_final
    tracker.resume()
    assert tracker.state is TrackerState.ENDING and not tracker.done.is_set()
    assert calls == ["ending:ending", "ending:ending"]  # asked again for the history it never got
    tracker.finish(None)
    assert tracker.execution.status is TaskStatus.FAILED
    assert tracker.execution.error is not None and tracker.execution.error.exception_message == "boom"


def test_progress_is_written_on_the_task_and_the_event_carries_the_same_numbers() -> None:
    tracker, _, _, events = make()
    tracker.register()
    tracker.feed(message("progress", node="2", value=3, max=8))
    node = tracker.execution.node_task("2")
    assert node is not None and (node.value, node.max, node.progress) == (3, 8, 3 / 8)
    (event,) = [e for e in events if e.task_id == node.id and e.event_type == "progress"]
    assert event.data is not None and (event.data["value"], event.data["max"]) == (node.value, node.max)
    assert event.execution_id == tracker.execution.id
    assert all(e.execution_id == tracker.execution.id for e in events)


def test_a_progress_state_entry_with_a_non_string_display_id_is_skipped_not_fatal() -> None:
    # progress_state entries are folded without per-field validation: ids that are not strings name nothing.
    tracker, _, _, _ = make()
    tracker.register()
    tracker.feed(
        message(
            "progress_state",
            nodes={
                "7.1": {"state": "running", "value": 1, "max": 2, "display_node_id": ["2"]},
                "8.1": {"state": "running", "value": 1, "max": 2, "parent_node_id": {"id": "2"}},
            },
        )
    )
    node = tracker.execution.node_task("2")
    assert node is not None and node.status is TaskStatus.PENDING
    tracker.feed(message("progress_state", nodes={"2.5": {"state": "running", "display_node_id": "2"}}))
    assert node.status is TaskStatus.RUNNING


def _history(*names: str) -> object:
    from comfy_reality.runtime.client import HistoryEntry

    messages = [
        [name, {"prompt_id": "p", "timestamp": 1_700_000_000_000 + i, "nodes": []}]
        for i, name in enumerate(names)
    ]
    return HistoryEntry.model_validate(
        {
            "prompt": [1, "p", PROMPT, {}, ["10"]],
            "outputs": {},
            "status": {"status_str": "success", "messages": messages},
        }
    )


def test_a_run_watched_live_does_not_parse_the_history_messages_it_already_folded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Start, cached and success entries of the history tell a run watched from its start only the
    server's times, which it does not use: they are not parsed again. A run joined late still reads them."""
    from comfy_reality.runtime import tracker as tracker_module

    parsed: list[str] = []
    original = tracker_module.parse_message

    def counting(name: str, data: dict[str, object]) -> object:
        parsed.append(name)
        return original(name, data)

    monkeypatch.setattr(tracker_module, "parse_message", counting)
    names = ("execution_start", "execution_cached", "execution_success")
    tracker, _, _, _ = make()
    tracker.register()
    for name in names:
        tracker.feed(message(name, nodes=[]) if name == "execution_cached" else message(name))
    tracker.finish(_history(*names))  # type: ignore[arg-type]
    assert parsed == []
    assert tracker.execution.status is TaskStatus.COMPLETED
    late, _, _, _ = make()
    late.register()
    late.joined_late = True
    late.mark_running()
    late.finish(_history(*names))  # type: ignore[arg-type]
    assert parsed == list(names)
    start, end = late.server_times
    assert start is not None and end is not None and (end - start).total_seconds() == 0.002
    assert late.execution.started_at == start  # a late run takes the server's times
