"""Run selected outputs: pick some of a workflow's output nodes, queue only those (and what they need).

The app's form of ``run --only`` and of the web UI's "run selected outputs": the output nodes come
from :func:`comfy_reality.workflows.partial.output_nodes` (the node catalogue's ``output_node``),
and the choice goes to the server as ``partial_execution_targets``. Node titles and class names
come from the workflow file: plain text, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.control import strip_control_codes
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static

from ...workflows.object_info import ObjectInfo
from ...workflows.partial import node_title, output_nodes

if TYPE_CHECKING:
    from ...workflows import WorkflowFile
    from .main import MainScreen

OutputChoice = tuple[str, str | None, str]
"""(node id, title or None, class type)."""


def output_choices(prompt: Mapping[str, Any], object_info: ObjectInfo) -> list[OutputChoice]:
    """The prompt's output nodes, in prompt order, for the picker."""
    return [
        (node_id, node_title(prompt[node_id]), str(prompt[node_id].get("class_type", "?")))
        for node_id in output_nodes(prompt, object_info)
    ]


def choice_label(choice: OutputChoice) -> Text:
    node_id, title, class_type = choice
    label = Text(no_wrap=True)
    label.append(f"#{strip_control_codes(node_id)} ", style="bold")
    label.append(strip_control_codes(title or class_type))
    if title and title != class_type:
        label.append(f"  {strip_control_codes(class_type)}", style="dim")
    return label


class RunOutputsScreen(ModalScreen[list[str] | None]):
    """Checkboxes of the output nodes; enter queues the checked ones, esc cancels (None)."""

    DEFAULT_CSS = """
    RunOutputsScreen {
        align: center middle;
        background: $background 60%;
    }
    #run-outputs-dialog {
        width: 80;
        max-width: 96%;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
    }
    #run-outputs-title {
        text-style: bold;
        background: $accent 30%;
        width: 100%;
        padding: 0 1;
    }
    #run-outputs-list {
        height: auto;
        max-height: 20;
        margin: 1 1 0 1;
    }
    #run-outputs-help {
        padding: 1 1 0 1;
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="run_outputs.close"),
        Binding("enter", "confirm", "Run", id="run_outputs.run", priority=True),
    ]

    def __init__(self, workflow_name: str, choices: list[OutputChoice]) -> None:
        super().__init__()
        self.workflow_name = workflow_name
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="run-outputs-dialog"):
            title = Text("Run selected outputs of ")
            title.append(strip_control_codes(self.workflow_name))
            yield Static(title, id="run-outputs-title")
            yield SelectionList[str](
                *((choice_label(choice), choice[0]) for choice in self.choices), id="run-outputs-list"
            )
            yield Static(
                "space check/uncheck · enter run the checked outputs (and what they need) · esc close",
                id="run-outputs-help",
            )

    def on_mount(self) -> None:
        self.query_one("#run-outputs-list", SelectionList).focus()

    def action_confirm(self) -> None:
        chosen: list[str] = list(self.query_one("#run-outputs-list", SelectionList).selected)
        if not chosen:
            self.notify("Check at least one output (space), or esc to close.", severity="warning")
            return
        order = [choice[0] for choice in self.choices]
        self.dismiss(sorted(chosen, key=order.index))

    def action_close(self) -> None:
        self.dismiss(None)


async def pick_outputs(main: MainScreen, workflow: WorkflowFile) -> None:
    """Check the server can, list the workflow's output nodes, queue the ones the user checks."""
    runtime = main.backend.connected_runtime()
    if runtime is None:
        return
    found = await runtime.server_capabilities()
    if not found.get("partial_execution"):
        version = found.get("comfyui_version") or "of unknown version"
        main.notify(
            f"This server (ComfyUI {version}) cannot run selected outputs: that needs ComfyUI 0.3.48 "
            "or newer. r runs the whole workflow.",
            severity="warning",
            timeout=8,
        )
        return
    prompt = await main._prepare_prompt(workflow)
    object_info = main.library.object_info
    if prompt is None or object_info is None:
        return
    choices = output_choices(prompt, object_info)
    if not choices:
        main.notify(f"{workflow.name} has no output node.", severity="warning")
        return

    def chosen(targets: list[str] | None) -> None:
        if targets:
            submit = partial(
                main.submit_prompt,
                prompt,
                name=workflow.name,
                workflow_id=str(workflow.path),
                partial_execution_targets=targets,
            )
            main.backend.run_job(submit, name="_submit_outputs", group="actions")

    main.app.push_screen(RunOutputsScreen(workflow.name, choices), chosen)
