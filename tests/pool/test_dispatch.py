"""Dispatch as a plain function: capabilities from /object_info, then soonest finish, ties round-robin."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from comfy_reality.runtime.dispatch import (
    Catalogue,
    NoCapableServerError,
    RoundRobin,
    choose_server,
    missing_on,
    prompt_needs,
)

OBJECT_INFO = {
    "CheckpointLoaderSimple": {
        "input": {"required": {"ckpt_name": [["a.safetensors", "b.safetensors"], {}]}}
    },
    "KSampler": {
        "input": {
            "required": {
                "seed": ["INT", {}],
                "sampler_name": ["COMBO", {"options": ["euler", "dpmpp_2m"]}],
                "model": ["MODEL"],
            }
        }
    },
    "SaveImage": {"input": {"required": {"filename_prefix": ["STRING", {}]}}},
}

PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "b.safetensors"}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 5, "sampler_name": "euler", "model": ["4", 0]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "anything goes here"}},
}


@dataclass
class Fake:
    name: str
    catalogue: Catalogue | None
    weight: float = 1.0
    in_flight: int = 0
    queue_remaining: int = 0


def test_catalogue_reads_node_types_and_both_combo_shapes() -> None:
    catalogue = Catalogue.from_object_info(OBJECT_INFO)
    assert catalogue.class_types == {"CheckpointLoaderSimple", "KSampler", "SaveImage"}
    assert catalogue.combos[("CheckpointLoaderSimple", "ckpt_name")] == {"a.safetensors", "b.safetensors"}
    assert catalogue.combos[("KSampler", "sampler_name")] == {"euler", "dpmpp_2m"}
    assert ("SaveImage", "filename_prefix") not in catalogue.combos  # free text is no combo


def test_missing_names_node_types_and_combo_values() -> None:
    full = Catalogue.from_object_info(OBJECT_INFO)
    assert missing_on(full, prompt_needs(PROMPT)) == []
    other = dict(OBJECT_INFO)
    other["CheckpointLoaderSimple"] = {"input": {"required": {"ckpt_name": [["a.safetensors"], {}]}}}
    del other["SaveImage"]
    lacks = missing_on(Catalogue.from_object_info(other), prompt_needs(PROMPT))
    assert lacks == [
        "no node type SaveImage",
        "ckpt_name 'b.safetensors' of node 4 (CheckpointLoaderSimple) is not among its choices",
    ]


def test_soonest_finish_counts_ours_others_and_weight() -> None:
    catalogue = Catalogue.from_object_info(OBJECT_INFO)
    needs = prompt_needs(PROMPT)
    busy = Fake("busy", catalogue, in_flight=3, queue_remaining=3)
    crowded = Fake("crowded", catalogue, queue_remaining=5)  # five prompts of other clients
    fast = Fake("fast", catalogue, weight=4.0, in_flight=2, queue_remaining=2)
    chosen, _ = choose_server([busy, crowded, fast], needs, RoundRobin())
    assert chosen is fast  # (2+1)/4 beats (3+1)/1 and (5+1)/1


def test_ties_go_round_robin() -> None:
    catalogue = Catalogue.from_object_info(OBJECT_INFO)
    needs = prompt_needs(PROMPT)
    members = [Fake(f"s{i}", catalogue) for i in range(3)]
    turn = RoundRobin()
    picks = [choose_server(members, needs, turn)[0] for _ in range(6)]
    assert [p.name for p in picks if p is not None] == ["s0", "s1", "s2", "s0", "s1", "s2"]


def test_none_can_says_what_is_missing_where() -> None:
    lacking = dict(OBJECT_INFO)
    del lacking["KSampler"]
    members = [Fake("gpu1", Catalogue.from_object_info(lacking)), Fake("gpu2", None)]
    chosen, missing = choose_server(members, prompt_needs(PROMPT), RoundRobin())
    assert chosen is None
    error = NoCapableServerError(missing)
    assert "gpu1: no node type KSampler" in str(error)
    assert "gpu2: its node list is not known yet" in str(error)


@pytest.mark.parametrize("value", [["4", 0], 7, 1.5, None])
def test_links_and_numbers_are_not_combo_values(value: object) -> None:
    prompt = {"1": {"class_type": "KSampler", "inputs": {"sampler_name": value}}}
    assert prompt_needs(prompt).literals == ()
