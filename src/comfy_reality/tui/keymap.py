"""Which ``[keymap]`` entries of the config name no binding: Textual ignores them silently.

The config validates the syntax (ids and keys, exit 2); whether an id exists is only known
here, where the app's bindings are. The app reports what this returns (log and a warning).
"""

from __future__ import annotations

import importlib

from textual.binding import Binding
from textual.dom import DOMNode

# Modules whose classes declare the app's bindings (screens open later, so not yet mounted).
_MODULES = (
    "comfy_reality.tui.app",
    "comfy_reality.tui.screens.confirm_quit",
    "comfy_reality.tui.screens.help",
    "comfy_reality.tui.screens.history",
    "comfy_reality.tui.screens.journal_screen",
    "comfy_reality.tui.screens.main",
    "comfy_reality.tui.screens.input_form",
    "comfy_reality.tui.screens.name_prompt",
    "comfy_reality.tui.screens.run_outputs",
    "comfy_reality.tui.screens.save_outputs",
    "comfy_reality.tui.widgets",
)


def _subclasses(cls: type[DOMNode]) -> list[type[DOMNode]]:
    found: list[type[DOMNode]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def binding_ids() -> set[str]:
    """Every binding id declared by the app, its widgets and its screens."""
    for name in _MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a module moved by a refactor: its classes are found if imported elsewhere
            continue
    ids: set[str] = set()
    for cls in _subclasses(DOMNode):
        if not cls.__module__.startswith("comfy_reality.tui"):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids


def keymap_problems(keymap: dict[str, str]) -> list[str]:
    """One sentence per entry whose id is not a binding of the app (the rest apply)."""
    known = binding_ids()
    return [
        f"keymap: {binding_id!r} is not a binding id, so {keys!r} does nothing (F1 lists the ids)"
        for binding_id, keys in keymap.items()
        if binding_id not in known
    ]


__all__ = ["binding_ids", "keymap_problems"]
