"""Command palette (ctrl+p): every app action, plus "Run <workflow>" for each saved workflow."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from ..safe_text import safe_str

if TYPE_CHECKING:
    from .app import ComfyRealityApp

# (title, help, action): "screen." actions are the main screen's and run only while it is on top.
APP_COMMANDS: list[tuple[str, str, str]] = [
    ("Run workflow", "Queue the highlighted workflow on the server", "screen.run"),
    ("Edit inputs and run", "Open the highlighted workflow's inputs as a form", "screen.edit"),
    ("Cancel execution", "Interrupt the selected execution, or remove it from the queue", "screen.cancel"),
    ("Retry execution", "Queue a failed or cancelled execution again", "screen.retry"),
    ("Save outputs", "Download the selected execution's output files into a folder", "screen.save_outputs"),
    ("Toggle log", "Show or hide the log pane", "screen.toggle_log"),
    ("Filter workflows", "Type to narrow the workflow list", "screen.filter"),
    ("History", "Past executions from the journal, with their errors and outputs", "screen.history"),
    (
        "Queue (every client)",
        "The server's running and pending prompts, live: move, delete, clear",
        "screen.server_queue",
    ),
    (
        "Server history",
        "The server's finished prompts of every client: re-run, save, delete, clear",
        "screen.server_history",
    ),
    (
        "Servers",
        "Each server of the pool: capabilities, why one is down; add, disable, drain, pin (s)",
        "screen.servers",
    ),
    ("Reconnect / refresh", "Retry the server now and rescan workflows", "screen.reconnect"),
    ("Help", "Keys and what the focused pane does", "screen.help"),
    ("Copy prompt id", "The selected execution's prompt id, to the clipboard (y)", "screen.copy_prompt_id"),
    ("Copy error", "The selected execution's error and traceback, to the clipboard (Y)", "screen.copy_error"),
    ("Copy output path", "Where the selected execution's first output is (p)", "screen.copy_output_path"),
    ("Quit", "Leave (running prompts keep running on the server)", "app.quit"),
]


# The preview toggle: what the next prompts ask of the server (extra_data.preview_method).
PREVIEW_METHODS: list[tuple[str, str]] = [
    ("auto", "latent2rgb, or TAESD where the server has its decoder"),
    ("taesd", "the sharpest previews (the server needs models/vae_approx)"),
    ("latent2rgb", "cheap, blurry previews"),
    ("none", "no previews: the server does not even compute them"),
    ("default", "whatever the server was started with (--preview-method)"),
]


def set_preview_method(app: ComfyRealityApp, method: str) -> None:
    """Used for every prompt queued from now on; the config file keeps its own value."""
    app.settings.preview_method = method  # type: ignore[assignment]
    app.notify(f"Previews: {method} for the next runs", timeout=3)


class ComfyCommands(Provider):
    @property
    def comfy_app(self) -> ComfyRealityApp:
        return self.app  # type: ignore[return-value]

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.comfy_app
        commands: list[tuple[str, str, Callable[[], object]]] = [
            (title, text, partial(app.run_action, action)) for title, text, action in APP_COMMANDS
        ]
        current = app.settings.preview_method
        for method, text in PREVIEW_METHODS:
            if method != current:
                commands.append((f"Previews: {method}", text, partial(set_preview_method, app, method)))
        for workflow in app.workflow_files:
            if workflow.ok:
                # Names come from files and the server: control characters shown, markup escaped.
                commands.append(
                    (
                        safe_str(f"Run {workflow.name}", one_line=True),
                        escape(safe_str(f"{workflow.source}: {workflow.path.name}", one_line=True)),
                        partial(app.run_workflow_file, workflow),
                    )
                )
        return commands

    async def discover(self) -> Hits:
        for title, text, callback in self._commands()[: len(APP_COMMANDS)]:
            yield DiscoveryHit(title, callback, help=text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, plain_highlight(matcher, title), callback, help=text)


def plain_highlight(matcher: Matcher, title: str) -> Content:
    """``matcher.highlight`` without parsing ``title`` as markup (a workflow named "[/]" is text)."""
    content = Content(title)
    _, offsets = matcher.fuzzy_search.match(matcher.query, title)
    for offset in offsets:
        if not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
