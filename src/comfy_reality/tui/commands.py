"""Command palette (ctrl+p): every app action, plus "Run <workflow>" for each saved workflow."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

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
    ("Reconnect / refresh", "Retry the server now and rescan workflows", "screen.reconnect"),
    ("Help", "Keys and what the focused pane does", "screen.help"),
    ("Quit", "Leave (running prompts keep running on the server)", "app.quit"),
]


class ComfyCommands(Provider):
    @property
    def comfy_app(self) -> ComfyRealityApp:
        return self.app  # type: ignore[return-value]

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.comfy_app
        commands: list[tuple[str, str, Callable[[], object]]] = [
            (title, text, partial(app.run_action, action)) for title, text, action in APP_COMMANDS
        ]
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
