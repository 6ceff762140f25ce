"""The per-node rules: ComfyUI's validate_inputs, one named step per rule.

A node is checked input by input (missing, link shape, linked type, conversion, range, choice);
a linked node is checked first, depth-first, and a failure upstream marks the node invalid
without repeating the reason. An exception while following a link (missing node, bad output
index) is raised as a ``LinkFault`` and reported one level up, keyed under the linked node and
described with the consumer's input, which is where the server reports it.

The server and local validation differ only through the hooks of ``NodeValidator``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from . import errors
from .coerce import COMBO, coerce_like_server, in_choices, less_than, types_match, unwrap_value
from .errors import ErrorDict
from .specs import InputSpec, input_config

# (valid, reasons, node id): the server's own triple. Invalid with no reasons means "an upstream
# node failed"; such nodes are left out of node_errors.
NodeVerdict = tuple[bool, list[ErrorDict], str]


class NodeTypes(Protocol):
    """What validation needs to know of a node catalogue."""

    def has(self, class_type: Any) -> bool: ...

    def is_output_node(self, class_type: str) -> bool: ...

    def input_specs(self, class_type: str) -> list[InputSpec]: ...

    def output_types(self, class_type: str) -> Sequence[Any]: ...


class LinkStep(enum.Enum):
    """The statement of the server's validate_inputs that raised (the server prints its frame)."""

    INPUTS = "inputs = prompt[unique_id]['inputs']"
    LOOKUP = "o_class_type = prompt[o_id]['class_type']"
    INDEX = "received_type = r[val[1]]"
    RECURSE = "r = await validate_inputs(prompt_id, prompt, o_id, validated)"


class LinkFault(Exception):
    """An exception raised while validating a node, remembering which step raised it."""

    def __init__(self, original: BaseException, step: LinkStep) -> None:
        super().__init__(str(original))
        self.original = original
        self.step = step


class NodeValidator:
    """Validates the nodes of one prompt, remembering each node's verdict (``validated``)."""

    def __init__(self, prompt: dict[str, Any], types: NodeTypes, *, write_back: bool = False) -> None:
        self.prompt = prompt
        self.types = types
        # The server stores the converted values in the prompt it then runs; a local check must not.
        self.write_back = write_back
        self.validated: dict[str, NodeVerdict] = {}
        self._visiting: set[str] = set()

    # -- hooks (what differs between the server and local validation) -------------------------
    def revisit(self, node_id: str) -> NodeVerdict:
        """A node reached again while its own inputs are checked: a dependency cycle.

        The server recurses until Python gives up; this reports it the way that surfaces.
        """
        raise LinkFault(RecursionError("maximum recursion depth exceeded"), LinkStep.RECURSE)

    def custom_validated_inputs(self, class_type: str) -> frozenset[str]:
        """Inputs the node checks itself (VALIDATE_INPUTS): no range or choice check for them."""
        return frozenset()

    def extra_errors(self, node_id: str, class_type: str, inputs: dict[str, Any]) -> list[ErrorDict]:
        """Errors found after the input rules (a node's own checks)."""
        return []

    def traceback(self, caller: Literal["prompt", "node"], fault: LinkFault) -> list[str]:
        """The traceback lines sent with an exception error; none by default."""
        return []

    # -- the walk ------------------------------------------------------------------------------
    def validate_node(self, node_id: str) -> NodeVerdict:
        """The node's verdict, validating its upstream nodes first (memoised)."""
        if node_id in self.validated:
            return self.validated[node_id]
        if node_id in self._visiting:
            return self.revisit(node_id)
        self._visiting.add(node_id)
        try:
            return self._check_node(node_id)
        finally:
            self._visiting.discard(node_id)

    def validate_upstream_first(self, output: str) -> None:
        """Validate an output's upstream nodes deepest first, so that the recursive check of the
        output never nests deeper than one level (a 500-node chain overflowed Python's stack)."""
        for node_id in self._upstream_order(output):
            if node_id in self.validated:
                continue
            try:
                self.validate_node(node_id)
            except LinkFault:
                pass  # the output's own walk meets the same fault and reports it in place

    def _upstream_order(self, output: str) -> list[str]:
        """The output's upstream nodes in post-order (sources first), without the output itself."""
        order: list[str] = []
        seen: set[str] = {output}
        stack: list[tuple[str, bool]] = [(output, False)]
        while stack:
            node_id, expanded = stack.pop()
            if expanded:
                order.append(node_id)
                continue
            stack.append((node_id, True))
            node = self.prompt.get(node_id)
            inputs = node.get("inputs") if isinstance(node, dict) else None
            if not isinstance(inputs, dict):
                continue
            for value in inputs.values():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    upstream = value[0]
                    if upstream not in seen and isinstance(self.prompt.get(upstream), dict):
                        seen.add(upstream)
                        stack.append((upstream, False))
        return order[:-1]

    def _check_node(self, node_id: str) -> NodeVerdict:
        inputs = self._node_inputs(node_id)
        class_type = self.prompt[node_id]["class_type"]
        custom = self.custom_validated_inputs(class_type)
        found: list[ErrorDict] = []
        upstream_ok = True
        for spec in self.types.input_specs(class_type):
            if spec.name not in inputs:
                if spec.required:
                    found.append(errors.required_input_missing(spec.name))
                continue
            value = inputs[spec.name]
            if isinstance(value, list):
                error, linked_ok = self._check_link(spec, value)
                upstream_ok = upstream_ok and linked_ok
            else:
                error = self._check_value(spec, inputs, ranged=spec.name not in custom)
            if error is not None:
                found.append(error)
        found.extend(self.extra_errors(node_id, class_type, inputs))
        return self._settle(node_id, found, upstream_ok)

    def _node_inputs(self, node_id: str) -> dict[str, Any]:
        try:
            inputs = self.prompt[node_id]["inputs"]
        except (KeyError, TypeError, IndexError) as exc:
            raise LinkFault(exc, LinkStep.INPUTS) from exc
        if not isinstance(inputs, dict):
            raise LinkFault(
                TypeError(f"argument of type '{type(inputs).__name__}' is not iterable"), LinkStep.INPUTS
            )
        return inputs

    def _settle(self, node_id: str, found: list[ErrorDict], upstream_ok: bool) -> NodeVerdict:
        earlier = self.validated.get(node_id)
        if earlier is not None and earlier[1] and not found:
            # A cycle led back here and a nested frame already recorded why: keep that reason.
            return earlier
        verdict = (False, found, node_id) if found or not upstream_ok else (True, [], node_id)
        self.validated[node_id] = verdict
        return verdict

    # -- links ---------------------------------------------------------------------------------
    def _check_link(self, spec: InputSpec, link: list[Any]) -> tuple[ErrorDict | None, bool]:
        """A linked input: its shape, the linked output's type, then the linked node itself.

        Returns the input's own error, if any, and whether the linked node is valid.
        """
        if len(link) != 2:
            return errors.bad_linked_input(spec, link), True
        received = self._received_type(link)
        wanted = input_config(spec)[0] if spec.type == COMBO else spec.type
        if not types_match(received, wanted):
            return errors.return_type_mismatch(spec, received, wanted, link), True
        return None, self._linked_node_valid(spec, link)

    def _received_type(self, link: list[Any]) -> Any:
        """The type of the linked output, with the server's lookups (and their exceptions)."""
        try:
            source_class = self.prompt[link[0]]["class_type"]
        except (KeyError, TypeError) as exc:
            raise LinkFault(exc, LinkStep.LOOKUP) from exc
        try:
            return tuple(self.types.output_types(source_class))[link[1]]
        except (IndexError, TypeError) as exc:
            raise LinkFault(exc, LinkStep.INDEX) from exc

    def _linked_node_valid(self, spec: InputSpec, link: list[Any]) -> bool:
        source: str = link[0]
        try:
            return self.validate_node(source)[0]
        except LinkFault as fault:
            reason = errors.exception_during_inner_validation(
                spec, link, fault.original, self.traceback("node", fault)
            )
            self.validated[source] = (False, [reason], source)
            return False

    # -- values --------------------------------------------------------------------------------
    def _check_value(self, spec: InputSpec, inputs: dict[str, Any], *, ranged: bool) -> ErrorDict | None:
        """A widget value: converted to the input's type, then held to its range and choices."""
        name = spec.name
        value = unwrap_value(inputs[name])
        if self.write_back:
            inputs[name] = value
        try:
            value = coerce_like_server(spec.type, value)
        except Exception as exc:  # whatever int()/float() raise, with Python's message
            return errors.invalid_input_type(spec, value, exc)
        if self.write_back:
            inputs[name] = value
        if not ranged:
            return None
        return self._range_error(spec, value) or self._choice_error(spec, value)

    @staticmethod
    def _range_error(spec: InputSpec, value: Any) -> ErrorDict | None:
        options = spec.options
        if "min" in options and less_than(value, options["min"]):
            return errors.value_smaller_than_min(spec, value, options["min"])
        if "max" in options and less_than(options["max"], value):
            return errors.value_bigger_than_max(spec, value, options["max"])
        return None

    @staticmethod
    def _choice_error(spec: InputSpec, value: Any) -> ErrorDict | None:
        if spec.type != COMBO:
            return None
        choices = spec.choices or []
        return None if in_choices(value, choices) else errors.value_not_in_list(spec, value, choices)
