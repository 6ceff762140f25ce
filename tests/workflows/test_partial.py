"""`--only` selectors: output nodes by id or title; everything else refused with the outputs named."""

from __future__ import annotations

from typing import Any

import pytest

from comfy_reality.runtime import InvalidWorkflowError
from comfy_reality.workflows import packaged_object_info
from comfy_reality.workflows.partial import output_nodes, resolve_output_targets


def prompt() -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {}, "_meta": {"title": "Canvas"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}, "_meta": {"title": "Final"}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}, "_meta": {"title": "Twin"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}, "_meta": {"title": "twin"}},
    }


def test_output_nodes_come_from_object_info() -> None:
    assert output_nodes(prompt(), packaged_object_info()) == ["2", "3", "4", "5"]


def test_ids_and_titles_resolve_in_the_order_given_without_duplicates() -> None:
    info = packaged_object_info()
    assert resolve_output_targets(prompt(), info, ["3", " final ", "2"]) == ["3", "2"]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("1", "node 1 (Canvas, EmptyImage) is not an output node"),
        ("Canvas", "node 1 (Canvas, EmptyImage) is not an output node"),
        ("9", "no node has that id or title"),
        ("TWIN", "2 nodes have that title (4, 5); use the id"),
    ],
)
def test_bad_selectors_name_the_output_nodes(selector: str, message: str) -> None:
    with pytest.raises(InvalidWorkflowError) as caught:
        resolve_output_targets(prompt(), packaged_object_info(), [selector])
    text = str(caught.value)
    assert message in text
    assert (
        "Output nodes: 2 (Final, SaveImage), 3 (PreviewImage), 4 (Twin, SaveImage), 5 (twin, SaveImage)"
        in text
    )


def test_no_selector_is_an_error() -> None:
    with pytest.raises(InvalidWorkflowError, match="at least one output node"):
        resolve_output_targets(prompt(), packaged_object_info(), [])
