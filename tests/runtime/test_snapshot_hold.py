"""Coalescing and partly decoding progress_state snapshots folds exactly what the usual path folds."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from comfy_reality.runtime import TaskStatus
from comfy_reality.runtime.snapshot_decode import SnapshotDecoder
from comfy_reality.runtime.snapshots import SnapshotHold, peek_snapshot

from .snapshot_folding import (
    Layout,
    chain_frames,
    chain_prompt,
    compare_paths,
    encode,
    entry,
    followed,
    interleave,
)

P = "6c4d8ccf-2469-4102-8191-0c73fe133c99"
Q = "1b2e7f55-0d6a-4c4e-9a1f-5d8f7f2c0b11"
CHAIN = [str(i) for i in range(1, 41)]


@pytest.mark.parametrize("layout", ["comfy", "compact", "indented", "reordered"])
async def test_a_chain_folds_the_same_in_any_encoding(layout: Layout) -> None:
    hold = compare_paths(chain_frames(P, CHAIN, 4, layout=layout), {P: chain_prompt(CHAIN)})
    if layout in ("comfy", "compact"):  # the layouts ComfyUI writes (and a compact proxy): coalesced
        assert hold.superseded > 2 * len(CHAIN)
        assert hold.decoder.entries_reused > 10 * hold.decoder.entries_decoded
    else:  # anything else takes the usual path, whole
        assert hold.superseded == 0 and hold.decoder.entries_decoded == 0


async def test_subgraph_ids_and_expanded_children() -> None:
    ids = ["1", "5:3", "5:4", "2", "7"]
    prompt = chain_prompt(ids)

    def children(index: int, nodes: dict[str, Any]) -> None:
        # An expansion of node 2 (ephemeral ids, display_node_id names the parent), while it runs.
        if "2" in nodes and nodes["2"]["state"] == "running":
            for child in range(2):
                child_id = f"2.0.0.{child}"
                nodes[child_id] = entry(
                    P, child_id, "running", index % 5, 4, display="2", parent="2", real="2"
                )

    compare_paths(chain_frames(P, ids, 5, extra=children), {P: prompt})


async def test_hostile_entries_fold_the_same() -> None:
    def hostile(index: int, nodes: dict[str, Any]) -> None:
        nodes["junk"] = index  # not an object
        nodes['q"uote\\'] = entry(P, "x", "running", index, 9)  # escapes in a key
        nodes["é"] = {"state": "weird", "value": "x", "max": None}  # unknown state, wrong types
        nodes["3"] = nodes.get("3", entry(P, "3", "running", 0.0, 1.0)) | {"display_node_id": 'a}, "b'}
        nodes["nested"] = {"value": {"deep": [1, {"x": "}"}]}, "max": [], "state": "running"}
        nodes[str(1000 + index % 3)] = entry(P, "?", "finished", 1, 1)  # ids the prompt lacks
        if index % 7 == 0:
            nodes.pop("2", None)  # a node that vanishes from one snapshot

    compare_paths(chain_frames(P, CHAIN[:12], 3, extra=hostile), {P: chain_prompt(CHAIN[:12])})


async def test_interleaved_prompts() -> None:
    first = chain_frames(P, CHAIN[:10], 4)
    second = chain_frames(Q, CHAIN[:7], 3, layout="compact")
    compare_paths(interleave(first, second), {P: chain_prompt(CHAIN[:10]), Q: chain_prompt(CHAIN[:7])})


async def test_malformed_snapshots_fold_as_the_usual_path_folds_them() -> None:
    frames = chain_frames(P, CHAIN[:6], 3)
    broken: list[str | bytes] = []
    for index, frame in enumerate(frames):
        if frame.startswith('{"type": "progress_state"') and index % 3 == 0 and index < len(frames) - 6:
            variants = [
                frame[:-1] + ', "x": {}}',  # another key after nodes (valid JSON: the usual path folds it)
                frame.replace('"max": 3', '"max": 3,,', 1),  # broken JSON inside an entry
                frame.replace('"state"', '"st\x01ate"', 1),  # a control character
                frame.replace(P, P + "\x01", 1),  # in the prompt id
            ]
            frame = variants[index % len(variants)]
        broken.append(frame)
    broken.append(b"\x00\x00\x00\x03\x00\x00\x00\x012text")  # a TEXT frame folds what is held first
    # A broken snapshot that supersedes a good one: the good one is folded instead, as the usual
    # path folds it and drops the broken one.
    compare_paths(broken, {P: chain_prompt(CHAIN[:6])})


async def test_held_snapshots_fold_before_the_tracker_finishes() -> None:
    runtime, trackers = followed({P: chain_prompt(CHAIN[:3])})
    hold = SnapshotHold(runtime._route, runtime._router.may_hold, label="test", hold_seconds=60)
    trackers[P].release_held = hold.release
    frames = chain_frames(P, CHAIN[:3], 4)
    cut = next(i for i, f in enumerate(frames) if '"value": 2, "max": 4, "state": "running"' in f)
    for frame in frames[: cut + 1]:
        hold.feed(frame)
    assert hold.holding == 1 and trackers[P].nodes["1"].value == 1
    runtime.abandon(trackers[P].execution, outcome=TaskStatus.CANCELLED, detail="gone")
    assert hold.holding == 0
    # The held step was folded before the end: node 1 ran (and was stopped) at step 2.
    node = trackers[P].nodes["1"]
    assert node.value == 2 and node.status is TaskStatus.CANCELLED and node.status_detail == "gone"


async def test_a_long_node_still_moves_within_the_hold_time() -> None:
    runtime, trackers = followed({P: chain_prompt(["1"])})
    hold = SnapshotHold(runtime._route, runtime._router.may_hold, label="test", hold_seconds=0.01)
    frames = chain_frames(P, ["1"], 50)
    last_step = next(i for i, f in enumerate(frames) if '"value": 50, "max": 50, "state": "running"' in f)
    for frame in frames[: last_step + 1]:
        hold.feed(frame)
    node = trackers[P].nodes["1"]
    assert hold.holding == 1 and node.value is not None and node.value < 50
    folded = asyncio.Event()
    unsubscribe = runtime.task_manager.subscribe(lambda _e: folded.set() if node.value == 50 else None)
    try:
        await asyncio.wait_for(folded.wait(), 5)
    finally:
        unsubscribe()
    assert hold.holding == 0


def test_without_an_event_loop_nothing_is_held() -> None:
    runtime, trackers = followed({P: chain_prompt(CHAIN[:3])})
    hold = SnapshotHold(runtime._route, runtime._router.may_hold, label="test")
    for frame in chain_frames(P, CHAIN[:3], 4):
        hold.feed(frame)
        assert hold.holding == 0
    assert all(task.value == 4 for task in trackers[P].execution.tasks)


def test_peek_reads_only_the_exact_layouts() -> None:
    nodes = {"1": entry(P, "1", "running", 1, 2)}
    comfy = encode("progress_state", {"prompt_id": P, "nodes": nodes})
    head = peek_snapshot(comfy)
    assert head is not None and head.prompt_id == P and comfy[head.nodes_start] == '"'
    compact = encode("progress_state", {"prompt_id": P, "nodes": {}}, "compact")
    head = peek_snapshot(compact)
    assert head is not None and compact[head.nodes_start] == "}"
    for other in (
        encode("progress_state", {"prompt_id": P, "nodes": nodes}, "indented"),
        encode("progress_state", {"prompt_id": P, "nodes": nodes}, "reordered"),
        encode("progress_state", {"prompt_id": 'a"b', "nodes": nodes}),  # an escaped quote in the id
        encode("progress", {"prompt_id": P, "value": 1, "max": 2, "node": "1"}),
        comfy[: len(comfy) // 2],  # cut short
        "",
    ):
        assert peek_snapshot(other) is None


def test_the_decoder_reuses_unchanged_entries_and_equals_json() -> None:
    decoder = SnapshotDecoder()
    nodes: dict[str, Any] = {}
    for index in range(60):
        nodes[str(index)] = entry(P, str(index), "running", 0.0, 1.0)
        if index:
            nodes[str(index - 1)] = entry(P, str(index - 1), "finished", 1.0, 1.0)
        if index % 10 == 0 and index:
            nodes["0"] = entry(P, "0", "finished", 1.0, 1.0, display="moved")  # a change at the front
        text = encode("progress_state", {"prompt_id": P, "nodes": nodes})
        head = peek_snapshot(text)
        assert head is not None
        decoded = decoder.nodes(text, P, head.nodes_start, ", ", ": ")
        assert decoded == json.loads(text)["data"]["nodes"]
        assert list(decoded or {}) == list(nodes)
    assert decoder.entries_reused > 5 * decoder.entries_decoded
