"""The one place an execution's task tree is built: a WORKFLOW task and one NODE task per node.

Every task of the tree names its execution (``Task.execution_id``) and the execution names its
tree (``workflow_task_id``, ``tasks``), so nothing downstream joins them by metadata keys.
"""

from __future__ import annotations

from .manager import AsyncTaskManager
from .models import Task, TaskType, WorkflowExecution, construct_task, new_id
from .prompt import natural_key


def build_task_tree(execution: WorkflowExecution) -> tuple[Task, list[Task]]:
    """The workflow task and the node tasks (in natural node order) of ``execution``, linked both ways.

    Node names are the node's title when the prompt carries one (``_meta.title``), else its
    class type, followed by its id (``"KSampler #3"``): ids alone tell a user nothing.
    """
    # Every value below is already of its field's type (the execution is a validated model, node
    # ids are its prompt's str keys): the tasks are built without validating them again.
    workflow_id = new_id("workflow")
    workflow = construct_task(
        {
            "id": workflow_id,
            "type": TaskType.WORKFLOW,
            "name": execution.name or execution.workflow_id,
            "prompt_id": execution.prompt_id,
            "execution_id": execution.id,
            "metadata": {
                "workflow_id": execution.workflow_id,
                "server_url": execution.server_url,
                "client_id": execution.client_id,
            },
        }
    )
    nodes: list[Task] = []
    prompt = execution.prompt
    for node_id in sorted(prompt, key=natural_key):
        node = prompt[node_id]
        class_type = str(node.get("class_type", "?")) if isinstance(node, dict) else "?"
        meta = node.get("_meta") if isinstance(node, dict) else None
        title = meta.get("title") if isinstance(meta, dict) and isinstance(meta.get("title"), str) else None
        nodes.append(
            construct_task(
                {
                    "id": new_id("node"),
                    "type": TaskType.NODE,
                    "name": f"{title or class_type} #{node_id}",
                    "parent_id": workflow_id,
                    "node_id": str(node_id),
                    "class_type": class_type,
                    "prompt_id": execution.prompt_id,
                    "execution_id": execution.id,
                }
            )
        )
    execution.workflow_task_id = workflow.id
    execution.tasks = nodes  # the node tasks; the workflow task is reached by workflow_task_id
    return workflow, nodes


def add_task_tree(manager: AsyncTaskManager, execution: WorkflowExecution) -> tuple[Task, list[Task]]:
    """Build the tree of ``execution`` and register it with ``manager`` (one ``created`` event each)."""
    workflow, nodes = build_task_tree(execution)
    manager.add_task(workflow)
    for task in nodes:
        manager.add_task(task)
    return workflow, nodes
