"""Where each WebSocket message goes: to the tracker of its prompt, or to the runtime.

The same router serves the main socket (every prompt, and the broadcasts) and the observer
sockets (only the prompts each observer follows); the socket code knows nothing of prompts.
"""

from __future__ import annotations

from collections.abc import Callable

from ..logs import get_logger
from .models import PreviewFrame, TaskStatus
from .observers import Observer
from .protocol import (
    ExecutedMessage,
    ExecutingMessage,
    ExecutionCachedMessage,
    ExecutionErrorMessage,
    ExecutionInterruptedMessage,
    ExecutionStartMessage,
    ExecutionSuccessMessage,
    FeatureFlagsMessage,
    Frame,
    LogsMessage,
    PreviewImageFrame,
    PreviewImageWithMetadataFrame,
    ProgressMessage,
    ProgressStateMessage,
    StatusMessage,
    TextFrame,
)
from .tracker import Tracker

log = get_logger("comfy_reality.runtime")
# Messages that belong to the prompt they name and go to its tracker as they are (an ``executing``
# without a prompt id is the reconnect hint: it takes the long way).
_PROMPT_MESSAGES: frozenset[type] = frozenset(
    {
        ExecutingMessage,
        ExecutionStartMessage,
        ExecutionCachedMessage,
        ExecutedMessage,
        ExecutionSuccessMessage,
        ExecutionErrorMessage,
        ExecutionInterruptedMessage,
    }
)


class Router:
    """Routes messages by ``prompt_id`` into ``trackers`` (the runtime's live dict, by prompt_id).

    ``on_status`` gets the main socket's status messages, ``on_features`` the server's feature
    flags, ``previews`` the preview listeners; ``queue_changed`` is called on any status message.
    """

    def __init__(
        self,
        trackers: dict[str, Tracker],
        *,
        on_status: Callable[[StatusMessage], None],
        on_features: Callable[[dict[str, object]], None],
        queue_changed: Callable[[], None],
        previews: list[Callable[[PreviewFrame], None]],
    ) -> None:
        self.trackers = trackers
        self.on_status = on_status
        self.on_features = on_features
        self.queue_changed = queue_changed
        self.previews = previews
        self.last_progress: tuple[str | None, str | None] = (None, None)

    def route(self, message: Frame, observer: Observer | None = None) -> None:
        """``observer`` None: the main socket, which reaches every tracker and handles the
        broadcasts; else an observer socket, which reaches only that observer's prompts."""

        if type(message) in _PROMPT_MESSAGES and (prompt_id := message.prompt_id) is not None:  # type: ignore[union-attr]
            # A prompt's own message (what the last branch below does), found by its exact type first:
            # most of a prompt's messages are these.
            tracker = (
                self.trackers.get(prompt_id) if observer is None else self._tracker_of(prompt_id, observer)
            )
            if tracker is not None:
                tracker.feed(message)
            return
        # Ordered by frequency: the progress flood first.
        if isinstance(message, (ProgressStateMessage, ProgressMessage)):
            if isinstance(message, ProgressMessage):
                if observer is None:
                    self.last_progress = (message.prompt_id, message.node)
                else:
                    observer.last_progress = (message.prompt_id, message.node)
            if (tracker := self._tracker_of(message.prompt_id, observer)) is not None:
                tracker.feed(message)
        elif isinstance(message, StatusMessage):
            self.queue_changed()
            if observer is None:
                self.on_status(message)
        elif isinstance(message, ExecutingMessage) and message.prompt_id is None:
            if message.node is not None:
                self._bare_executing(message.node, observer)
        elif isinstance(message, PreviewImageWithMetadataFrame):
            if observer is None or message.prompt_id in observer.prompt_ids:
                self._preview(
                    message.prompt_id,
                    message.node_id,
                    message.display_node_id,
                    message.image_type,
                    message.image,
                )
        elif isinstance(message, PreviewImageFrame):
            # A preview without metadata follows the progress message of its node.
            prompt_id, node_id = self.last_progress if observer is None else observer.last_progress
            if observer is None or prompt_id in observer.prompt_ids:
                self._preview(prompt_id, node_id, None, message.image_type, message.image)
        elif isinstance(message, (TextFrame, FeatureFlagsMessage, LogsMessage)):
            # Broadcasts reach the main socket too: handled there only.
            if observer is None:
                self._broadcast(message)
        else:
            prompt_id = getattr(message, "prompt_id", None)
            if isinstance(prompt_id, str) and (tracker := self._tracker_of(prompt_id, observer)) is not None:
                tracker.feed(message)

    def may_hold(self, prompt_id: str) -> bool:
        """Whether the main socket may coalesce this prompt's snapshots (see snapshots.py)."""
        tracker = self.trackers.get(prompt_id)
        return tracker is not None and tracker.may_hold

    def _tracker_of(self, prompt_id: str | None, observer: Observer | None) -> Tracker | None:
        """The tracker a message of ``prompt_id`` goes to on this socket (an observer's: only its prompts)."""
        if prompt_id is None or (observer is not None and prompt_id not in observer.prompt_ids):
            return None
        return self.trackers.get(prompt_id)

    def _bare_executing(self, node: str, observer: Observer | None) -> None:
        """Sent without a prompt_id on (re)connect while a prompt runs: the node it is on now.
        ComfyUI runs one prompt at a time, so of the prompts this socket hears, the one that
        started last is it."""
        if observer is None:
            heard = [t for t in self.trackers.values() if not t.foreign]
        else:
            heard = [t for p in observer.prompt_ids if (t := self.trackers.get(p)) is not None]
        running = [t for t in heard if t.following and t.execution.status is TaskStatus.RUNNING]
        if running:
            latest = max(running, key=lambda t: t.execution.started_at or t.execution.created_at)
            latest.on_bare_executing(node)

    def _broadcast(self, message: TextFrame | FeatureFlagsMessage | LogsMessage) -> None:
        if isinstance(message, TextFrame):
            for tracker in list(self.trackers.values()):
                tracker.on_text(message)
        elif isinstance(message, FeatureFlagsMessage):
            self.on_features(dict(message.flags))
        else:
            for entry in message.entries:
                log.debug("server_log", text=entry.m.rstrip())

    def _preview(
        self, prompt_id: str | None, node_id: str | None, display: str | None, image_type: str, image: bytes
    ) -> None:
        if not self.previews:
            return
        tracker = self.trackers.get(prompt_id) if prompt_id else None
        frame = PreviewFrame(
            execution_id=tracker.execution.id if tracker else None,
            prompt_id=prompt_id,
            node_id=node_id,
            display_node_id=display,
            image_type=image_type,
            image=image,
        )
        for callback in list(self.previews):
            try:
                callback(frame)
            except Exception:
                log.exception("preview_subscriber_failed", subscriber=repr(callback))
