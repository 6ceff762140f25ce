"""The panes of the main screen, each fed by messages from the app.

The execution view and its node rows load on first use: the first frame does not show them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .log_pane import LogPane
from .status_bar import StatusBar
from .task_tree import TaskTree
from .workflow_browser import WorkflowBrowser, WorkflowPreview

if TYPE_CHECKING:
    from .execution_view import ExecutionView
    from .node_progress import NodeProgress, NodeProgressList

_MODULE_OF = {
    "ExecutionView": "execution_view",
    "NodeProgress": "node_progress",
    "NodeProgressList": "node_progress",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ExecutionView",
    "LogPane",
    "NodeProgress",
    "NodeProgressList",
    "StatusBar",
    "TaskTree",
    "WorkflowBrowser",
    "WorkflowPreview",
]
