"""Progress frames a tracker ignores are not parsed; a preview without metadata still names its node."""

from __future__ import annotations

from unittest import mock

import pytest

from comfy_reality.runtime import PreviewFrame, protocol, snapshots
from comfy_reality.runtime.snapshots import SnapshotHold

from .snapshot_folding import Layout, chain_frames, chain_prompt, compare_paths, encode, followed

P = "6c4d8ccf-2469-4102-8191-0c73fe133c99"
CHAIN = [str(i) for i in range(1, 21)]


@pytest.mark.parametrize("layout", ["comfy", "compact"])
async def test_ignored_progress_frames_are_skipped_and_the_fold_is_the_same(layout: Layout) -> None:
    frames = chain_frames(P, CHAIN, 4, layout=layout)
    progress = sum(1 for frame in frames if frame.startswith(('{"type": "progress",', '{"type":"progress",')))
    parsed: list[str | bytes] = []
    parse = snapshots.parse_frame

    def counted(frame: str | bytes) -> object:
        parsed.append(frame)
        return parse(frame)

    with mock.patch.object(snapshots, "parse_frame", counted):
        hold = compare_paths(frames, {P: chain_prompt(CHAIN)})  # the same state after every frame
    # The usual path parses every progress frame; the hold only the newest before each other
    # frame: one per node here.
    assert hold.progress_skipped == progress - len(CHAIN)
    parsed_progress = sum(1 for frame in parsed if isinstance(frame, str) and '"progress",' in frame)
    assert parsed_progress == progress + len(CHAIN)


async def test_a_preview_after_skipped_progress_names_the_node_that_stepped_last() -> None:
    runtime, _trackers = followed({P: chain_prompt(["1", "2"])})
    previews: list[PreviewFrame] = []
    runtime._router.previews.append(previews.append)
    hold = SnapshotHold(runtime._route, runtime._router.may_hold, label="test")
    frames = chain_frames(P, ["1", "2"], 4)
    executed = {"node": "2", "display_node": "2", "output": {"text": ["ran 2"]}, "prompt_id": P}
    end = frames.index(encode("executed", executed))
    for frame in frames[:end]:  # up to node 2's last step
        hold.feed(frame)
    assert hold.progress_skipped > 0
    hold.feed(protocol.encode_binary_frame(protocol.PREVIEW_IMAGE, 2, b"\x89PNG"))
    assert [(p.prompt_id, p.node_id) for p in previews] == [(P, "2")]
    assert runtime._router.last_progress == (P, "2")
