"""Which server of a pool runs a prompt: the ones that can, then the one that frees up soonest.

Kept apart from the pool (which owns connections and failover) so the choice is a plain,
synchronous function of what is known: each server's catalogue (``/object_info``: node types
and combo choices), its queue length from status broadcasts, this client's prompts in flight
there, and its weight. Cheap by construction: a prompt's needs are read once, then each server
costs a subset test and one dict lookup per literal string input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import InvalidWorkflowError

__all__ = [
    "Candidate",
    "Catalogue",
    "NoCapableServerError",
    "PromptNeeds",
    "RoundRobin",
    "choose_server",
    "missing_on",
    "prompt_needs",
]


class NoCapableServerError(InvalidWorkflowError):
    """No server of the pool has every node type and combo value the prompt uses."""

    def __init__(self, missing: dict[str, list[str]]) -> None:
        self.missing = missing
        lines = [f"{name}: {'; '.join(what)}" for name, what in missing.items()]
        super().__init__(
            "no server of the pool can run this prompt:\n  " + "\n  ".join(lines)
            if lines
            else "no server of the pool can take a prompt now (all are down, disabled or draining)"
        )


def _choices(spec: Any) -> frozenset[Any] | None:
    """The allowed values of a combo input spec (``[[a, b], {...}]`` or ``["COMBO", {"options": [...]}]``)."""
    if not isinstance(spec, list) or not spec:
        return None
    first = spec[0]
    options: Any = None
    if isinstance(first, list):
        options = first
    elif first == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options")
    if not isinstance(options, list):
        return None
    return frozenset(x for x in options if isinstance(x, (str, int, float, bool)))


@dataclass(frozen=True, slots=True)
class Catalogue:
    """What one server can run, read from its ``/object_info``."""

    class_types: frozenset[str]
    combos: dict[tuple[str, str], frozenset[Any]]

    @classmethod
    def from_object_info(cls, object_info: dict[str, Any]) -> Catalogue:
        combos: dict[tuple[str, str], frozenset[Any]] = {}
        for class_type, info in object_info.items():
            inputs = info.get("input") if isinstance(info, dict) else None
            if not isinstance(inputs, dict):
                continue
            for category in ("required", "optional"):
                group = inputs.get(category)
                if not isinstance(group, dict):
                    continue
                for input_name, spec in group.items():
                    choices = _choices(spec)
                    if choices is not None:
                        combos[(class_type, input_name)] = choices
        return cls(frozenset(object_info), combos)


@dataclass(frozen=True, slots=True)
class PromptNeeds:
    """What a prompt asks of a server: its node types, and its literal values per input
    (checked only where the server's spec of that input is a combo)."""

    class_types: frozenset[str]
    literals: tuple[tuple[str, str, Any, str], ...]  # class_type, input, value, node id


def prompt_needs(prompt: dict[str, Any]) -> PromptNeeds:
    """Read a prompt (API format) once; links (``["4", 0]``) and numbers are not combo values."""
    class_types: set[str] = set()
    literals: list[tuple[str, str, Any, str]] = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        class_type = node.get("class_type")
        if not isinstance(class_type, str):
            continue
        class_types.add(class_type)
        inputs = node.get("inputs")
        if isinstance(inputs, dict):
            for input_name, value in inputs.items():
                if isinstance(value, str):
                    literals.append((class_type, input_name, value, str(node_id)))
    return PromptNeeds(frozenset(class_types), tuple(literals))


def missing_on(catalogue: Catalogue, needs: PromptNeeds) -> list[str]:
    """What this server lacks for the prompt, in words; empty: it can run it."""
    missing: list[str] = []
    absent = needs.class_types - catalogue.class_types
    if absent:
        missing.append("no node type " + ", ".join(sorted(absent)))
    combos = catalogue.combos
    for class_type, input_name, value, node_id in needs.literals:
        if class_type in absent:
            continue
        choices = combos.get((class_type, input_name))
        if choices is not None and value not in choices:
            missing.append(
                f"{input_name} {value!r} of node {node_id} ({class_type}) is not among its choices"
            )
    return missing


class Candidate(Protocol):
    """What dispatch reads of a pool member."""

    @property
    def name(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def queue_remaining(self) -> int: ...
    @property
    def catalogue(self) -> Catalogue | None: ...


@dataclass(slots=True)
class RoundRobin:
    """Where the next tie-break starts, so equal servers take turns."""

    next_index: int = 0


def expected_finish(member: Candidate) -> float:
    """When this server would have run a new prompt, in units of one prompt's run time:
    what is ahead of it (our prompts there, plus what others queued beyond them) and the
    prompt itself, divided by the server's weight (its relative speed)."""
    ours = member.in_flight
    others = max(0, member.queue_remaining - ours)
    return (ours + others + 1) / member.weight


def choose_server(
    members: Sequence[Candidate], needs: PromptNeeds, turn: RoundRobin
) -> tuple[Candidate | None, dict[str, list[str]]]:
    """The capable member that finishes the prompt soonest (ties: round-robin), or None and
    what each member lacks. ``members`` are those that take prompts now (up, enabled)."""
    count = len(members)
    best: Candidate | None = None
    best_index = 0
    best_score = 0.0
    missing: dict[str, list[str]] = {}
    start = turn.next_index % count if count else 0
    for offset in range(count):
        index = (start + offset) % count
        member = members[index]
        catalogue = member.catalogue
        if catalogue is None:
            missing[member.name] = ["its node list is not known yet (not reached)"]
            continue
        lacks = missing_on(catalogue, needs)
        if lacks:
            missing[member.name] = lacks
            continue
        score = expected_finish(member)
        if best is None or score < best_score - 1e-9:
            best, best_index, best_score = member, index, score
    if best is not None:
        turn.next_index = best_index + 1
    return best, missing
