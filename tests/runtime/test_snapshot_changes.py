"""A tracker folds only the entries of a decoded snapshot that changed since the one it folded last.

Each test feeds the same frames through two SnapshotHolds in front of two runtimes: one as
shipped, and one whose snapshots reach the tracker as plain dicts, so it folds every entry (what
it did before). The task events (in order) and the folded state must be the same after every frame.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.runtime import ProgressStateMessage, TaskEvent
from comfy_reality.runtime import tracker as tracker_module
from comfy_reality.runtime.protocol import Frame, progress_state_message
from comfy_reality.runtime.snapshot_decode import SnapshotDecoder, SnapshotNodes
from comfy_reality.runtime.snapshots import SnapshotHold, peek_snapshot
from comfy_reality.runtime.tracker import Tracker

from .replay import PROTOCOL_DIR
from .snapshot_folding import (
    chain_frames,
    chain_prompt,
    encode,
    entry,
    fold_state,
    followed,
)

P = "6c4d8ccf-2469-4102-8191-0c73fe133c99"
CLOCK_FIELDS = {"rate", "eta_seconds"}
DURATION = re.compile(r"\d+(\.\d+)?s\b")  # "completed in 0.01s": the clock, not the fold


class Side:
    """One runtime following ``prompts``, fed through its own hold; its events, normalised."""

    def __init__(self, prompts: dict[str, dict[str, Any]], *, plain: bool) -> None:
        self.runtime, self.trackers = followed(prompts)
        self.events: list[tuple[Any, ...]] = []
        self.runtime.task_manager.subscribe(self._record)
        self.plain = plain
        self.hold = SnapshotHold(self._route, self.runtime._router.may_hold, label="test")

    def usual(self, frame: str | bytes) -> None:
        """The frame as a socket without a hold takes it: json.loads, route."""
        self.runtime._on_frame(frame)

    def _route(self, message: Frame) -> None:
        if self.plain and isinstance(message, ProgressStateMessage) and message.prompt_id is not None:
            message = progress_state_message(message.prompt_id, dict(message.nodes))
        self.runtime._route(message)

    def _record(self, event: TaskEvent) -> None:
        task = self.runtime.task_manager.get_task(event.task_id)
        name = (task.node_id or task.name) if task is not None else None
        data = {
            key: value
            for key, value in (event.data or {}).items()
            if key not in CLOCK_FIELDS and not isinstance(value, datetime)
        }
        message = DURATION.sub("<time>", event.message) if event.message else None
        self.events.append((name, event.event_type, message, data))


def fold_both(
    frames: Sequence[str | bytes], prompts: dict[str, dict[str, Any]], *, each: bool = False
) -> tuple[Side, Side]:
    """Feed both sides (in a running loop), comparing events and state after every frame;
    ``each``: every snapshot is folded (none dropped as superseded)."""
    changed, whole, usual = (Side(prompts, plain=plain) for plain in (False, True, True))
    for index, frame in enumerate(frames):
        changed.hold.feed(frame)
        whole.hold.feed(frame)
        if each:  # then every message is the one json.loads makes: the usual path must agree too
            changed.hold.release()
            whole.hold.release()
            usual.usual(frame)
        where = f"after frame {index}: {str(frame)[:160]}"
        assert changed.events == whole.events, where
        assert fold_state(changed.trackers) == fold_state(whole.trackers), where
        if each:
            assert changed.events == usual.events, where
    changed.hold.release()
    whole.hold.release()
    assert changed.events == whole.events
    assert fold_state(changed.trackers) == fold_state(whole.trackers)
    return changed, whole


class CountedKeys(set[str]):
    """``finished_keys`` counting the entries the fold looks at."""

    looked = 0

    def __contains__(self, key: object) -> bool:
        CountedKeys.looked += 1
        return super().__contains__(key)


async def test_a_500_node_chain_sends_the_same_events_and_looks_only_at_what_changed() -> None:
    ids = [str(i) for i in range(1, 501)]
    frames = chain_frames(P, ids, 1)
    CountedKeys.looked = 0
    prompts = {P: chain_prompt(ids)}
    changed, whole = Side(prompts, plain=False), Side(prompts, plain=True)
    changed.trackers[P].finished_keys = CountedKeys()
    for frame in frames:
        changed.hold.feed(frame)
        whole.hold.feed(frame)
        changed.hold.release()  # every snapshot folded: none is dropped as superseded
        whole.hold.release()
    assert changed.events == whole.events
    assert len(changed.events) > 4 * len(ids)
    assert fold_state(changed.trackers) == fold_state(whole.trackers)
    snapshots = sum(1 for f in frames if f.startswith('{"type": "progress_state"'))
    # Folding every entry would look at 1 + 2 + ... entries per node (about 375,000 here).
    assert CountedKeys.looked < 3 * snapshots


def transcript_frames(path: Path) -> dict[str, tuple[list[str], dict[str, dict[str, Any]]]]:
    """Per recorder client: its text frames as ComfyUI wrote them, and the prompts it posted."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    prompts: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line.get("dir") == "http" and line.get("path") == "/prompt" and line.get("method") == "POST":
            body, answer = line.get("request_json"), line.get("json")
            if isinstance(body, dict) and isinstance(answer, dict) and "prompt_id" in answer:
                prompts[answer["prompt_id"]] = body["prompt"]
    clients: dict[str, tuple[list[str], dict[str, dict[str, Any]]]] = {}
    for line in lines:
        if line.get("dir") == "ws_in" and not line.get("binary"):
            frames, seen = clients.setdefault(line["client"], ([], {}))
            frames.append(json.dumps(line["json"]))  # aiohttp's send_json: json.dumps
            prompt_id = (line["json"].get("data") or {}).get("prompt_id")
            if prompt_id in prompts:
                seen[prompt_id] = prompts[prompt_id]
    return clients


@pytest.mark.parametrize("each", [False, True], ids=["held", "each"])
@pytest.mark.parametrize("name", sorted(p.name for p in PROTOCOL_DIR.glob("*.jsonl")))
async def test_the_recorded_transcripts_send_the_same_events(name: str, each: bool) -> None:
    for frames, prompts in transcript_frames(PROTOCOL_DIR / name).values():
        if prompts:
            fold_both(frames, prompts, each=each)


async def test_the_progress_rate_transcript_folds_most_snapshots_from_their_changes() -> None:
    (frames, prompts), *_ = transcript_frames(PROTOCOL_DIR / "11_progress_rate.jsonl").values()
    snapshots = sum(1 for frame in frames if frame.startswith('{"type": "progress_state"'))
    changed, _whole = fold_both(frames, prompts, each=True)
    # Node 1 finished, node 2 at its step: each snapshot but the first few reuses node 1's entry.
    assert changed.hold.decoder.entries_reused > snapshots - 10
    assert changed.trackers[next(iter(prompts))].folded_snapshot is not None


def snapshot(nodes: dict[str, Any] | str) -> str:
    """A progress_state frame of P as ComfyUI writes it (``nodes`` may be raw JSON text)."""
    text = nodes if isinstance(nodes, str) else json.dumps(nodes)
    return f'{{"type": "progress_state", "data": {{"prompt_id": "{P}", "nodes": {text}}}}}'


def start() -> list[str | bytes]:
    return [encode("execution_start", {"prompt_id": P, "timestamp": 1})]


async def test_an_entry_that_resolves_later_is_folded_when_it_does() -> None:
    """An id the prompt lacks names no node until an ``executing`` maps it to its display node;
    the snapshots after that fold it, though its text did not change."""
    orphan = {"9.0.1": entry(P, "9.0.1", "running", 1, 3, display="nowhere", real="nowhere")}
    frames = start()
    for step in range(1, 4):
        frames.append(snapshot({**orphan, "1": entry(P, "1", "running", step, 6)}))
    frames.append(encode("executing", {"node": "9.0.1", "display_node": "4", "prompt_id": P}))
    for step in range(4, 7):
        frames.append(snapshot({**orphan, "1": entry(P, "1", "running", step, 6)}))
    changed, _whole = fold_both(frames, {P: chain_prompt(["1", "4"])}, each=True)
    assert changed.trackers[P].nodes["4"].value == 1  # the orphan's progress, shown on node 4


async def test_after_the_de_duplication_cache_overflows_the_next_fold_is_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two children of node 4 share its progress bar: once the cache of entries was cleared, the
    usual fold shows the unchanged child's value again before the other's, and so must this one."""
    monkeypatch.setattr(tracker_module, "MAX_CACHED_IDS", 2)
    frames = start()
    for step in range(1, 5):
        frames.append(
            snapshot(
                {
                    "1": entry(P, "1", "finished", 1.0, 1.0),
                    "4": entry(P, "4", "running", 0.0, 1.0),
                    "4.0.1": entry(P, "4.0.1", "running", 2, 3, display="4", parent="4", real="4"),
                    "4.0.2": entry(P, "4.0.2", "running", step, 5, display="4", parent="4", real="4"),
                }
            )
        )
    _changed, whole = fold_both(frames, {P: chain_prompt(["1", "4"])}, each=True)
    assert sum(1 for event in whole.events if event[0] == "4" and event[1] == "progress") >= 6


async def test_a_key_twice_in_one_snapshot_folds_as_json_loads_reads_it() -> None:
    one, two = entry(P, "1", "finished", 1.0, 1.0), entry(P, "2", "running", 1, 3)
    body = json.dumps({"1": one, "2": two, "3": entry(P, "3", "running", 0.0, 1.0)})[:-1]
    frames = start()
    # Node 2 named twice (the last value wins, at the first place), then once, as it was first.
    frames.append(snapshot(body + ', "2": ' + json.dumps(entry(P, "2", "running", 2, 3)) + "}"))
    frames.append(snapshot(json.dumps({"1": one, "2": two, "3": entry(P, "3", "running", 1, 4)})))
    prompts = {P: chain_prompt(["1", "2", "3"])}
    changed, _whole = fold_both(frames, prompts, each=True)
    assert changed.trackers[P].nodes["2"].value == 1


def test_decoded_nodes_say_what_changed_since_the_previous_one() -> None:
    decoder = SnapshotDecoder()

    def decode(nodes: dict[str, Any]) -> SnapshotNodes:
        text = encode("progress_state", {"prompt_id": P, "nodes": nodes})
        head = peek_snapshot(text)
        assert head is not None
        decoded = decoder.nodes(text, P, head.nodes_start, ", ", ": ")
        assert decoded is not None and decoded == json.loads(text)["data"]["nodes"]
        assert list(decoded) == list(json.loads(text)["data"]["nodes"])
        return decoded

    nodes = {str(i): entry(P, str(i), "finished", 1, 1) for i in range(1, 5)}
    nodes["5"] = entry(P, "5", "running", 1, 4)
    first = decode(nodes)
    assert first.after is None and first.changed == list(nodes)
    nodes["5"] = entry(P, "5", "running", 2, 4)
    second = decode(nodes)
    assert second.after == first.serial and second.changed == ["5"]
    nodes["5"] = entry(P, "5", "finished", 4, 4)
    nodes["6"] = entry(P, "6", "running", 0.0, 1.0)
    third = decode(nodes)
    assert third.after == second.serial and third.changed == ["5", "6"]
    del nodes["5"]  # a key that vanishes: the dict is built again in the new order
    fourth = decode(nodes)
    assert fourth.after == third.serial and fourth.changed == ["6"]
    nodes["1"] = entry(P, "1", "finished", 1, 1, display="moved")  # a change at the front
    fifth = decode(nodes)
    assert fifth.changed == list(nodes)


def test_a_snapshot_not_from_the_decoder_is_folded_whole() -> None:
    _runtime, trackers = followed({P: chain_prompt(["1", "2"])})
    tracker: Tracker = trackers[P]
    nodes = SnapshotNodes({"1": entry(P, "1", "running", 1, 2)})
    nodes.serial, nodes.after, nodes.changed = 10, None, ["1"]
    tracker.on_progress_state(progress_state_message(P, nodes))
    assert tracker.folded_snapshot == 10
    tracker.on_progress_state(progress_state_message(P, {"1": entry(P, "1", "running", 2, 2)}))
    assert tracker.folded_snapshot is None and tracker.nodes["1"].value == 2
