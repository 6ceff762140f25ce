"""Every recorded POST /prompt answer reproduced exactly: error types, messages, details,
extra_info (input_config, tracebacks), node_errors keys and dependent_outputs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from comfy_reality.server import EmbeddedServer
from tests.server.transcripts import PROTOCOL_DIR, Entry, Transcript

CASES: list[Entry] = [
    e
    for path in sorted(PROTOCOL_DIR.glob("[0-9][0-9]_*.jsonl"))
    for e in Transcript.load(path.stem).http()
    if e["method"] == "POST"
    and e["path"] == "/prompt"
    and (e["status"] != 200 or (e.get("json") or {}).get("node_errors"))
]


def _normalise(body: Any) -> Any:
    """Order-free parts made comparable: dependent_outputs follow a Python set's order."""
    if isinstance(body, dict):
        out = {k: _normalise(v) for k, v in body.items() if k not in ("prompt_id", "number")}
        if isinstance(out.get("dependent_outputs"), list):
            out["dependent_outputs"] = sorted(out["dependent_outputs"])
        return out
    if isinstance(body, list):
        return [_normalise(v) for v in body]
    return body


def test_every_validation_case_is_covered() -> None:
    labels = {e.get("label") for e in CASES}
    for label in (
        "unknown_class_type",
        "missing_required_input",
        "value_above_max",
        "value_below_min",
        "invalid_combo_value_partial_graph_still_queued",
        "invalid_combo_value_only_output",
        "wrong_value_type_string_for_int",
        "link_to_nonexistent_node",
        "link_output_type_mismatch",
        "link_bad_output_index",
        "no_output_nodes",
        "empty_prompt_object",
        "node_missing_class_type",
        "one_bad_branch_one_good_output",
        "missing_prompt_key",
        "prompt_is_list",
        "body_not_json",
        "body_empty",
    ):
        assert label in labels


@pytest.mark.parametrize("case", CASES, ids=[str(e.get("label")) for e in CASES])
async def test_validation_answer_matches_recording(embedded_server: EmbeddedServer, case: Entry) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        if "request_json" in case.raw:
            response = await http.post("/prompt", json=case["request_json"])
        else:
            response = await http.post("/prompt", content=case["request_body_raw"].encode())
    assert response.status_code == case["status"]
    assert response.headers["content-type"] == case["headers"]["content-type"]
    if "json" in case.raw:
        assert _normalise(response.json()) == _normalise(case["json"])
        if case["status"] == 200:
            assert isinstance(response.json()["prompt_id"], str)
            assert isinstance(response.json()["number"], int)
    else:
        assert response.text == case["body"]


async def test_a_deep_chain_validates_and_runs(embedded_server: EmbeddedServer) -> None:
    """A 600-node chain must not overflow Python's stack in validation (that would be a 500)."""
    prompt: dict[str, Any] = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}
    }
    for i in range(2, 600):
        prompt[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    prompt["600"] = {"class_type": "PreviewImage", "inputs": {"images": ["599", 0]}}
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        answer = await client.post("/prompt", json={"prompt": prompt})
        assert answer.status_code == 200, answer.text
        assert answer.json()["node_errors"] == {}
        prompt["300"]["inputs"]["image"] = ["299", 5]  # a fault deep inside is still reported
        rejected = await client.post("/prompt", json={"prompt": prompt})
        assert rejected.status_code == 400
        assert list(rejected.json()["node_errors"]) == ["300"]
