"""Input specs as /object_info declares them: parsed once, for the validator, forms and conversion.

An input spec is ``[type_or_choices, {options}]``; a combo is either a list of choices or the
``"COMBO"`` type with ``options`` in its options. ``InputSpec.coerce``/``check`` turn a value typed by
a user into the spec's type and apply the server's range and choice rules with friendly messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .coerce import coerce_user_value

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
SEED_INPUT_NAMES = frozenset({"seed", "noise_seed"})


@dataclass(frozen=True)
class InputSpec:
    """One input of a node type as the server declares it (a plain value object: ``validate`` is ours)."""

    name: str
    type: str  # INT, FLOAT, STRING, BOOLEAN, COMBO, or a link type such as MODEL / IMAGE
    required: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    choices: list[Any] | None = None
    raw: list[Any] = field(default_factory=list)  # the spec exactly as /object_info sent it

    @property
    def default(self) -> Any:
        if "default" in self.options:
            return self.options["default"]
        if self.choices:
            return self.choices[0]
        return None

    @property
    def min(self) -> float | None:
        return self.options.get("min")

    @property
    def max(self) -> float | None:
        return self.options.get("max")

    @property
    def step(self) -> float | None:
        return self.options.get("step")

    @property
    def multiline(self) -> bool:
        return bool(self.options.get("multiline"))

    @property
    def tooltip(self) -> str | None:
        tip = self.options.get("tooltip")
        return tip if isinstance(tip, str) else None

    @property
    def is_widget(self) -> bool:
        """A value typed in the UI rather than a link (forceInput turns a widget type into a socket)."""
        return self.type in WIDGET_TYPES and not self.options.get("forceInput")

    @property
    def seed_like(self) -> bool:
        """Has a control_after_generate companion (randomize/fixed/...): the frontend rule for INT and COMBO."""
        explicit = self.options.get("control_after_generate")
        if explicit is not None:
            return bool(explicit)
        return self.type == "INT" and self.name in SEED_INPUT_NAMES

    @property
    def dynamic_prompts(self) -> bool:
        return self.type == "STRING" and bool(self.options.get("dynamicPrompts"))

    @property
    def config(self) -> list[Any]:
        """The ``input_config`` the server echoes in its validation errors."""
        return list(self.raw)

    def describe(self) -> str:
        """A short human description: ``INT 1..10000 step 1`` or ``one of 5 choices``."""
        if self.type == "COMBO":
            return f"one of {len(self.choices or [])} choices"
        parts = [self.type]
        if self.min is not None or self.max is not None:
            parts.append(
                f"{_fmt(self.min) if self.min is not None else ''}..{_fmt(self.max) if self.max is not None else ''}"
            )
        if self.step is not None and self.type in ("INT", "FLOAT"):
            parts.append(f"step {_fmt(self.step)}")
        if self.multiline:
            parts.append("multiline")
        return " ".join(parts)

    def coerce(self, value: Any) -> Any:
        """Turn form/CLI text into the spec's type; ValueError names what was expected."""
        return coerce_user_value(self.type, self.name, value, self.choices)

    def check(self, value: Any) -> Any:
        """Server-side checks on an already typed value; ValueError carries the server's message."""
        if self.type in ("INT", "FLOAT") and not isinstance(value, bool) and isinstance(value, (int, float)):
            if self.min is not None and value < self.min:
                raise ValueError(f"Value {value} smaller than min of {self.min}")
            if self.max is not None and value > self.max:
                raise ValueError(f"Value {value} bigger than max of {self.max}")
        if self.type == "COMBO" and self.choices is not None and value not in self.choices:
            raise ValueError(f"{self.name}: {value!r} is not a choice; {choice_hint(value, self.choices)}")
        return value

    def validate(self, value: Any) -> Any:
        """Coerce then check: the value to store, or ValueError with the reason."""
        return self.check(self.coerce(value))


def choice_hint(value: Any, choices: list[Any], *, shown: int = 5) -> str:
    """For people (a form, ``--set``, ``validate``), not the server's wording: the close matches, else a few."""
    texts = [str(c) for c in choices]
    if not texts:
        return "the catalogue lists no choices for it"
    close = difflib.get_close_matches(str(value), texts, n=3, cutoff=0.5)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}?"
    if len(texts) <= shown:
        return f"the choices are {', '.join(repr(c) for c in texts)}"
    return f"the {len(texts)} choices include {', '.join(repr(c) for c in texts[:shown])}, …"


def choice_list_text(choices: list[Any]) -> str:
    """How the server prints a combo list in ``value_not_in_list`` details."""
    return f"(list of length {len(choices)})" if len(choices) > 20 else str(choices)


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_input_spec(name: str, raw: Any, *, required: bool) -> InputSpec:
    spec = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    head = spec[0] if spec else "*"
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(head, list):
        return InputSpec(
            name=name, type="COMBO", required=required, options=options, choices=list(head), raw=spec
        )
    if head == "COMBO":
        choices = options.get("options")
        return InputSpec(
            name=name,
            type="COMBO",
            required=required,
            options=options,
            choices=list(choices) if isinstance(choices, list) else [],
            raw=spec,
        )
    return InputSpec(name=name, type=str(head), required=required, options=options, raw=spec)


def parse_node_inputs(node: Mapping[str, Any]) -> list[InputSpec]:
    """A node definition's required then optional inputs, in its ``input_order`` (the order the UI shows).

    Names the order leaves out follow in declaration order; hidden inputs are not values a prompt sets.
    """
    inputs = node.get("input") or {}
    order = node.get("input_order") or {}
    specs: list[InputSpec] = []
    for category in ("required", "optional"):
        section = inputs.get(category) or {}
        if not isinstance(section, dict):
            continue
        names = [n for n in order.get(category) or [] if n in section]
        names += [n for n in section if n not in names]
        specs.extend(parse_input_spec(n, section[n], required=category == "required") for n in names)
    return specs


def input_config(spec: InputSpec) -> list[Any]:
    """The ``input_config`` the server echoes in its errors: ``[type_or_choices, options]``."""
    raw = spec.raw
    head = raw[0] if raw else spec.type
    options = raw[1] if len(raw) > 1 and isinstance(raw[1], dict) else {}
    return [head, options]
