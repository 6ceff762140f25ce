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
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from textual import events, on
from textual.actions import parse
from textual.app import App, ReturnType
from textual.dom import DOMNode
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

Action = TypeVar("Action", bound=Callable[..., Any])

_MARK = "_moves_focus"


def moves_focus(action: Action) -> Action:
    """Mark an action that moves the focus (into a field, or out of it back to a list).

    The action must move it before it returns (awaiting a mount if it has to), with
    :func:`focus_at_once`: ``Widget.focus`` only asks for the focus on a later turn.
    """
    setattr(action, _MARK, True)
    return action


def focus_at_once(widget: Widget) -> None:
    """Give the widget the focus now, so the next key the app hands on reaches it."""
    widget.screen.set_focus(widget)


def takes_key(widget: Widget | None, key: events.Key) -> bool:
    """A text field's own key (it types it, or moves in its text), never a binding's."""
    if isinstance(widget, Input):
        return key.is_printable
    # TextArea is heavy to import; with its module not loaded no TextArea can be focused.
    text_area = sys.modules.get("textual.widgets._text_area")
    return text_area is not None and isinstance(widget, text_area.TextArea)


class KeyInTurn(Message):
    """A key whose binding moves the focus, on its way up behind the keys read before it.

    With no key: sent to a screen the key opened, behind the messages that give it its focus.
    """

    def __init__(self, key: events.Key | None) -> None:
        super().__init__()
        self.key = key


class BurstKeysApp(App[ReturnType]):
    """An App that runs a focus-moving key's binding in turn and holds the keys after it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_keys: deque[events.Key] = deque()
        self._key_in_turn: tuple[KeyInTurn, DOMNode] | None = None
        """The key on its way up and the widget it was sent to; None: keys are handed on as read."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and self._screen_stack:
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
                await self.run_action(*binding)
            if self.screen is not screen and self._send(KeyInTurn(None), self.screen):
                return  # a screen opened (the palette): the keys wait until it has its focus
        self._key_in_turn = None
        await self._hand_on_held_keys()

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


__all__ = ["BurstKeysApp", "KeyInTurn", "focus_at_once", "moves_focus", "takes_key"]
