"""Batch variants of one workflow: ``--repeat N`` and ``--sweep NODE.INPUT=V1,V2`` (shared by the CLI and the app).

Pure: a list of override sets (``{"3.seed": "random", "3.cfg": "7"}``), each applied later with
:func:`~comfy_reality.workflows.apply_overrides`, which types every value against the node's spec
and draws a new seed for each ``random``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_VARIANTS", "Variant", "parse_sweep", "variants"]

MAX_VARIANTS = 10_000


@dataclass(frozen=True)
class Variant:
    """One set of overrides of a batch, and how it is named in lines and summaries (None: the only one)."""

    overrides: dict[str, str]
    label: str | None = None


def parse_sweep(item: str) -> tuple[str, list[str]]:
    """``3.seed=1,2,3`` -> ``("3.seed", ["1", "2", "3"])``; raises ValueError saying the expected shape."""
    key, eq, values = item.partition("=")
    node, dot, input_name = key.strip().partition(".")
    choices = values.split(",") if values else []
    if not eq or not dot or not node.strip() or not input_name.strip() or not choices:
        raise ValueError(
            f"{item!r} is not NODE.INPUT=V1,V2,... (example: --sweep 3.seed=random --sweep 3.cfg=6,8)"
        )
    return f"{node.strip()}.{input_name.strip()}", choices


def variants(sweeps: Sequence[str], repeat: int = 1) -> list[Variant]:
    """The product of every sweep, each repeated ``repeat`` times; raises ValueError on a bad request."""
    if repeat < 1:
        raise ValueError("repeat must be 1 or more")
    axes = [parse_sweep(item) for item in sweeps]
    keys = [key for key, _ in axes]
    if len(set(keys)) != len(keys):
        raise ValueError("each NODE.INPUT may be swept once")
    combos = list(itertools.product(*(values for _, values in axes)))
    total = len(combos) * repeat
    if total > MAX_VARIANTS:
        raise ValueError(f"the sweeps and repeats make {total} runs of one workflow; at most {MAX_VARIANTS}")
    if total == 1:
        return [Variant(dict(zip(keys, combos[0], strict=True)))]
    found: list[Variant] = []
    for number in range(repeat):
        for combo in combos:
            overrides = dict(zip(keys, combo, strict=True))
            parts = [f"{k}={v}" for k, v in overrides.items()]
            if repeat > 1:
                parts.append(f"#{number + 1}")
            found.append(Variant(overrides, " ".join(parts)))
    return found
