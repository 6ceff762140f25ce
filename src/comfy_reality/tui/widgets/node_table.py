"""The workflow preview's node table: the node column as wide as its names, the titles the rest.

Rich shares a table's spare width by the columns' ratios, whatever their content: with ``node``
at ratio 2 and ``title`` at 1, titles were cut ("Convert Image to M…") beside a node column with
twenty empty cells. The widths are set here for the width the table is drawn at, so a resize
shares the columns again.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table

from ...safe_text import safe_line

ID_WIDTH = 5
GAPS = 4
"""The cells between the three columns (one cell of padding each side of a column, none at the edges)."""


def node_column_width(available: int, node_need: int, title_need: int) -> int:
    """The node column's width out of ``available`` cells for node and title: all it needs when both
    fit; else at least half (a node type says what the node does), more when the titles are short."""
    if node_need + title_need <= available:
        return node_need
    return max(1, min(node_need, max(available // 2, available - title_need)))


class NodeTable:
    """(id, node, title) rows as a table fitted to the width it is drawn at; no title column when no
    node has a title of its own."""

    def __init__(self, nodes: list[tuple[str, str, str | None]]) -> None:
        # Text cells: a node titled "[/]" is a title, not markup.
        self.rows = [
            (
                safe_line(node_id),
                safe_line(class_type),
                safe_line(title if title and title != class_type else ""),
            )
            for node_id, class_type, title in nodes
        ]
        self.titled = any(title.plain for _, _, title in self.rows)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=True)
        table.add_column("id", no_wrap=True, style="dim", width=ID_WIDTH)
        if not self.titled:
            table.add_column("node", no_wrap=True, overflow="ellipsis", ratio=1)
            for node_id, node, _ in self.rows:
                table.add_row(node_id, node)
            yield table
            return
        node_need = max([len("node"), *(node.cell_len for _, node, _ in self.rows)])
        title_need = max([len("title"), *(title.cell_len for _, _, title in self.rows)])
        available = options.max_width - ID_WIDTH - GAPS
        width = node_column_width(available, node_need, title_need)
        table.add_column("node", no_wrap=True, overflow="ellipsis", width=width)
        table.add_column("title", no_wrap=True, overflow="ellipsis", ratio=1, style="dim")
        for row in self.rows:
            table.add_row(*row)
        yield table


__all__ = ["NodeTable", "node_column_width"]
