"""The panes of the main screen, each fed by messages from the app."""

from .execution_view import ExecutionView
from .log_pane import LogPane
from .node_progress import NodeProgress, NodeProgressList
from .status_bar import StatusBar
from .task_tree import TaskTree
from .workflow_browser import WorkflowBrowser, WorkflowPreview

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
