"""Which of the main screen's keys the footer shows for the focused pane, and what the help lists.

Every key works wherever it makes sense; the footer shows ``?`` and ``^p`` first, then the keys of
the pane in use, then History and Quit, so at 80 columns the keys that matter are never the ones
left off (the footer drops whole keys from its end, see :class:`..widgets.steady_footer.KeyLine`).
The help lists this app's own keys (by binding id), never Textual's internal ones.
"""

from __future__ import annotations

import dataclasses

from textual.app import App
from textual.binding import ActiveBinding, Binding
from textual.widget import Widget

PANE_KEYS: dict[str, tuple[str, ...]] = {
    "workflows": ("run", "edit", "filter"),
    "preview": ("run", "edit"),
    "tasks": ("cancel", "retry", "save_outputs", "copy.prompt_id", "filter"),
    "execution": (
        "gallery_open",
        "gallery_viewer",
        "gallery_copy_path",
        "cancel",
        "retry",
        "save_outputs",
        "copy.prompt_id",
        "copy.error",
        "copy.output_path",
    ),
    "log": ("log.follow", "toggle_log"),
}
"""The footer's keys per focused pane (by pane id), after ``?`` and before History and Quit."""
FOOTER_ALWAYS = ("history", "quit")
FOOTER_FIRST = ("help", "command_palette")
"""Always first: the two ways to find every other key (the line drops whole keys from its end)."""
SHADOWED_BY: dict[str, str] = {"gallery_copy_path": "copy.output_path"}
"""A key listed, the key it makes redundant: with the gallery focused, ``y`` copies the picked
thumbnail's path, so ``p`` (the first output's path, same label) is not listed (it still works)."""

KeyRow = tuple[str, str, str]


def focused_pane(focused: Widget | None) -> str | None:
    """The id of the pane holding the focus (``workflows``, ``tasks``…), None outside them."""
    node = focused
    while node is not None:
        if node.id == "tasks-filter":
            return "tasks"
        if node.id in PANE_KEYS:
            return node.id
        node = node.parent if isinstance(node.parent, Widget) else None
    return None


def footer_order(
    bindings: dict[str, ActiveBinding], pane: str | None, app: App[object]
) -> dict[str, ActiveBinding]:
    """``bindings`` reordered for the footer; the screen's keys of other panes hidden (they still work)."""
    wanted = (*FOOTER_FIRST, *PANE_KEYS.get(pane or "", ()), *FOOTER_ALWAYS)
    rank = {ident: index for index, ident in enumerate(wanted)}
    listed = {active.binding.id for active in bindings.values()}
    for shadow, redundant in SHADOWED_BY.items():
        if shadow in listed:
            rank.pop(redundant, None)
    shown: list[tuple[int, str, ActiveBinding]] = []
    hidden: dict[str, ActiveBinding] = {}
    for key, active in bindings.items():
        ident = active.binding.id
        if ident in rank and active.binding.show:
            shown.append((rank[ident], key, active))
        elif active.binding.show and active.node is not app:
            hidden[key] = active._replace(binding=dataclasses.replace(active.binding, show=False))
        else:
            hidden[key] = active
    ordered = {key: active for _, key, active in sorted(shown, key=lambda row: row[0])}
    ordered.update(hidden)
    return ordered


def help_rows(
    bindings: dict[str, ActiveBinding], app: App[object], everywhere_ids: frozenset[str | None]
) -> tuple[list[KeyRow], list[KeyRow]]:
    """(pane keys, keys everywhere): this app's bindings only, by binding id, each once."""
    from ..keymap import binding_ids

    ours = binding_ids()  # not Textual's internals (page left, cursor_parent_next_sibling, copy_text…)
    pane_keys: list[KeyRow] = []
    global_keys: list[KeyRow] = []
    seen: set[str] = set()
    for active in bindings.values():
        binding = active.binding
        ident = binding.id or binding.action
        if ident in seen or not binding.description or binding.id not in ours:
            continue
        seen.add(ident)
        row = (app.get_key_display(binding), binding.description, ident)
        everywhere = active.node is app or binding.id in everywhere_ids
        (global_keys if everywhere else pane_keys).append(row)
    return pane_keys, global_keys


PANE_TITLES: dict[str, str] = {
    "workflows": "Workflows",
    "tasks": "Executions",
    "execution": "Execution detail",
    "log": "Log",
}
"""The help's sections, one per pane, in screen order (the focused one goes first)."""


def _late_widgets() -> dict[str, tuple[type[Widget], ...]]:
    from ..widgets.gallery import Gallery

    return {"execution": (Gallery,)}


def pane_sections(
    panes: list[Widget],
    bindings: dict[str, ActiveBinding],
    app: App[object],
    focused: str | None,
    history: list[KeyRow],
    everywhere: frozenset[str] = frozenset(),
) -> list[tuple[str, list[KeyRow]]]:
    """(title, keys) per pane, the focused pane first, History last: this app's keys only.

    A pane's keys are those its widgets declare plus the screen's keys that act on it, less
    those listed once under "Keys everywhere" (``everywhere``).
    """
    from ..keymap import binding_ids

    ours = binding_ids()
    late = _late_widgets()
    by_id = {active.binding.id: active.binding for active in bindings.values() if active.binding.id}
    sections: list[tuple[str, list[KeyRow]]] = []
    for pane in panes:
        title = PANE_TITLES.get(pane.id or "")
        if title is None:
            continue
        rows: list[KeyRow] = []
        seen: set[str] = set()
        # Widgets not mounted yet (the gallery before an execution is shown) still have their keys.
        classes = [type(node) for node in (pane, *pane.walk_children(Widget))]
        classes += late.get(pane.id or "", ())
        declared = [
            binding
            for cls in dict.fromkeys(classes)
            for binding in cls.__dict__.get("BINDINGS", [])
            if isinstance(binding, Binding)
        ]
        own = PANE_KEYS.get(pane.id or "", ())
        declared += [by_id[ident] for ident in own if ident in by_id]
        # A screen key that acts on this pane only is listed here even if it works everywhere.
        only_here = {ident for ident in own if sum(ident in keys for keys in PANE_KEYS.values()) == 1}
        for binding in declared:
            ident = binding.id
            if (
                not ident
                or ident in seen
                or (ident in everywhere and ident not in only_here)
                or ident not in ours
                or not binding.description
            ):
                continue
            seen.add(ident)
            rows.append((app.get_key_display(binding), binding.description, ident))
        if rows:
            sections.append((title, rows))
    sections.sort(key=lambda section: section[0] != PANE_TITLES.get(focused or ""))
    if history:
        sections.append(("History (h)", history))
    return sections


__all__ = [
    "FOOTER_ALWAYS",
    "PANE_KEYS",
    "PANE_TITLES",
    "focused_pane",
    "footer_order",
    "help_rows",
    "pane_sections",
]
