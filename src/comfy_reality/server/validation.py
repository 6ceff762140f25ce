"""POST /prompt's validation: ComfyUI's rules (``comfy_reality.validation``) plus what only a server does.

Only here: the server's traceback lines in exception errors (clients may display them), the
converted values written back into the prompt that then runs, the LoadImage nodes' own check of
the input file, ``partial_execution_targets``, and a prompt that is not an object failing the way
Python fails on it (a 500).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from comfy_reality.server.catalogue import NodeCatalogue
from comfy_reality.validation import (
    ErrorDict,
    LinkFault,
    LinkStep,
    NodeValidator,
    check_prompt,
    full_type_name,
    types_match,
)
from comfy_reality.validation.errors import custom_validation_failed

__all__ = ["ServerNodeValidator", "ValidationResult", "Validator", "full_type_name", "types_match"]

# Frames of the real server's traceback for the faults a client can cause, as its answers carry them.
_FRAME_VALIDATE = (
    '  File "/opt/ComfyUI/execution.py", line 808, in validate_inputs\n'
    "    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
_FRAME_PROMPT = (
    '  File "/opt/ComfyUI/execution.py", line 1024, in validate_prompt\n'
    "    m = await validate_inputs(prompt_id, prompt, o, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
_FRAMES: dict[LinkStep, str] = {
    LinkStep.RECURSE: _FRAME_VALIDATE,
    LinkStep.LOOKUP: (
        '  File "/opt/ComfyUI/execution.py", line 788, in validate_inputs\n'
        "    o_class_type = prompt[o_id]['class_type']\n"
        "                   ~~~~~~^^^^^^\n"
    ),
    LinkStep.INDEX: (
        '  File "/opt/ComfyUI/execution.py", line 790, in validate_inputs\n'
        "    received_type = r[val[1]]\n"
        "                    ~^^^^^^^^\n"
    ),
    LinkStep.INPUTS: (
        '  File "/opt/ComfyUI/execution.py", line 731, in validate_inputs\n'
        "    inputs = prompt[unique_id]['inputs']\n"
        "             ~~~~~~~~~~~~~~~~~^^^^^^^^^^\n"
    ),
}

# The nodes with a VALIDATE_INPUTS of their own that this server simulates, and what they check.
_IMAGE_LOADERS = frozenset({"LoadImage", "LoadImageMask"})
_INPUT_SUFFIX = " [input]"


@dataclass
class ValidationResult:
    """The answer to POST /prompt: queued (``ok``) with its good outputs, or ``error``."""

    ok: bool
    error: dict[str, Any] | None
    good_outputs: list[str]
    node_errors: dict[str, Any] = field(default_factory=dict)


class ServerNodeValidator(NodeValidator):
    """The node rules with the server's tracebacks, written-back values and LoadImage's own check."""

    def __init__(self, prompt: dict[str, Any], catalogue: NodeCatalogue) -> None:
        super().__init__(prompt, catalogue, write_back=True)
        self.catalogue = catalogue

    def traceback(self, caller: Literal["prompt", "node"], fault: LinkFault) -> list[str]:
        outer = _FRAME_PROMPT if caller == "prompt" else _FRAME_VALIDATE
        return [outer, _FRAMES[fault.step]]

    def custom_validated_inputs(self, class_type: str) -> frozenset[str]:
        return frozenset({"image"}) if class_type in _IMAGE_LOADERS else frozenset()

    def extra_errors(self, node_id: str, class_type: str, inputs: dict[str, Any]) -> list[ErrorDict]:
        if class_type not in _IMAGE_LOADERS:
            return []
        image = inputs.get("image")
        if isinstance(image, list) or self._is_input_file(str(image)):
            return []
        return [custom_validation_failed("image", f"image - Invalid image file: {image}")]

    def _is_input_file(self, name: str) -> bool:
        name = name.removesuffix(_INPUT_SUFFIX)
        if "/" in name or ".." in name:
            return False
        return (self.catalogue.input_dir / name).is_file()


class Validator:
    """Validates the prompts posted to this server against its catalogue."""

    def __init__(self, catalogue: NodeCatalogue) -> None:
        self.catalogue = catalogue

    def validate_prompt(self, prompt: Any, partial_targets: list[str] | None = None) -> ValidationResult:
        if not isinstance(prompt, dict):
            prompt = _as_node_mapping(prompt)
        verdict = check_prompt(
            prompt,
            self.catalogue,
            lambda p: ServerNodeValidator(p, self.catalogue),
            partial_targets=partial_targets,
        )
        return ValidationResult(verdict.accepted, verdict.error, verdict.good_outputs, verdict.node_errors)


def _as_node_mapping(prompt: Any) -> dict[str, Any]:
    """ComfyUI indexes the prompt by node id: an empty list or string has no nodes (and so no
    outputs); anything else raises the TypeError Python raises, which the client sees as a 500."""
    if isinstance(prompt, list | str) and not prompt:
        return {}
    raise TypeError(f"{type(prompt).__name__} indices must be integers or slices, not str")
