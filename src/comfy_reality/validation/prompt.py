"""The whole-prompt rules: ComfyUI's validate_prompt, in three named steps.

1. ``find_outputs``: every node has a known class_type; the output nodes are the targets.
2. ``walk_outputs``: each output validated with its upstream nodes; an output is good when
   its whole upstream graph is.
3. the verdict: accepted when at least one output is good (only those run); the nodes that
   failed are listed once each in ``node_errors`` with the outputs they broke.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .errors import ErrorDict
from .nodes import LinkFault, LinkStep, NodeTypes, NodeValidator

# Graphs larger than this are validated upstream-first, to bound the recursion depth.
DEEP_GRAPH = 200


@dataclass
class PromptVerdict:
    """What the server answers: ``error`` (None when it queues the prompt) and ``node_errors``."""

    error: ErrorDict | None
    node_errors: dict[str, Any] = field(default_factory=dict)
    good_outputs: list[str] = field(default_factory=list)
    # Every unknown node type with the nodes using it (only filled when asked to list them all).
    unknown_class_types: dict[str, list[str]] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.error is None


@dataclass
class OutputScan:
    """Step 1's finding: the output nodes, or the error that stops validation before any node check."""

    outputs: list[str] = field(default_factory=list)
    error: ErrorDict | None = None
    unknown_class_types: dict[str, list[str]] = field(default_factory=dict)


def find_outputs(
    prompt: Mapping[str, Any],
    types: NodeTypes,
    *,
    partial_targets: Collection[str] | None = None,
    list_all_unknown: bool = False,
) -> OutputScan:
    """The prompt's output nodes (limited to ``partial_targets`` when given).

    The server stops at the first unknown node type; ``list_all_unknown`` goes on and lists them all
    (the error stays the first one's).
    """
    scan = OutputScan()
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return OutputScan(error=errors.missing_class_type(node_id))
        class_type = node["class_type"]
        if not types.has(class_type):
            scan.unknown_class_types.setdefault(str(class_type), []).append(node_id)
            if scan.error is None:
                scan.error = errors.unknown_class_type(node_id, class_type)
            if not list_all_unknown:
                break
            continue
        if types.is_output_node(class_type) and (partial_targets is None or node_id in partial_targets):
            scan.outputs.append(node_id)
    if scan.error is not None:
        return OutputScan(error=scan.error, unknown_class_types=scan.unknown_class_types)
    if not scan.outputs:
        return OutputScan(error=errors.no_outputs())
    return scan


def walk_outputs(prompt: Mapping[str, Any], validator: NodeValidator, outputs: list[str]) -> PromptVerdict:
    """Validate each output with its upstream graph and gather the verdict."""
    node_errors: dict[str, Any] = {}
    good: set[str] = set()
    output_reasons: list[ErrorDict] = []
    # ComfyUI walks the outputs in a Python set's order, which varies per process. Walking them
    # last-to-first reproduces the answers a real ComfyUI gave (which consumer of a broken node reports it,
    # the order of dependent_outputs); any order is equally valid.
    for output in reversed(outputs):
        valid, reasons = _validate_output(prompt, validator, output)
        if valid:
            good.add(output)
            continue
        output_reasons.extend(reasons)
        _record_node_errors(prompt, validator, output, node_errors)
    error = None if good else errors.outputs_failed(output_reasons)
    return PromptVerdict(error, node_errors, [o for o in outputs if o in good])


def _validate_output(
    prompt: Mapping[str, Any], validator: NodeValidator, output: str
) -> tuple[bool, list[ErrorDict]]:
    if len(prompt) > DEEP_GRAPH:
        validator.validate_upstream_first(output)
    try:
        valid, reasons, _ = validator.validate_node(output)
    except RecursionError as exc:  # a very long cycle: report it like the server's own overflow
        return _output_fault(validator, output, LinkFault(exc, LinkStep.RECURSE))
    except LinkFault as fault:
        return _output_fault(validator, output, fault)
    return valid, reasons


def _output_fault(validator: NodeValidator, output: str, fault: LinkFault) -> tuple[bool, list[ErrorDict]]:
    reasons = [errors.exception_during_validation(fault.original, validator.traceback("prompt", fault))]
    validator.validated[output] = (False, reasons, output)
    return False, reasons


def _record_node_errors(
    prompt: Mapping[str, Any], validator: NodeValidator, output: str, node_errors: dict[str, Any]
) -> None:
    """After a failed output: each node with reasons, once, with the failed outputs appended.

    Nodes invalid only because of an upstream node carry no reasons and are left out, as the server does.
    """
    for node_id, (valid, reasons, _) in validator.validated.items():
        if valid or not reasons:
            continue
        entry = node_errors.setdefault(
            node_id, {"errors": reasons, "dependent_outputs": [], "class_type": prompt[node_id]["class_type"]}
        )
        if output not in entry["dependent_outputs"]:
            entry["dependent_outputs"].append(output)


def check_prompt(
    prompt: dict[str, Any],
    types: NodeTypes,
    make_validator: Callable[[dict[str, Any]], NodeValidator],
    *,
    partial_targets: Collection[str] | None = None,
    list_all_unknown: bool = False,
) -> PromptVerdict:
    """ComfyUI's validate_prompt over an API prompt (a dict of node id -> node)."""
    scan = find_outputs(prompt, types, partial_targets=partial_targets, list_all_unknown=list_all_unknown)
    if scan.error is not None:
        return PromptVerdict(scan.error, unknown_class_types=scan.unknown_class_types)
    return walk_outputs(prompt, make_validator(prompt), scan.outputs)
