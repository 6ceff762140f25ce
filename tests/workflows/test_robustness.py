"""Damaged files never crash conversion, validation or editing: they give InvalidWorkflowError or a report.

Deterministic corruption of the recorded pairs (fixed seed): fields replaced by values of the wrong
type, dangling ids, negative slots.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.errors import InvalidWorkflowError
from comfy_reality.workflows import (
    ObjectInfo,
    convert_ui_to_api,
    detect_format,
    editable_inputs,
    find_missing_node_types,
    validate_prompt,
)
from tests.conftest import CONVERSION_FIXTURES

JUNK: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    -1,
    1.5,
    True,
    [1],
    {"a": 1},
    "-10",
    ["1", 0],
    ["zz", 0],
    ["1", 99],
    {"__value__": [1]},
    10**30,
]


@cache
def _info() -> ObjectInfo:
    return ObjectInfo(json.loads((CONVERSION_FIXTURES / "object_info.json").read_text()))


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _corrupt(data: Any, rng: random.Random) -> Any:
    paths = list(_paths(data))
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        target = data
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = rng.choice(JUNK)
        except (KeyError, IndexError, TypeError):
            continue
    return data


def _files(suffix: str) -> list[str]:
    return sorted(
        str(p)
        for d in ("pairs", "pairs-templates-0.1.95")
        for p in (CONVERSION_FIXTURES / d).glob(f"*{suffix}")
    )


@pytest.mark.parametrize("seed", range(4))
def test_corrupted_ui_workflows_never_crash(seed: int) -> None:
    rng = random.Random(seed)
    files = _files(".ui.json")
    converted = rejected = 0
    for _ in range(150):
        data = _corrupt(json.loads(Path(rng.choice(files)).read_text(encoding="utf-8")), rng)
        detect_format(data)
        try:
            find_missing_node_types(data, _info())
            result = convert_ui_to_api(data, _info(), allow_missing=True, rng=random.Random(0))
        except InvalidWorkflowError:
            rejected += 1
            continue
        assert isinstance(result, dict)
        converted += 1
    assert converted > 0


@pytest.mark.parametrize("seed", range(4))
def test_corrupted_prompts_never_crash_validation(seed: int) -> None:
    rng = random.Random(seed)
    files = _files(".api.json")
    for _ in range(150):
        prompt = _corrupt(json.loads(Path(rng.choice(files)).read_text(encoding="utf-8")), rng)
        report = validate_prompt(prompt, _info())
        assert report.accepted or report.error is not None
        if isinstance(prompt, dict):
            editable_inputs({k: v for k, v in prompt.items() if isinstance(v, dict)}, _info())
