"""Reads a stream of progress frames a few at a time, and hands each frame over where it is parsed.

A big graph makes ComfyUI send hundreds of small frames a second (each node step a ``progress``
and a ``progress_state``, previews). Read as they come, every frame costs a loop wake-up, a read
system call and the library's per-read work, then a second wake-up for the task that awaits the
message: several times what parsing the frame costs. :class:`CoalescingConnection` cuts both:

* **Coalesced reads.** While such a stream is on, it stops reading the socket for at most
  ``coalesce_seconds`` after a read, so the kernel gathers the next frames and one read brings
  them all. It pauses only after a read that ended in a node's step with more steps to
  come (a ``progress`` message below its max) and came within ``flood_gap`` of the read before
  it: a frame after a quiet spell, and whatever follows the end of a node or of a prompt, are
  read at once. No frame waits longer than ``coalesce_seconds``
  (ping, pong and close included). The pause is the transport's own ``pause_reading``, shared
  with websockets' flow control: reading resumes only when neither holds it.
* **Frames handed over in place** (:meth:`deliver_to`). Each whole text or binary message goes to
  the sink from the protocol callback that parsed it, instead of through the library's message
  queue and one awaited ``recv`` per frame. Order is kept: while that queue still holds frames
  (those read before the sink was set, or a fragmented message), new ones queue behind them, and
  the reader's ``async for`` takes them first. A read that hands over more than ``YIELD_FRAMES``
  frames pauses reading until the loop has run its other callbacks.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from ..logs import get_logger

log = get_logger("comfy_reality.runtime")

# At most this long a frame waits during a flood: under the app's frame interval (1/30 s; a flood's
# batches go out 6 frames apart), and long enough for a read to bring many frames of a fast node's
# steps. benchmarks.ws_read, 500-node chain, one run each: 20 ms: 5.2 frames a read, 123 µs a
# frame; 32 ms: 9.7 frames a read, 102 µs a frame; 50 ms: 9.3 frames a read (no better).
COALESCE_SECONDS = 0.032
FLOOD_GAP_SECONDS = 0.05
YIELD_FRAMES = 256

FrameSink = Callable[[str | bytes], None]

# A node's step that is not its last: ComfyUI's ``progress`` message (json.dumps, with or
# without spaces), value first. Anything else, or another layout, ends a read without a pause.
_STEP = re.compile(rb'\{"type": ?"progress", ?"data": ?\{"value": ?(\d{1,9}), ?"max": ?(\d{1,9})[,}]')


def is_mid_node_step(frame: Frame) -> bool:
    """Whether the frame is a node's step with more steps to come (so more frames follow soon)."""
    if frame.opcode is not Opcode.TEXT:
        return False
    found = _STEP.match(frame.data)
    return found is not None and int(found[1]) < int(found[2])


class CoalescingConnection(ClientConnection):
    """A client connection that batches its reads during a progress flood (module docstring)."""

    coalesce_seconds = COALESCE_SECONDS
    flood_gap = FLOOD_GAP_SECONDS

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.reads = 0  # socket reads that delivered data, for benchmarks and tests
        self.pauses = 0  # coalescing pauses taken
        self._sink: FrameSink | None = None
        self._label = ""
        self._last_read = -math.inf
        self._last_frame: Frame | None = None
        self.handed_over = 0  # frames given to the sink in all
        self._handed_this_read = 0
        self._pause: asyncio.Handle | None = None
        self._queue_full = False
        # Both tricks lean on the library's message queue (its pause/resume hooks and its frame
        # queue, websockets 13 to 17): on a release without them this socket reads as the plain one.
        queue = self.recv_messages
        self.supported = all(hasattr(queue, name) for name in ("pause", "resume", "frames"))
        if self.supported:
            # The library pauses reading when its message queue is full: route that through here
            # so the two pauses never undo each other.
            queue.pause = self._pause_for_full_queue
            queue.resume = self._resume_for_drained_queue

    def deliver_to(self, sink: FrameSink | None, label: str = "") -> None:
        """Hand every later whole message to ``sink`` (None: back to the library's queue).
        A sink that raises is logged under ``label`` and reading goes on."""
        self._sink = sink if self.supported else None
        self._label = label

    @property
    def coalescing(self) -> bool:
        """Whether reading is paused right now to let frames gather."""
        return self._pause is not None

    def process_event(self, event: Event) -> None:
        if not isinstance(event, Frame):
            super().process_event(event)  # the handshake's response
            return
        self._last_frame = event
        sink = self._sink
        if (
            sink is None
            or not event.fin
            or (event.opcode is not Opcode.TEXT and event.opcode is not Opcode.BINARY)
            or len(self.recv_messages.frames)  # earlier frames still queued: keep the order
        ):
            super().process_event(event)
            return
        self._handed_this_read += 1
        self.handed_over += 1
        try:
            sink(bytes(event.data).decode() if event.opcode is Opcode.TEXT else bytes(event.data))
        except Exception:
            log.exception("ws_frame_failed", client=self._label)

    def data_received(self, data: bytes) -> None:
        self._last_frame = None
        self._handed_this_read = 0
        super().data_received(data)
        self.reads += 1
        now = self.loop.time()
        flood = now - self._last_read < self.flood_gap
        self._last_read = now
        if self._pause is not None or not self.supported:
            return
        if self._handed_this_read > YIELD_FRAMES:  # a backlog: let the loop run before the next read
            self._pause = self.loop.call_soon(self._end_pause)
        elif flood and self.coalesce_seconds > 0 and self._ended_mid_node():
            self.pauses += 1
            self._pause = self.loop.call_later(self.coalesce_seconds, self._end_pause)
        else:
            return
        self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        self._sink = None
        super().connection_lost(exc)

    def _ended_mid_node(self) -> bool:
        last = self._last_frame
        return last is not None and is_mid_node_step(last)

    def _end_pause(self) -> None:
        self._pause = None
        if not self._queue_full:
            self.transport.resume_reading()

    def _pause_for_full_queue(self) -> None:
        self._queue_full = True
        self.transport.pause_reading()

    def _resume_for_drained_queue(self) -> None:
        self._queue_full = False
        if self._pause is None:
            self.transport.resume_reading()
