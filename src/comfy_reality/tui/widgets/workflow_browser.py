"""Saved workflows by source (bundled, user, extra dirs, server), a filter, and a preview."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from ...safe_text import safe_str as plain
from ..burst_keys import focus_at_once, moves_focus
from ..format import fuzzy_positions, highlighted
from .filter_field import FilterField
from .kept_lines import KeptLines
from .node_table import NodeTable
from .pane_focus import PaneLitByScreen

if TYPE_CHECKING:
    from ...workflows import WorkflowFile


def _container_kinds(data: dict[str, Any]) -> dict[str, str]:
    """Readable names for node types that stand for other nodes: subgraph ids and group node types."""
    from ...workflows.group_nodes import group_type  # a preview's job: not loaded for the first frame

    kinds: dict[str, str] = {}
    definitions = data.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    for subgraph in subgraphs if isinstance(subgraphs, list) else []:
        if isinstance(subgraph, dict) and isinstance(subgraph.get("id"), str):
            inner = subgraph.get("nodes")
            count = len(inner) if isinstance(inner, list) else 0
            kinds[subgraph["id"]] = f"subgraph {subgraph.get('name') or subgraph['id'][:8]} ({count} nodes)"
    extra = data.get("extra")
    groups = extra.get("groupNodes") if isinstance(extra, dict) else None
    for name, definition in groups.items() if isinstance(groups, dict) else []:
        inner = definition.get("nodes") if isinstance(definition, dict) else None
        count = len(inner) if isinstance(inner, list) else 0
        kinds[group_type(str(name))] = f"group node {name} ({count} nodes)"
    return kinds


def workflow_nodes(data: Any) -> list[tuple[str, str, str | None]]:
    """(node id, class_type, title) for an API prompt or a UI workflow, in id order."""
    rows: list[tuple[str, str, str | None]] = []
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        from ...workflows.group_nodes import modernize_type

        kinds = _container_kinds(data)
        for node in data["nodes"]:
            if isinstance(node, dict):
                node_type = str(node.get("type", "?"))
                rows.append(
                    (str(node.get("id")), kinds.get(modernize_type(node_type), node_type), node.get("title"))
                )
    elif isinstance(data, dict):
        inner = data.get("prompt")
        prompt: dict[str, Any] = inner if isinstance(inner, dict) else data
        for node_id, node in prompt.items():
            if isinstance(node, dict):
                raw_meta = node.get("_meta")
                meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
                rows.append((str(node_id), str(node.get("class_type", "?")), meta.get("title")))

    def key(row: tuple[str, str, str | None]) -> tuple[int, str]:
        node_id = row[0]
        # isascii: "²".isdigit() is true but int("²") fails (a hostile id must not crash the preview).
        return (int(node_id), "") if node_id.isascii() and node_id.isdigit() else (1 << 30, node_id)

    return sorted(rows, key=key)


def matches(workflow: WorkflowFile, query: str) -> bool:
    """Every word is in the name, description, source, file name or node types; or the name matches fuzzily."""
    if not query:
        return True
    if fuzzy_positions(query, workflow.name) is not None:
        return True
    haystack = " ".join(
        [
            workflow.name,
            workflow.description or "",
            workflow.source,
            workflow.path.name,
            *workflow.class_types,
        ]
    ).lower()
    return all(word in haystack for word in query.lower().split())


def option_prompt(workflow: WorkflowFile, query: str = "") -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    name = plain(workflow.name, one_line=True)
    positions = fuzzy_positions(query, name) if query else None
    if workflow.error:
        text.append("✗ ", style="bold red")
        text.append_text(highlighted(name, positions, "red"))
        text.append("  invalid", style="dim red")
        return text
    if workflow.missing_node_types:
        text.append("! ", style="bold yellow")
    text.append_text(highlighted(name, positions))
    from ...workflows.formats import WorkflowFormat  # with the first listed workflow, not the first frame

    fmt_label = "API" if workflow.format is WorkflowFormat.API else "UI"
    text.append(f"  {workflow.node_count} nodes · {fmt_label}", style="dim")
    return text


class WorkflowList(OptionList):
    """The list itself; the browser owns the filter and the data."""

    # j/k and g/G as in the other lists; / is the screen's filter (it knows which list has focus).
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="workflows.down"),
        Binding("k", "cursor_up", "Up", show=False, id="workflows.up"),
        Binding("g", "first", "First", show=False, id="workflows.first"),
        Binding("G", "last", "Last", show=False, id="workflows.last"),
    ]


class WorkflowBrowser(Vertical):
    HELP = """\
## Workflows

Saved workflows, one section per source: bundled with the app, your
workflow folder, extra --workflows folders, and workflows saved on the
server. Broken files are listed with their error.

- **/** filter: words, or letters in order ("tui" finds txt2img-ui); matched letters light up
  (**esc** clears and keeps the chosen workflow, **enter** goes back to the list)
- **j/k** or **↑/↓** move, **g/G** first/last
- **r** run the highlighted workflow · **e** edit its inputs first
"""

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False, id="workflows.clear_filter")]

    DEFAULT_CSS = """
    WorkflowBrowser {
        #workflow-filter {
            border: none;
            height: 1;
            padding: 0 1;
            background: $boost;
        }
        #workflow-filter:focus {
            background: $accent 20%;
        }
        #workflow-list {
            border: none;
            height: 1fr;
            background: $surface;
            padding: 0;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        #workflow-list:focus {
            border: none;
        }
    }
    """

    class WorkflowHighlighted(Message):
        """The cursor moved onto a workflow (or the list emptied)."""

        def __init__(self, workflow: WorkflowFile | None) -> None:
            super().__init__()
            self.workflow = workflow

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, WorkflowBrowser.WorkflowHighlighted)

    def __init__(self, source_titles: dict[str, str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source_titles = source_titles
        self.files: list[WorkflowFile] = []
        self.server_note: str | None = None
        self._shown: list[WorkflowFile] = []
        self.filter_input = FilterField(
            lambda: self.option_list,
            hides=True,
            clears=True,
            placeholder="filter workflows…",
            id="workflow-filter",
            follow=self._follow_filter,
        )
        """Mounted by the first / (an Input costs the first frame its styling and a restyle after it)."""

    def compose(self) -> ComposeResult:
        # The first frame is drawn before the folders are read: say so rather than show an empty list.
        reading = Text("Reading the workflow folders…", style="dim italic", no_wrap=True, overflow="ellipsis")
        yield WorkflowList(Option(reading, disabled=True), id="workflow-list")

    @property
    def option_list(self) -> WorkflowList:
        return self.query_one(WorkflowList)

    @property
    def highlighted(self) -> WorkflowFile | None:
        index = self.option_list.highlighted
        if index is None:
            return None
        option_id = self.option_list.get_option_at_index(index).id
        if option_id is None or not option_id.startswith("wf-"):
            return None
        return self._shown[int(option_id[3:])]

    def highlight(self, name: str, source: str | None = None) -> WorkflowFile | None:
        """Move the cursor to a workflow by name (palette, tests); clears a filter that hides it."""
        for attempt in range(2):
            for index, wf in enumerate(self._shown):
                if wf.name == name and (source is None or wf.source == source):
                    self.option_list.highlighted = self.option_list.get_option_index(f"wf-{index}")
                    return wf
            if attempt == 0 and self.filter_input.value:
                self.action_clear_filter()
        return None

    def set_files(self, files: list[WorkflowFile], server_note: str | None = None) -> None:
        current = self.highlighted
        self.files = files
        self.server_note = server_note
        self._rebuild(keep=current.path if current else None)

    async def start_filter(self) -> None:
        """Show the filter and focus it before returning: the rest of a burst of keys is typed there."""
        if self.filter_input.parent is None:
            await self.mount(self.filter_input, before=self.option_list)
        self.filter_input.remove_class("hidden")
        focus_at_once(self.filter_input)

    @moves_focus
    def action_clear_filter(self) -> None:
        if self.filter_input.parent is not None:
            self.filter_input.value = ""
            self.filter_input.add_class("hidden")
        focus_at_once(self.option_list)

    @on(Input.Changed, "#workflow-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()  # the rows followed the value as it changed (_follow_filter)

    def _follow_filter(self, value: str) -> None:
        # Typing goes to the best match; clearing (esc) keeps the workflow the person chose.
        current = self.highlighted
        self._rebuild(keep=current.path if current is not None and not value else None)

    def _rebuild(self, keep: Any) -> None:
        query = self.filter_input.value.strip()
        option_list = self.option_list
        option_list.clear_options()
        self._shown = [wf for wf in self.files if matches(wf, query)]
        options: list[Option | None] = []
        order = list(self.source_titles)
        by_source: dict[str, list[int]] = {}
        for index, wf in enumerate(self._shown):
            by_source.setdefault(wf.source, []).append(index)
        for source in [*order, *(s for s in by_source if s not in order)]:
            indexes = by_source.get(source, [])
            title = self.source_titles.get(source, source)
            note = self.server_note if source == "server" else None
            if not indexes and not (note and not query):
                continue
            header = Text(no_wrap=True, overflow="ellipsis")
            header.append(plain(title, one_line=True), style="bold")
            header.append(f"  {len(indexes)}", style="dim")
            options.append(Option(header, id=f"src-{source}", disabled=True))
            if note and not query:
                options.append(
                    Option(
                        Text(
                            f"  {plain(note, one_line=True)}",
                            style="dim italic",
                            no_wrap=True,
                            overflow="ellipsis",
                        ),
                        disabled=True,
                    )
                )
            options.extend(Option(option_prompt(self._shown[i], query), id=f"wf-{i}") for i in indexes)
        if not options:
            message = plain(
                f"No workflow matches {query!r}" if query else "No workflows found", one_line=True
            )
            options.append(Option(Text(message, style="dim italic"), disabled=True))
        option_list.add_options(options)
        target = 0
        for i, wf in enumerate(self._shown):
            if keep is not None and wf.path == keep:
                target = i
                break
        if self._shown:
            option_list.highlighted = option_list.get_option_index(f"wf-{target}")
        self.post_message(self.WorkflowHighlighted(self.highlighted))

    @on(OptionList.OptionHighlighted, "#workflow-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.post_message(self.WorkflowHighlighted(self.highlighted))

    @on(OptionList.OptionSelected, "#workflow-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.WorkflowHighlighted(self.highlighted))


class WorkflowPreview(VerticalScroll, PaneLitByScreen):
    """What the highlighted workflow is: where it lives, what it does, which nodes it has."""

    HELP = """\
## Workflow preview

The highlighted workflow's file, format, description and nodes.
**r** runs it, **e** opens its inputs as a form.
"""

    def __init__(self, source_titles: dict[str, str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source_titles = source_titles
        self._shown: tuple[WorkflowFile | None, object, dict[str, str]] | None = None

    def compose(self) -> ComposeResult:
        yield KeptLines(id="preview-body")

    def show(self, workflow: WorkflowFile | None, nodes: list[tuple[str, str, str | None]] | None) -> None:
        # Going back to the Workflows pane re-shows the same workflow: no table of every node rebuilt.
        last = self._shown
        if last is not None and last[0] is workflow and last[1] is nodes and last[2] == self.source_titles:
            return
        self._shown = (workflow, nodes, dict(self.source_titles))
        body = self.query_one("#preview-body", KeptLines)
        if workflow is None:
            body.update(Text("No workflow highlighted.", style="dim"))
            return
        text = Text()
        text.append(plain(workflow.name, one_line=True), style="bold")
        fmt_label = {"api": "API prompt", "ui": "UI workflow (converted before running)"}.get(
            workflow.format.value, "invalid"
        )
        text.append(f"\n{fmt_label} · {workflow.node_count} nodes", style="dim")
        text.append(
            plain(f"\n{self.source_titles.get(workflow.source, workflow.source)} · {workflow.path.name}"),
            style="dim",
        )
        if workflow.error:
            text.append("\n\nThis file cannot be run:\n", style="bold red")
            text.append(plain(workflow.error), style="red")
            body.update(text)
            return
        if workflow.missing_node_types:
            text.append("\n\nThe server does not have these node types:\n", style="bold yellow")
            text.append(
                "\n".join(f"  {plain(name, one_line=True)}" for name in workflow.missing_node_types),
                style="yellow",
            )
        if workflow.description:
            text.append(f"\n\n{plain(workflow.description)}")
        if nodes is None:
            body.update(text)
            return
        body.update(Group(text, Text(""), NodeTable(nodes)))
