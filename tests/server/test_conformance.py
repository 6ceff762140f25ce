"""Every recorded scenario replayed against the embedded server, compared structurally.

For each of tests/fixtures/protocol/*.jsonl: the same HTTP requests, sockets, clientIds and
order of actions; then per socket the same sequence of WS message types (progress runs
collapsed), the same field names per message type, and per HTTP request the same status code,
content type and body structure; for scenarios without timing-dependent content, the same
values too.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from comfy_reality.server import EmbeddedServer, ServerConfig
from tests.server.transcripts import (
    PROTOCOL_DIR,
    Replayer,
    Tok,
    Transcript,
    canonical,
    collapse,
    fields_by_type,
    key_paths,
    recorded_fields_by_type,
    recorded_message,
    token,
    without_status,
)

SCENARIOS = sorted(p.stem for p in PROTOCOL_DIR.glob("[0-9][0-9]_*.jsonl"))

# Simulated delays are divided by this. Low enough that mid-run actions (interrupts,
# reconnects, a second prompt while one runs) still land mid-run.
SPEED: dict[str, float] = {
    "05_interrupt": 10.0,
    "06_queue_management": 5.0,
    "07_reconnect": 10.0,
    "08_two_clients": 5.0,
    "15_no_client_id": 5.0,
}
DEFAULT_SPEED = 20.0

# HTTP bodies whose content is this server's own, not the recorded machine's.
OWN_BODIES: dict[str, set[str]] = {
    "09_endpoints": {"/extensions", "/internal/logs", "/internal/logs/raw", "/", "/api/extensions"},
}


async def _warm_up(server: EmbeddedServer, transcript: Transcript) -> None:
    """02 starts from the cache 01 left behind, 09 from a server with history: recreate that."""
    if transcript.name == "02_cached":
        body = next(e for e in transcript.http() if e["method"] == "POST")["request_json"]
    elif transcript.name == "09_endpoints":
        body = {
            "prompt": {
                "1": {
                    "class_type": "EmptyImage",
                    "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 1},
                },
                "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
            },
            "extra_data": {"reality_note": "extra_data is echoed into history"},
            "client_id": "warm-up",
        }
    else:
        return
    async with httpx.AsyncClient(base_url=server.url) as http:
        prompt_id = (await http.post("/prompt", json=body)).json()["prompt_id"]
        for _ in range(500):
            if (await http.get(f"/history/{prompt_id}")).json():
                return
            await asyncio.sleep(0.01)
    raise AssertionError("warm-up prompt did not finish")


@pytest.fixture
async def replayed(request: pytest.FixtureRequest) -> AsyncIterator[Replayer]:
    name: str = request.param
    transcript = Transcript.load(name)
    async with EmbeddedServer(ServerConfig(speed=SPEED.get(name, DEFAULT_SPEED))) as server:
        await _warm_up(server, transcript)
        replayer = Replayer(transcript, server.url)
        await replayer.run()
        yield replayer


def _tokens_match(ours: list[Tok], recorded: list[Tok], closed_mid_run: bool) -> bool:
    if len(ours) != len(recorded):
        return False
    for i, (a, b) in enumerate(zip(ours, recorded, strict=True)):
        if a == b:
            continue
        last = i == len(ours) - 1
        if last and closed_mid_run and a.name == b.name == "P" and a.kinds <= b.kinds | {"progress"}:
            continue
        return False
    return True


@pytest.mark.parametrize("replayed", SCENARIOS, indirect=True)
async def test_ws_message_sequences_match(replayed: Replayer) -> None:
    for conn, lines in replayed.pairs():
        recorded_full = collapse([token(recorded_message(e)) for e in lines])
        ours_full = conn.tokens()
        what = f"{replayed.transcript.name} socket {conn.label}:\n recorded {recorded_full}\n ours     {ours_full}"
        # Every queue change is broadcast: the same number of status messages.
        assert sum(t.name == "status" for t in ours_full) == sum(t.name == "status" for t in recorded_full), (
            what
        )
        # Without them (their place races with the worker), the same sequence; progress runs
        # in the same places; sibling nodes' segments in any order (ComfyUI's is random).
        recorded = without_status(recorded_full)
        ours = without_status(ours_full)
        closed_mid_run = conn.closed_by_us and bool(recorded) and recorded[-1].name == "P"
        if closed_mid_run:
            assert _tokens_match(ours, recorded, closed_mid_run), what
        else:
            assert canonical(ours) == canonical(recorded), what


@pytest.mark.parametrize("replayed", SCENARIOS, indirect=True)
async def test_ws_field_names_match(replayed: Replayer) -> None:
    for conn, lines in replayed.pairs():
        recorded = recorded_fields_by_type(lines)
        ours = fields_by_type(conn.messages)
        assert ours == recorded, f"{replayed.transcript.name} socket {conn.label}"


@pytest.mark.parametrize("replayed", SCENARIOS, indirect=True)
async def test_http_statuses_and_body_shapes_match(replayed: Replayer) -> None:
    own = OWN_BODIES.get(replayed.transcript.name, set())
    for result in replayed.http_results:
        e = result.entry
        what = f"{replayed.transcript.name}: {e['method']} {e['path']} {e.get('params') or ''} ({e.get('label')})"
        assert result.response.status_code == e["status"], f"{what}: {result.response.text[:300]}"
        recorded_type = (e["headers"].get("content-type") or "").split(";")[0]
        ours_type = (result.response.headers.get("content-type") or "").split(";")[0]
        if e["status"] != 404 or recorded_type:
            assert ours_type == recorded_type or (not recorded_type and e["len"] == 0), what
        if e["path"] in own or e.get("body_omitted"):
            continue
        if "json" in e.raw:
            assert key_paths(result.response.json()) == key_paths(e["json"]), what
        elif "body" in e.raw:
            expected: Any = e["body"]
            if e["status"] >= 400 or expected == "" or e["path"] == "/prompt":
                assert result.response.text == expected, what


# Scenarios without timing-dependent content: every WS text message must match the recording
# value for value (ids, timestamps, file names and Python-set orders normalised).
VALUE_EXACT = [
    "01_success",
    "02_cached",
    "03_validation_errors",
    "04_runtime_error",
    "08_two_clients",
    "09_endpoints",
    "11_progress_rate",
    "12_expansion_and_blocker",
    "13_logs_subscription",
    "14_latency_trivial",
]
# In 03 the accepted prompts run while the recorder is still posting the next bodies, so how
# many are queued when each status broadcast goes out depends on timing; the count of status
# messages (checked by the sequence test) does not.
QUEUE_COUNT_TIMING = {"03_validation_errors"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _normalise(value: Any, key: str = "", *, queue_counts: bool = True) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v, k, queue_counts=queue_counts) for k, v in value.items() if k != "timestamp"}
    if key == "queue_remaining" and not queue_counts:
        return "<n>"
    if isinstance(value, list):
        items = [_normalise(v, queue_counts=queue_counts) for v in value]
        return sorted(items, key=repr) if key in ("executed", "current_outputs") else items
    if isinstance(value, str):
        if _UUID.match(value) or value.startswith("client-chosen"):
            return "<prompt_id>"
        if _HEX32.match(value):
            return "<sid>"
        if value.endswith(".png"):
            return "<file>"
        if key == "t":
            return "<time>"
        if key == "m":
            return re.sub(r"[0-9.]+", "<n>", value)
    return value


@pytest.mark.parametrize("replayed", VALUE_EXACT, indirect=True)
async def test_ws_message_values_match(replayed: Replayer) -> None:
    counts = replayed.transcript.name not in QUEUE_COUNT_TIMING
    for conn, lines in replayed.pairs():
        recorded = sorted(
            json.dumps(_normalise(e["json"], queue_counts=counts), sort_keys=True)
            for e in lines
            if not e.get("binary")
        )
        ours = sorted(
            json.dumps(_normalise(m, queue_counts=counts), sort_keys=True)
            for m in conn.messages
            if isinstance(m, dict)
        )
        missing = [m for m in recorded if m not in ours]
        extra = [m for m in ours if m not in recorded]
        assert recorded == ours, (
            f"{replayed.transcript.name} {conn.label}: missing {missing[:3]}\n extra {extra[:3]}"
        )


def _normalise_http(value: Any, key: str = "") -> Any:
    if key == "number":
        return "<number>"
    if key == "prompt" and isinstance(value, list) and len(value) == 5:
        # [number, id, prompt, extra_data, outputs_to_execute]: the outputs come from a set
        value = ["<number>", *value[1:4], sorted(value[4])]
    if key in ("executed", "current_outputs") and isinstance(value, list):
        return sorted(value)
    if key in ("queue_running", "queue_pending") and isinstance(value, list):
        return sorted((["<number>", *_normalise_http(v)[1:]] for v in value), key=repr)
    if isinstance(value, dict):
        return {
            ("<prompt_id>" if _UUID.match(k) or k.startswith("client-chosen") else k): _normalise_http(v, k)
            for k, v in value.items()
            if k != "timestamp"
        }
    if isinstance(value, list):
        return [_normalise_http(v, key) for v in value]
    return _normalise(value, key)


@pytest.mark.parametrize("replayed", [n for n in VALUE_EXACT if n != "09_endpoints"], indirect=True)
async def test_http_json_values_match(replayed: Replayer) -> None:
    for result in replayed.http_results:
        e = result.entry
        if "json" not in e.raw or not isinstance(e["json"], dict):
            continue
        what = f"{replayed.transcript.name}: {e['method']} {e['path']} ({e.get('label')})"
        assert _normalise_http(result.response.json()) == _normalise_http(e["json"]), what


@pytest.mark.parametrize(
    "replayed",
    ["05_interrupt", "06_queue_management", "07_reconnect", "10_feature_flags_previews", "15_no_client_id"],
    indirect=True,
)
async def test_ws_values_outside_progress_match(replayed: Replayer) -> None:
    """Where timing decides how many steps run, everything but the step messages still matches."""
    timing = {"progress", "progress_state", "status"}
    for conn, lines in replayed.pairs():
        recorded = sorted(
            json.dumps(_normalise(e["json"]), sort_keys=True)
            for e in lines
            if not e.get("binary") and e["json"]["type"] not in timing
        )
        ours = sorted(
            json.dumps(_normalise(m), sort_keys=True)
            for m in conn.messages
            if isinstance(m, dict) and m["type"] not in timing
        )
        assert recorded == ours, f"{replayed.transcript.name} {conn.label}"
