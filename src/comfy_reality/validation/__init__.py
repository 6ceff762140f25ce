"""ComfyUI's prompt validation rules, once: used by the embedded server and by local validation.

Pure functions over JSON values (no HTTP, no UI). ``specs`` parses /object_info input specs,
``coerce`` converts and compares values as the server does, ``errors`` builds the server's error
dicts, ``nodes`` checks one node's inputs and ``prompt`` a whole prompt. A caller adds only what is
its own through ``NodeValidator``'s hooks (the server: tracebacks and nodes' own checks; local
validation: cycles reported per node).
"""

from __future__ import annotations

from .coerce import coerce_like_server, types_match
from .errors import ErrorDict, full_type_name
from .nodes import LinkFault, LinkStep, NodeTypes, NodeValidator, NodeVerdict
from .prompt import DEEP_GRAPH, OutputScan, PromptVerdict, check_prompt, find_outputs, walk_outputs
from .specs import (
    SEED_INPUT_NAMES,
    WIDGET_TYPES,
    InputSpec,
    choice_list_text,
    input_config,
    parse_input_spec,
    parse_node_inputs,
)

__all__ = [
    "DEEP_GRAPH",
    "SEED_INPUT_NAMES",
    "WIDGET_TYPES",
    "ErrorDict",
    "InputSpec",
    "LinkFault",
    "LinkStep",
    "NodeTypes",
    "NodeValidator",
    "NodeVerdict",
    "OutputScan",
    "PromptVerdict",
    "check_prompt",
    "choice_list_text",
    "coerce_like_server",
    "find_outputs",
    "full_type_name",
    "input_config",
    "parse_input_spec",
    "parse_node_inputs",
    "types_match",
    "walk_outputs",
]
