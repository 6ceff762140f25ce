"""Every recorded UI -> API pair must convert to exactly what frontend 1.27.10 produced.

The oracle's outputs are byte-for-byte the frontend's (README of tests/fixtures/conversion). The
manifest flags a few as frontend quirks; we reproduce those exactly too, and say so per pair.
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.workflows import ObjectInfo, convert_ui_to_api
from tests.conftest import CONVERSION_FIXTURES

PAIR_DIRS = ("pairs", "pairs-templates-0.1.95")
QUIRK_FLAGS = {
    "bypassed_or_muted_subgraph_instance_inner_nodes_still_emitted",
    "widget_values_misaligned_vs_this_object_info",
}
# Pairs where we knowingly give a corrected prompt instead of the frontend's: none. Each flagged quirk
# is reproduced as the frontend emits it (the prompt users get from the browser is the reference).
EXPECTED_DEVIATIONS: dict[str, dict[str, Any]] = {}


def _pairs() -> list[str]:
    names = []
    for directory in PAIR_DIRS:
        for ui in sorted((CONVERSION_FIXTURES / directory).glob("*.ui.json")):
            names.append(f"{directory}/{ui.name[: -len('.ui.json')]}")
    return names


PAIRS = _pairs()


@cache
def _object_info() -> ObjectInfo:
    return ObjectInfo.from_json(json.loads((CONVERSION_FIXTURES / "object_info.json").read_text()))


@cache
def _manifest() -> dict[str, dict[str, Any]]:
    return {m["pair"]: m for m in json.loads((CONVERSION_FIXTURES / "manifest.json").read_text())}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_corpus_is_complete() -> None:
    assert len(PAIRS) == 201
    assert set(PAIRS) == set(_manifest())


@pytest.mark.parametrize("pair", PAIRS)
def test_pair_converts_exactly(pair: str) -> None:
    ui = _load(CONVERSION_FIXTURES / f"{pair}.ui.json")
    expected = _load(CONVERSION_FIXTURES / f"{pair}.api.json")
    got = convert_ui_to_api(ui, _object_info(), rng=random.Random(0))
    deviation = EXPECTED_DEVIATIONS.get(pair)
    if deviation is not None:
        for node_id, entry in deviation.items():
            expected[node_id] = entry
    assert sorted(got) == sorted(expected)
    for node_id in expected:
        assert got[node_id] == expected[node_id], node_id


@pytest.mark.parametrize("pair", sorted(p for p, m in _manifest().items() if QUIRK_FLAGS & set(m["flags"])))
def test_flagged_quirks_are_reproduced(pair: str) -> None:
    """The flagged pairs: what exactly the quirk does in the output, asserted explicitly."""
    manifest = _manifest()[pair]
    ui = _load(CONVERSION_FIXTURES / f"{pair}.ui.json")
    got = convert_ui_to_api(ui, _object_info(), rng=random.Random(0))
    assert got == _load(CONVERSION_FIXTURES / f"{pair}.api.json")
    if "bypassed_or_muted_subgraph_instance_inner_nodes_still_emitted" in manifest["flags"]:
        definitions = {sg["id"]: sg for sg in ui["definitions"]["subgraphs"]}
        bypassed = [n for n in ui["nodes"] if n.get("mode") in (2, 4) and n["type"] in definitions]
        assert bypassed
        emitted_inside = 0
        for instance in bypassed:
            for inner in definitions[instance["type"]]["nodes"]:
                inner_id = f"{instance['id']}:{inner['id']}"
                if inner.get("mode", 0) == 0 and inner["type"] in _object_info():
                    assert inner_id in got, (
                        f"1.27.10 emits {inner_id} although instance {instance['id']} is bypassed"
                    )
                    emitted_inside += 1
                else:
                    assert inner_id not in got
        assert emitted_inside > 0 or pair == "pairs-templates-0.1.95/video_wan2_2_14B_s2v"
    if "widget_values_misaligned_vs_this_object_info" in manifest["flags"]:
        # The shift shows as a value of the wrong kind in some widget (e.g. Rodin3D_Gen2.Seed = "PBR",
        # a control word in an INT, a seed in a COMBO); the frontend emits it unchanged.
        assert _misfits(got), "the misaligned pair shows a widget value of the wrong type"


def _misfits(prompt: dict[str, Any]) -> list[tuple[str, str, Any]]:
    info = _object_info()
    bad = []
    for node_id, entry in prompt.items():
        for spec in info.input_specs(entry["class_type"]):
            value = entry["inputs"].get(spec.name)
            if value is None or isinstance(value, list):
                continue
            fits = {
                "INT": isinstance(value, int) and not isinstance(value, bool),
                "FLOAT": isinstance(value, (int, float)) and not isinstance(value, bool),
                "BOOLEAN": isinstance(value, bool),
                "STRING": isinstance(value, str),
                "COMBO": value in (spec.choices or [value]) or isinstance(value, str),
            }.get(spec.type, True)
            if not fits or (spec.type in ("INT", "FLOAT") and spec.max is not None and value > spec.max):
                bad.append((node_id, spec.name, value))
    return bad


@pytest.mark.parametrize(
    "pair",
    sorted(
        p
        for p, m in _manifest().items()
        if "bypassed_or_muted_subgraph_instance_inner_nodes_still_emitted" in m["flags"]
    ),
)
def test_corrected_variant_drops_disabled_subgraph_contents(pair: str) -> None:
    """skip_disabled_subgraphs: exactly the frontend output minus the disabled instances' inner nodes."""
    ui = _load(CONVERSION_FIXTURES / f"{pair}.ui.json")
    frontend = _load(CONVERSION_FIXTURES / f"{pair}.api.json")
    corrected = convert_ui_to_api(ui, _object_info(), rng=random.Random(0), skip_disabled_subgraphs=True)
    definitions = {sg["id"] for sg in ui["definitions"]["subgraphs"]}
    disabled = {str(n["id"]) for n in ui["nodes"] if n.get("mode") in (2, 4) and n["type"] in definitions}
    expected = {k: v for k, v in frontend.items() if k.split(":")[0] not in disabled}
    for entry in expected.values():
        # nothing the frontend linked to a dropped inner node exists any more
        entry["inputs"] = {
            name: value
            for name, value in entry["inputs"].items()
            if not (isinstance(value, list) and value[0] not in expected)
        }
    assert corrected == expected
    if pair != "pairs-templates-0.1.95/video_wan2_2_14B_s2v":  # there every inner node is itself bypassed
        assert len(corrected) < len(frontend)
