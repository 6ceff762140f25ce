"""Keys typed in one burst after a key that opens a text field go into that field.

Textual's App hands each key from the terminal to the widget focused *as it reads the key*;
the key's binding runs later, once the key has bubbled back up to the app. A burst (a paste
of keys, ``tmux send-keys "/chain"``, keys batched over SSH) is read whole before the ``/``
binding runs: every letter was already queued on the list, so the list and the screen's
bindings got them (``h`` opened History) and the filter none.

So a binding whose action opens a field (marked with :func:`opens_field`) runs as the app
reads its key, before it reads the next one, and the action gives the field the focus before
it returns (:func:`focus_at_once`). The rest of the burst then reaches the field the way any
key reaches the focused widget: in order, with nothing lost, no binding of the list's fired.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from textual import events
from textual.actions import parse
from textual.app import App, ReturnType
from textual.widget import Widget
from textual.widgets import Input

Action = TypeVar("Action", bound=Callable[..., Any])

_MARK = "_opens_field"


def opens_field(action: Action) -> Action:
    """Mark an action that moves the focus into a text field: its key is handled as it is read.

    The action must focus the field before it returns (awaiting a mount if it has to), with
    :func:`focus_at_once`: ``Widget.focus`` only asks for the focus on a later turn.
    """
    setattr(action, _MARK, True)
    return action


def focus_at_once(field: Widget) -> None:
    """Give the field the focus now, so the next key the app reads is handed to it."""
    field.screen.set_focus(field)


def is_text_field(widget: Widget | None) -> bool:
    """A widget that takes printable keys as text (its own keys are its business, not a binding's)."""
    if isinstance(widget, Input):
        return True
    # TextArea is heavy to import; with its module not loaded no TextArea can be focused.
    text_area = sys.modules.get("textual.widgets._text_area")
    return text_area is not None and isinstance(widget, text_area.TextArea)


class BurstKeysApp(App[ReturnType]):
    """An App that runs a field-opening binding as it reads the key (see the module's docstring)."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and await self._open_field_now(event):
            return
        await super().on_event(event)

    async def _open_field_now(self, event: events.Key) -> bool:
        """Run the key's binding now if it is the one Textual would run and it opens a field."""
        if not self._screen_stack:
            return False  # starting or closing: no screen, no binding
        screen = self.screen
        if is_text_field(screen.focused):
            return False
        chain = screen._modal_binding_chain
        if any(
            binding.priority
            for _, bindings in chain
            for binding in bindings.key_to_bindings.get(event.key, ())
        ):
            return False  # Textual runs priority keys as it reads them already
        # The same search as Textual's when the key comes back up: focused widget first, app last.
        for namespace, bindings in chain:
            for binding in bindings.key_to_bindings.get(event.key, ()):
                destination, name, parameters = parse(binding.action)
                if destination or not namespace.check_action(name, parameters):
                    if destination:
                        return False
                    continue
                action = getattr(namespace, f"action_{name}", None)
                if action is None:
                    continue
                if not getattr(action, _MARK, False):
                    return False
                if not self.app_focus:
                    self.app_focus = True
                return await self.run_action(binding.action, namespace)
        return False


__all__ = ["BurstKeysApp", "focus_at_once", "is_text_field", "opens_field"]
