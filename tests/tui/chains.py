"""A long chain execution for the scene app: the nodes before the running one done, the rest waiting."""

from __future__ import annotations

from comfy_reality.runtime import TaskStatus
from tests.tui.scenes import ExecutionSpec, NodeSpec


def running_chain_spec(key: str, name: str, count: int, running: int, value: int) -> ExecutionSpec:
    """``count`` RealityProgress nodes: those before ``running`` done, it at ``value``/4, the rest waiting."""
    nodes = []
    for index in range(1, count + 1):
        if index < running:
            nodes.append(NodeSpec(str(index), "RealityProgress", TaskStatus.COMPLETED, start=0.0, end=0.1))
        elif index == running:
            nodes.append(
                NodeSpec(str(index), "RealityProgress", TaskStatus.RUNNING, start=1.0, value=value, max=4)
            )
        else:
            nodes.append(NodeSpec(str(index), "RealityProgress"))
    return ExecutionSpec(key, name, TaskStatus.RUNNING, created=0.0, start=0.0, nodes=nodes)
