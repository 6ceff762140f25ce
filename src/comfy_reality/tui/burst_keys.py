"""Keys typed in one burst reach the widget that has the focus when their turn comes.

Textual's App hands each key from the terminal to the widget focused *as it reads the key*;
the key's binding runs later, once the key has bubbled back up to the app. A burst (a paste
of keys, ``tmux send-keys "/chain"``, keys batched over SSH) is read whole before the ``/``
binding runs: every letter was already queued on the list, so the list and the screen's
bindings got them (``h`` opened History) and the filter none. The same on the way back:
after enter in the filter, the next letters of the burst were typed into the filter.

So a key whose binding moves the focus (its action marked with :func:`moves_focus`) is not
handed to the focused widget: a :class:`KeyInTurn` goes up the same way behind the keys read
before it, the app runs the binding when it arrives, and until then it holds the keys read
after it. The action moves the focus before it returns (:func:`focus_at_once`), so the held
keys then go to the widget that has it: in order, nothing lost, no binding of the old widget.

Some keys open their screen later: a background job reads the workflow first (``e``), or a
message asks the app to open it (History's ``e``). Their action hands the turn on
(:func:`turn_waits_for_job`, :func:`post_in_turn`) and the held keys wait until the job has
ended or the message has been handled, then for the screen it opened to have its focus. The
message pump runs meanwhile (the job may wait on the network). If nothing opened (an error
was notified, the job failed or was cancelled), the keys go where the focus is. They wait at
most :data:`HOLD_LIMIT`; esc read while the job runs cancels it, and with it the keys typed
for the screen that will not open.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from textual import events, on
from textual.actions import parse
from textual.app import App, ReturnType
from textual.dom import DOMNode
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input
from textual.worker import Worker, WorkerError

Action = TypeVar("Action", bound=Callable[..., Any])

_MARK = "_moves_focus"

HOLD_LIMIT = 5.0
"""Seconds the keys after a key wait for the screen its job opens. A burst is read in
milliseconds and a workflow opens in a fraction of a second; a job slower than this (a server
that answers late) lets the keys go where the focus is, and its screen opens when it is ready."""


def moves_focus(action: Action) -> Action:
    """Mark an action that moves the focus (into a field, or out of it back to a list).

    The action must move it before it returns (awaiting a mount if it has to), with
    :func:`focus_at_once`: ``Widget.focus`` only asks for the focus on a later turn; or open a
    screen; or hand its turn to what opens one later (:func:`turn_waits_for_job`, :func:`post_in_turn`).
    """
    setattr(action, _MARK, True)
    return action


def focus_at_once(widget: Widget) -> None:
    """Give the widget the focus now, so the next key the app hands on reaches it."""
    widget.screen.set_focus(widget)


def turn_waits_for_job(job: Worker[Any]) -> None:
    """From a marked action whose screen ``job`` opens: the keys after its key wait for the job.

    Outside a key's turn (the palette, a click) it does nothing: no key waits then.
    """
    app = job.node.app
    if isinstance(app, BurstKeysApp) and app._in_action:
        app._turn_ends_after = (job.node, job)


def post_in_turn(node: DOMNode, message: Message) -> None:
    """Post ``message`` (one that opens a screen) from a marked action: the keys after its key
    wait until it has been handled, then for the screen it opened to have its focus."""
    node.post_message(message)
    app = node.app
    if isinstance(app, BurstKeysApp) and app._in_action:
        app._turn_ends_after = (node, None)


def takes_key(widget: Widget | None, key: events.Key) -> bool:
    """A text field's own key (it types it, or moves in its text), never a binding's."""
    if isinstance(widget, Input):
        return key.is_printable
    # TextArea is heavy to import; with its module not loaded no TextArea can be focused.
    text_area = sys.modules.get("textual.widgets._text_area")
    return text_area is not None and isinstance(widget, text_area.TextArea)


class KeyInTurn(Message):
    """A key whose binding moves the focus, on its way up behind the keys read before it.

    With no key: sent to a screen the key opened, behind the messages that give it its focus;
    or, with ``opened_from``, behind what the key's action handed its turn to (the screen it
    was on then).
    """

    def __init__(self, key: events.Key | None, opened_from: Screen[Any] | None = None) -> None:
        super().__init__()
        self.key = key
        self.opened_from = opened_from


class BurstKeysApp(App[ReturnType]):
    """An App that runs a focus-moving key's binding in turn and holds the keys after it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_keys: deque[events.Key] = deque()
        self._key_in_turn: tuple[KeyInTurn, DOMNode] | None = None
        """The key on its way up and the widget it was sent to; None: keys are handed on as read."""
        self._in_action = False
        self._turn_ends_after: tuple[DOMNode, Worker[Any] | None] | None = None
        """Set by the action of a key in its turn: the node and job its screen waits for."""
        self._turn_job: tuple[Worker[Any], Screen[Any]] | None = None
        """The job the held keys wait for, and the screen it was started from (esc cancels it)."""
        self._hold_timer: Timer | None = None
        self._job_watches: set[asyncio.Task[None]] = set()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and self._screen_stack:
            if event.key == "escape" and self._cancel_opening():
                return
            self._held_keys.append(event)
            await self._hand_on_held_keys()
            return
        await super().on_event(event)

    async def _hand_on_held_keys(self) -> None:
        while self._held_keys:
            if not self._screen_stack:  # the app is closing: no widget left to take them
                self._held_keys.clear()
                return
            if self._key_in_turn is not None:
                if self._key_in_turn[1].is_attached:
                    return  # the held keys wait for it
                self._key_in_turn = None  # removed with the widget it was sent to: nothing to wait for
                self._stop_waiting()
            key = self._held_keys.popleft()
            if not self._send_in_turn(key):
                await super().on_event(key)

    def _send_in_turn(self, key: events.Key) -> bool:
        """Send the key up behind the keys before it if its binding moves the focus."""
        if self._focus_binding(key) is None:
            return False
        self.app_focus = True  # as Textual does for a key it reads
        screen = self.screen
        return self._send(KeyInTurn(key), screen.focused or screen)

    def _send(self, message: KeyInTurn, target: DOMNode) -> bool:
        if not target.post_message(message):
            return False
        self._key_in_turn = (message, target)
        return True

    @on(KeyInTurn)
    async def _run_key_in_turn(self, message: KeyInTurn) -> None:
        message.stop()
        if self._key_in_turn is None or self._key_in_turn[0] is not message:
            return
        if message.key is not None:
            screen = self.screen
            binding = self._focus_binding(message.key)
            if binding is None:  # the keys before it moved the focus elsewhere: the key goes on as read
                await super().on_event(message.key)
            else:
                self._in_action = True
                try:
                    await self.run_action(*binding)
                finally:
                    self._in_action = False
            after, self._turn_ends_after = self._turn_ends_after, None
            if after is not None:
                self._wait_after(*after, screen)
                return
            if self._screen_opened_since(screen):
                return  # the palette: the keys wait until it has its focus
        elif message.opened_from is not None:  # the job has ended (or the message was handled)
            self._stop_waiting()
            if self._screen_opened_since(message.opened_from):
                return
        self._key_in_turn = None
        await self._hand_on_held_keys()

    def _screen_opened_since(self, screen: Screen[Any]) -> bool:
        """Whether another screen is on top now; if so, the held keys wait until it has its focus."""
        return self.screen is not screen and self._send(KeyInTurn(None), self.screen)

    def _wait_after(self, node: DOMNode, job: Worker[Any] | None, screen: Screen[Any]) -> None:
        """The held keys wait for ``job`` to end (or, with none, for the messages posted to ``node``)."""
        done = KeyInTurn(None, opened_from=screen)
        self._key_in_turn = (done, node)
        if job is None:
            if not node.post_message(done):
                self.post_message(done)
        else:
            self._turn_job = (job, screen)
            watch = asyncio.create_task(self._after_job(job, node, done))
            self._job_watches.add(watch)
            watch.add_done_callback(self._job_watches.discard)
        self._hold_timer = self.set_timer(HOLD_LIMIT, lambda: self._wait_no_longer(done))

    async def _after_job(self, job: Worker[Any], node: DOMNode, done: KeyInTurn) -> None:
        try:
            await job.wait()
        except WorkerError:
            pass  # failed or cancelled: the job's own handler says so; the keys go on all the same
        # Sent where the job posts its messages, so it comes up behind the one that opens a screen.
        if not node.post_message(done):
            self.post_message(done)

    def _wait_no_longer(self, done: KeyInTurn) -> None:
        """:data:`HOLD_LIMIT` passed: the held keys go where the focus is; the job carries on."""
        if self._key_in_turn is not None and self._key_in_turn[0] is done:
            self._stop_waiting()
            self._send(KeyInTurn(None, opened_from=done.opened_from), self)

    def _stop_waiting(self) -> None:
        self._turn_job = None
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None

    def _cancel_opening(self) -> bool:
        """esc while the held keys wait for a job: cancel it; the keys typed for its screen go too."""
        if self._turn_job is None:
            return False
        job, screen = self._turn_job
        if job.is_finished or self.screen is not screen:
            return False  # its screen is open (or opening): esc is that screen's
        job.cancel()
        self._held_keys.clear()
        return True

    @moves_focus
    def action_command_palette(self) -> None:
        """Textual's palette, marked: the keys typed after ctrl+p in a burst are the palette's search."""
        super().action_command_palette()

    def _focus_binding(self, key: events.Key) -> tuple[str, DOMNode] | None:
        """The key's binding (action, namespace) if it is the one Textual would run and it moves the focus."""
        screen = self.screen
        if takes_key(screen.focused, key) or (key.key == "escape" and screen.maximized is not None):
            return None  # the field's own key; esc leaving a maximized pane is Textual's
        chain = screen._modal_binding_chain
        if any(
            binding.priority for _, bindings in chain for binding in bindings.key_to_bindings.get(key.key, ())
        ):
            return None  # Textual runs priority keys as it reads them
        # The same search as Textual's when the key comes back up: focused widget first, app last.
        for namespace, bindings in chain:
            for binding in bindings.key_to_bindings.get(key.key, ()):
                destination, name, parameters = parse(binding.action)
                if destination:
                    return None
                if not namespace.check_action(name, parameters):
                    continue
                action = getattr(namespace, f"action_{name}", None)
                if action is None:
                    continue
                return (binding.action, namespace) if getattr(action, _MARK, False) else None
        return None


__all__ = [
    "HOLD_LIMIT",
    "BurstKeysApp",
    "KeyInTurn",
    "focus_at_once",
    "moves_focus",
    "post_in_turn",
    "takes_key",
    "turn_waits_for_job",
]
