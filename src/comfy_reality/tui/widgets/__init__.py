"""The panes of the main screen, each fed by messages from the app.

The execution view and its node rows load on first use: the first frame does not show them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from comfy_reality.lazy_exports import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _MODULE_OF, globals())


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
