"""A workflow's inputs as a form, built from the server's /object_info input specs.

Each field is checked with its spec as it is typed (the server's own rules and wording),
so a bad value is refused here with the reason instead of after a round trip. The result
is an API prompt with the edited values, produced by ``workflows.apply_overrides``: the
same code the CLI's ``--set`` uses.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Select, Static, Switch, TextArea

from ...errors import InvalidWorkflowError
from ...safe_text import safe_line, safe_str, safe_text
from ...workflows import EditableInput, ObjectInfo, WorkflowFile, apply_overrides, editable_inputs
from ...workflows.batch import Variant, variants
from ..burst_keys import focus_at_once, moves_focus
from ..widgets.steady_footer import SteadyFooter

SEED_MAX = 0xFFFFFFFFFFFFFFFF


@dataclass
class FormResult:
    """What the person chose to do with the edited prompt."""

    action: str  # "run" | "save_local" | "save_server"
    prompt: dict[str, Any]
    name: str
    variants: list[Variant] = dataclasses.field(default_factory=list)
    """Batch runs (repeat, sweeps): one run per override set; empty: one run as edited."""


def _field_id(item: EditableInput) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in item.key)
    return f"field-{safe}"


class InputField(Vertical):
    """Label, editor and the reason a value is refused, for one input."""

    def __init__(self, item: EditableInput) -> None:
        super().__init__(id=_field_id(item), classes="input-field")
        self.item = item
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        spec = self.item.spec
        with Horizontal(classes="field-row"):
            label = Text(
                safe_str(self.item.name, one_line=True), style="bold", no_wrap=True, overflow="ellipsis"
            )
            yield Static(label, classes="field-label")
            yield self._editor()
            hint = spec.describe()
            if spec.seed_like:
                hint = f"^n random · {hint}"
            yield Static(
                Text(safe_str(hint, one_line=True), style="dim", no_wrap=True, overflow="ellipsis"),
                classes="field-hint",
            )
        yield Static("", classes="field-error hidden")

    def _editor(self) -> Widget:
        spec, value = self.item.spec, self.item.value
        if spec.type == "BOOLEAN":
            return Switch(bool(value), classes="field-editor")
        if spec.type == "COMBO":
            # Server-given choices: Text prompts (OptionList would parse a str as markup).
            choices = [(safe_line(str(choice)), choice) for choice in spec.choices or []]
            known = value in (spec.choices or [])
            return Select(
                choices,
                value=value if known else Select.NULL,
                allow_blank=not known,
                prompt=safe_str(f"⚠ {value}", one_line=True) if not known else "choose…",
                compact=True,
                classes="field-editor",
            )
        if spec.type == "STRING" and spec.multiline:
            area = TextArea(
                str(value if value is not None else ""),
                classes="field-editor multiline",
                soft_wrap=True,
                compact=True,
                show_line_numbers=False,
            )
            return area
        input_type: Literal["integer", "number", "text"] = (
            "integer" if spec.type == "INT" else "number" if spec.type == "FLOAT" else "text"
        )
        return Input(
            str(value if value is not None else ""),
            type=input_type,
            compact=True,
            classes="field-editor",
            select_on_focus=False,
        )

    def on_mount(self) -> None:
        # Values the file already has but the server would refuse show up before anyone edits.
        self.check()

    @property
    def editor(self) -> Widget:
        return self.query_one(".field-editor")

    def raw_value(self) -> Any:
        editor = self.editor
        if isinstance(editor, Switch):
            return editor.value
        if isinstance(editor, Select):
            return None if editor.value is Select.NULL else editor.value
        if isinstance(editor, TextArea):
            return editor.text
        assert isinstance(editor, Input)
        return editor.value

    def changed(self) -> bool:
        value = self.raw_value()
        original = self.item.value
        if isinstance(self.editor, Input) and not isinstance(original, str):
            return str(value).strip() != ("" if original is None else str(original))
        return bool(value != original)

    def check(self) -> str | None:
        """The spec's reason this value would be refused, or None."""
        value = self.raw_value()
        if value is None:
            self.problem = f"{self.item.name}: pick one of the server's choices"
        else:
            try:
                self.item.spec.validate(value)
            except ValueError as exc:
                self.problem = str(exc)
            else:
                self.problem = None
        box = self.query_one(".field-error", Static)
        box.update(safe_text(self.problem or "", "bold red"))
        box.set_class(self.problem is None, "hidden")
        self.set_class(self.problem is not None, "-invalid")
        return self.problem

    def randomize(self) -> None:
        spec = self.item.spec
        upper = int(spec.max) if spec.max is not None else SEED_MAX
        value = random.randint(int(spec.min or 0), min(upper, SEED_MAX))
        editor = self.editor
        if isinstance(editor, Input):
            editor.value = str(value)


class InputFormScreen(Screen[FormResult | None]):
    """Edit, then run, save as a new local workflow, or save to the server."""

    DEFAULT_CSS = """
    InputFormScreen {
        #form-title {
            height: 1;
            background: $panel;
        }
        #form-body {
            height: 1fr;
            padding: 0 1;
            scrollbar-size-vertical: 1;
        }
        #form-unknown {
            margin: 1 0;
        }
        #form-status {
            height: auto;
            max-height: 4;
            padding: 0 1;
        }
        .node-header {
            margin-top: 1;
            border-bottom: solid $panel-lighten-2;
        }
        .input-field {
            height: auto;
            padding-left: 2;
        }
        .field-row {
            height: auto;
        }
        .field-label {
            width: 18;
            height: 1;
        }
        .field-editor {
            width: 1fr;
        }
        .batch-row {
            padding-left: 2;
        }
        .batch-editor {
            width: 1fr;
            background: $boost;
        }
        .field-editor.multiline {
            height: 4;
        }
        .field-hint {
            width: 30;
            height: 1;
            padding-left: 1;
        }
        &.-narrow .field-hint {
            width: 22;
        }
        .field-error {
            padding-left: 18;
            height: auto;
        }
        .input-field.-invalid .field-label {
            color: $error;
        }
        Switch.field-editor {
            border: none;
            height: 1;
            width: auto;
            padding: 0;
        }
        Input.field-editor {
            background: $boost;
        }
    }
    """

    HELP = """\
## Edit inputs

Every value of the workflow that is typed rather than linked, grouped by node.
Values are checked against the server's input specs as you type (min, max,
step, choices); a refused value shows its reason under the field.

- **ctrl+r** run with these values · **ctrl+s** save as a new local workflow
- **ctrl+t** save to the server · **ctrl+n** new random seed · **esc** back
"""

    BINDINGS = [
        Binding("ctrl+r", "submit('run')", "Run", id="form.run"),
        Binding("ctrl+s", "submit('save_local')", "Save as…", id="form.save_local"),
        Binding("ctrl+t", "submit('save_server')", "Save to server", id="form.save_server"),
        Binding("ctrl+n", "randomize", "Random seed", id="form.randomize"),
        Binding("escape", "back", "Back", id="form.back"),
    ]

    def __init__(self, workflow: WorkflowFile, prompt: dict[str, Any], object_info: ObjectInfo) -> None:
        super().__init__()
        self.workflow = workflow
        self.prompt = prompt
        self.object_info = object_info
        self.items = editable_inputs(prompt, object_info)
        self._refused_shown = False
        self.unknown = sorted(
            {
                f"{node.get('class_type')} (node {node_id})"
                for node_id, node in prompt.items()
                if isinstance(node, dict) and node.get("class_type") not in object_info
            }
        )

    def compose(self) -> ComposeResult:
        title = Text()
        title.append(f" Edit inputs · {safe_str(self.workflow.name, one_line=True)} ", style="bold reverse")
        title.append(
            f"  {len(self.items)} values in {len({i.node_id for i in self.items})} nodes", style="dim"
        )
        yield Static(title, id="form-title")
        with VerticalScroll(id="form-body"):
            if self.unknown:
                yield Static(
                    safe_text(
                        "The server does not know these node types; their inputs cannot be edited "
                        "and the run will be refused: " + ", ".join(self.unknown),
                        "bold yellow",
                    ),
                    id="form-unknown",
                )
            if not self.items:
                yield Static(
                    Text("This workflow has no values to edit (every input is linked).", style="dim")
                )
            current: str | None = None
            for item in self.items:
                if item.node_id != current:
                    current = item.node_id
                    header = Text()
                    header.append(f"#{safe_str(item.node_id, one_line=True)} ", style="dim")
                    header.append(safe_str(item.title, one_line=True), style="bold")
                    if item.title != item.class_type:
                        header.append(f"  {safe_str(item.class_type, one_line=True)}", style="dim")
                    yield Static(header, classes="node-header")
                yield InputField(item)
            yield Static(Text("Batch runs", style="bold"), classes="node-header")
            with Horizontal(classes="field-row batch-row"):
                yield Static("Repeat", classes="field-label")
                yield Input("1", id="batch-repeat", type="integer", classes="batch-editor")
                yield Static(Text("runs of each variant", style="dim"), classes="field-hint")
            with Horizontal(classes="field-row batch-row"):
                yield Static("Sweep", classes="field-label")
                yield Input(placeholder="3.seed=random; 3.cfg=6,8", id="batch-sweep", classes="batch-editor")
                yield Static(Text("NODE.INPUT=V1,V2; … (product)", style="dim"), classes="field-hint")
        yield Static("", id="form-status")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        first = self.query(".field-editor").first() if self.items else None
        if first is not None:
            first.focus()

    def fields(self) -> list[InputField]:
        return list(self.query(InputField))

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    @on(TextArea.Changed)
    def _value_changed(self, event: Any) -> None:
        for node in event.control.ancestors:
            if isinstance(node, InputField):
                node.check()
                break
        self._refresh_refused()

    def _refresh_refused(self) -> None:
        """Once a refusal was shown, keep the count current: it clears when every value is corrected."""
        if not self._refused_shown:
            return
        problems = [f.problem for f in self.fields() if f.problem]
        status = self.query_one("#form-status", Static)
        if problems:
            status.update(safe_text(f"{len(problems)} value(s) refused: {problems[0]}", "bold red"))
        else:
            self._refused_shown = False
            status.update("")

    def action_randomize(self) -> None:
        focused = self.focused
        targets = [f for f in self.fields() if f.item.spec.seed_like]
        for field in targets:
            if focused is not None and field in focused.ancestors:
                targets = [field]
                break
        if not targets:
            self.notify("This workflow has no seed input.", severity="warning")
            return
        for field in targets:
            field.randomize()

    def edited_prompt(self) -> dict[str, Any] | None:
        """The prompt with every changed value applied, or None (with the reasons shown) if any is refused."""
        problems = [p for f in self.fields() if (p := f.check())]
        status = self.query_one("#form-status", Static)
        if problems:
            self._refused_shown = True
            status.update(safe_text(f"{len(problems)} value(s) refused: {problems[0]}", "bold red"))
            first_bad = next(f for f in self.fields() if f.problem)
            focus_at_once(first_bad.editor)  # the keys after ctrl+r in a burst go to it
            return None
        overrides = {f.item.key: f.raw_value() for f in self.fields() if f.changed()}
        try:
            return apply_overrides(self.prompt, overrides, self.object_info)
        except InvalidWorkflowError as exc:
            status.update(safe_text(exc, "bold red"))
            return None

    def batch_variants(self) -> list[Variant] | None:
        """The batch asked for (empty: a single run), or None with the reason shown."""
        repeat_text = self.query_one("#batch-repeat", Input).value.strip() or "1"
        sweeps = [
            part.strip() for part in self.query_one("#batch-sweep", Input).value.split(";") if part.strip()
        ]
        try:
            found = variants(sweeps, int(repeat_text))
        except ValueError as exc:
            self.query_one("#form-status", Static).update(Text(f"Batch: {exc}", style="bold red"))
            return None
        return found if len(found) > 1 or sweeps else []

    @moves_focus  # the form closes (save: its callback opens the name prompt), or a bad field takes the focus
    def action_submit(self, action: str) -> None:
        prompt = self.edited_prompt()
        if prompt is None:
            return
        batch = self.batch_variants() if action == "run" else []
        if batch is not None:
            self.dismiss(FormResult(action, prompt, self.workflow.name, batch))

    @moves_focus
    def action_back(self) -> None:
        self.dismiss(None)
