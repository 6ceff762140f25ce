"""Command palette (ctrl+p): every app action, plus "Run <workflow>" for each saved workflow."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import ComfyRealityApp

# (title, help, action name on the app)
APP_COMMANDS: list[tuple[str, str, str]] = [
    ("Run workflow", "Queue the highlighted workflow on the server", "run"),
    ("Edit inputs and run", "Open the highlighted workflow's inputs as a form", "edit"),
    ("Cancel execution", "Interrupt the selected execution, or remove it from the queue", "cancel"),
    ("Retry execution", "Queue a failed or cancelled execution again", "retry"),
    ("Save outputs", "Download the selected execution's output files into a folder", "save_outputs"),
    ("Toggle log", "Show or hide the log pane", "toggle_log"),
    ("Filter workflows", "Type to narrow the workflow list", "filter"),
    ("History", "Past executions from the journal, with their errors and outputs", "history"),
    ("Reconnect / refresh", "Retry the server now and rescan workflows", "reconnect"),
    ("Help", "Keys and what the focused pane does", "help"),
    ("Quit", "Leave (running prompts keep running on the server)", "quit"),
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
                commands.append(
                    (
                        f"Run {workflow.name}",
                        f"{workflow.source}: {workflow.path.name}",
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
                yield Hit(score, matcher.highlight(title), callback, help=text)
