"""Superseded ``progress_state`` snapshots are dropped before anyone decodes them.

A ``progress_state`` restates every started node of its prompt: with 500 nodes it is ~100 KB,
and a fast node sends one per step. Each is a full snapshot, so when several of one prompt
arrive with nothing between them but ``progress`` messages (which a tracker ignores once it
folds snapshots) and previews, only the newest one changes anything. :class:`SnapshotHold`
sits between the socket and the parser: it reads the prompt id from the frame's first bytes,
keeps the newest undecoded text per prompt, and folds it

* before any other frame (order is kept exactly: progress and preview frames pass, as they
  never read what a snapshot changes), and before the first progress frame of a node, so a
  node's first step shows at once and starts its rate,
* when ``HOLD_SECONDS`` have passed since the first one was held, so progress bars still move
  during a long node,
* when the socket closes, or a tracker is about to be finished or detached (``release``).

Only frames in the exact layout ComfyUI writes (``json.dumps`` of ``{"type", "data":
{"prompt_id", "nodes"}}``, or the same without spaces) and only prompts whose tracker may skip
intermediate snapshots (``may_hold``) are held; everything else takes the usual path at once.
A held frame that is superseded is never decoded, so a malformed one is not logged either; when
the newest turns out to be broken JSON, the one it superseded is folded instead.
The snapshots that are folded are decoded by :class:`.snapshot_decode.SnapshotDecoder`, which
reuses the previous snapshot's entries that did not change and says which did, so the tracker
folds only those.

``progress`` frames of a prompt that ``may_hold`` are ignored by its tracker; all they leave is
the router's note of the last node that stepped, which a preview without metadata reads. So
only the newest of a run of them is parsed and routed, just before the next frame that is not
one of them (``progress_skipped`` counts the others): at 500 nodes, about 200 frames a second.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import NamedTuple

from ..logs import get_logger
from .protocol import Frame, parse_frame, progress_state_message
from .snapshot_decode import SnapshotDecoder

log = get_logger("comfy_reality.runtime")

Route = Callable[[Frame], None]

# The frames that may pass a held snapshot: they change nothing a snapshot is folded into.
_PROGRESS_PREFIXES = ('{"type": "progress", ', '{"type":"progress",')
_PREVIEW_TYPES = (b"\x00\x00\x00\x01", b"\x00\x00\x00\x04")  # PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA
# (message head up to the prompt id, what follows the id up to the nodes, entry and key separators)
_LAYOUTS = (
    ('{"type": "progress_state", "data": {"prompt_id": "', '", "nodes": {', ", ", ": "),
    ('{"type":"progress_state","data":{"prompt_id":"', '","nodes":{', ",", ":"),
)
_SNAPSHOT_HEADS = tuple(head for head, _middle, _item, _key in _LAYOUTS)
_MAX_PROMPT_ID = 256
HOLD_SECONDS = 0.05
# A ``progress`` frame exactly as ComfyUI writes it (a valid message for certain): its prompt id.
_PLAIN_PROGRESS = re.compile(
    r'\{"type": ?"progress", ?"data": ?\{"value": ?\d{1,9}, ?"max": ?\d{1,9}, '
    r'?"prompt_id": ?"([^"\\]{1,256})", ?"node": ?"[^"\\]{0,256}"\}\}'
)


def deliver(frame: str | bytes, route: Route, label: str) -> None:
    """Parse one frame and route it; a frame that breaks parsing or routing is logged, never fatal."""
    try:
        message = parse_frame(frame)
        if message is not None:
            route(message)
    except Exception:
        log.exception("ws_frame_failed", client=label)


class SnapshotHead(NamedTuple):
    prompt_id: str
    nodes_start: int  # offset of the first entry of ``nodes`` (or of its closing brace)
    layout: int


def peek_snapshot(text: str) -> SnapshotHead | None:
    """The prompt id of a ``progress_state`` frame in an exact expected layout; None otherwise."""
    for layout, (head, middle, _item, _key) in enumerate(_LAYOUTS):
        if text.startswith(head):
            start = len(head)
            end = text.find('"', start, start + _MAX_PROMPT_ID)
            if end < 0 or not text.startswith(middle, end) or not text.endswith("}}}"):
                return None
            prompt_id = text[start:end]
            if "\\" in prompt_id:
                return None
            return SnapshotHead(prompt_id, end + len(middle), layout)
    return None


class _Held(NamedTuple):
    text: str
    head: SnapshotHead
    superseded: str | None  # the one before it: folded instead if this one turns out malformed


class SnapshotHold:
    """Holds the newest undecoded snapshot per prompt for one socket (see the module docstring).

    ``route`` takes parsed messages (the usual path); ``may_hold`` says whether a prompt's
    snapshots may be coalesced (its tracker follows it and already folds snapshots).
    """

    def __init__(
        self,
        route: Route,
        may_hold: Callable[[str], bool],
        *,
        label: str,
        hold_seconds: float = HOLD_SECONDS,
    ) -> None:
        self._route = route
        self._may_hold = may_hold
        self.label = label
        self.hold_seconds = hold_seconds
        self.decoder = SnapshotDecoder()
        self._held: dict[str, _Held] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._stepping = ""  # the prompt and node of the last progress frame (its text)
        self._progress: str | None = None  # the newest ignored progress frame, not routed yet
        self.superseded = 0  # snapshots dropped undecoded, for benchmarks and tests
        self.progress_skipped = 0  # ignored progress frames never parsed (module docstring)

    @property
    def holding(self) -> int:
        return len(self._held)

    def feed(self, frame: str | bytes) -> None:
        """One frame from the socket, in order."""
        if isinstance(frame, str):
            # One C call rules out most frames before the snapshot's layout is read.
            head = peek_snapshot(frame) if frame.startswith(_SNAPSHOT_HEADS) else None
            if head is not None:
                if self._hold(head, frame):
                    return
                self.release()  # another prompt's snapshots first, as they came
                self._fold(frame, head)
                return
            if frame.startswith(_PROGRESS_PREFIXES):
                # A node's first step is shown at once (and starts its rate): fold what is held
                # when the progress frames move to another node (or prompt).
                stepping = frame[frame.find('"prompt_id"') :]
                if stepping != self._stepping:
                    self._stepping = stepping
                    self.release()
                plain = _PLAIN_PROGRESS.fullmatch(frame)
                if plain is not None and self._may_hold(plain[1]):
                    if self._progress is not None:
                        self.progress_skipped += 1
                    self._progress = frame
                    return
            elif self._held:
                self.release()
        elif self._held and frame[:4] not in _PREVIEW_TYPES:
            self.release()
        if self._progress is not None:
            progress, self._progress = self._progress, None
            deliver(progress, self._route, self.label)
        deliver(frame, self._route, self.label)

    def release(self) -> None:
        """Fold every held snapshot now (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._held:
            return
        held, self._held = self._held, {}
        for text, head, superseded in held.values():
            if not self._fold(text, head) and superseded is not None:
                # Broken JSON: the usual path would have folded the one before it and dropped this.
                self._fold(superseded, peek_snapshot(superseded) or head)

    def _fold(self, text: str, head: SnapshotHead) -> bool:
        """Decode a snapshot (reusing the previous one's unchanged entries) and route it; False
        when the text is not a usable message at all (logged, as the usual path logs it)."""
        _head, _middle, item_sep, key_sep = _LAYOUTS[head.layout]
        nodes = self.decoder.nodes(text, head.prompt_id, head.nodes_start, item_sep, key_sep)
        try:
            if nodes is None:  # not exactly a snapshot: the usual path decides
                message = parse_frame(text)
                if message is None:
                    return False
            else:
                message = progress_state_message(head.prompt_id, nodes)
            self._route(message)
        except Exception:
            log.exception("ws_frame_failed", client=self.label)
        return True

    def _hold(self, head: SnapshotHead, text: str) -> bool:
        held = self._held
        prompt_id = head.prompt_id
        if prompt_id in held:
            # Re-inserted: prompts fold in the order of their newest snapshot.
            before = held.pop(prompt_id).text
            held[prompt_id] = _Held(text, head, before)
            self.superseded += 1
            return True
        if not self._may_hold(prompt_id) or not self._arm():
            return False
        held[prompt_id] = _Held(text, head, None)
        return True

    def _arm(self) -> bool:
        """Start the latency bound for the first held snapshot; False (do not hold) without a loop."""
        if self._timer is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._timer = loop.call_later(self.hold_seconds, self.release)
        return True
