"""Queue semantics, interrupts, history and WebSocket routing, over real loopback sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from comfy_reality.server import EmbeddedServer
from tests.server.wsclient import Listener, binary_type


def graph(steps: int = 3, delay: float = 0.05, nonce: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": nonce},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": delay, "nonce": nonce, **extra},
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


async def post(http: httpx.AsyncClient, prompt: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = await http.post("/prompt", json={"prompt": prompt, **body})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def wait_history(http: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    for _ in range(2000):
        entry = (await http.get(f"/history/{prompt_id}")).json()
        if entry:
            return entry[prompt_id]  # type: ignore[no-any-return]
        await asyncio.sleep(0.005)
    raise AssertionError(f"{prompt_id} never reached the history")


async def test_number_counts_every_post_and_front_is_negative(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        a = await post(http, graph(nonce=1))
        rejected = await http.post("/prompt", json={"prompt": {}})
        assert rejected.status_code == 400
        b = await post(http, graph(nonce=2), front=True)
        c = await post(http, graph(nonce=3), number=7.5)
        assert (a["number"], b["number"], c["number"]) == (0, -2, 7.5)
        await wait_history(http, a["prompt_id"])
        await wait_history(http, b["prompt_id"])
        await wait_history(http, c["prompt_id"])


async def test_front_runs_before_earlier_pending(embedded_server: EmbeddedServer) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=f") as ws,
    ):
        first = await post(http, graph(steps=40, nonce=1), client_id="f")
        await ws.wait(lambda s: len(s.json("progress")) >= 1, what="first prompt running")
        normal = await post(http, graph(nonce=2), client_id="f")
        urgent = await post(http, graph(nonce=3), client_id="f", front=True)
        queue = (await http.get("/queue")).json()
        assert [item[1] for item in queue["queue_running"]] == [first["prompt_id"]]
        assert urgent["number"] < 0 < normal["number"]
        pending = sorted(queue["queue_pending"], key=lambda item: item[0])
        assert [item[1] for item in pending] == [urgent["prompt_id"], normal["prompt_id"]]
        assert pending[0][3] == {"client_id": "f"} and pending[0][4] == ["3"]
        await ws.wait_done(normal["prompt_id"])
        starts = [m["data"]["prompt_id"] for m in ws.json("execution_start")]
        assert starts == [first["prompt_id"], urgent["prompt_id"], normal["prompt_id"]]


async def test_delete_pending_clear_and_running_is_not_deletable(embedded_server: EmbeddedServer) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=q") as ws,
    ):
        running = await post(http, graph(steps=60, nonce=1), client_id="q")
        await ws.wait(lambda s: len(s.json("progress")) >= 1)
        p2 = await post(http, graph(nonce=2), client_id="q")
        p3 = await post(http, graph(nonce=3), client_id="q")
        p4 = await post(http, graph(nonce=4), client_id="q")
        r = await http.post("/queue", json={"delete": [p3["prompt_id"], running["prompt_id"], "nope"]})
        assert (r.status_code, r.text) == (200, "")
        queue = (await http.get("/queue")).json()
        assert [i[1] for i in queue["queue_running"]] == [running["prompt_id"]]
        assert sorted(i[1] for i in queue["queue_pending"]) == sorted([p2["prompt_id"], p4["prompt_id"]])
        assert (await http.post("/queue", json={"clear": True})).status_code == 200
        queue = (await http.get("/queue")).json()
        assert queue["queue_pending"] == [] and len(queue["queue_running"]) == 1
        assert (await http.get("/prompt")).json() == {"exec_info": {"queue_remaining": 1}}
        await ws.wait_done(running["prompt_id"])
        assert [m["data"]["prompt_id"] for m in ws.json("execution_start")] == [running["prompt_id"]]
        assert ws.json("status")[-1]["data"]["status"]["exec_info"]["queue_remaining"] == 0


async def test_targeted_interrupt_only_hits_the_running_prompt(embedded_server: EmbeddedServer) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=i") as ws,
    ):
        p1 = await post(http, graph(steps=200, nonce=1), client_id="i")
        p2 = await post(http, graph(steps=3, nonce=2), client_id="i")
        await ws.wait(lambda s: len(s.json("progress")) >= 2)
        assert (await http.post("/interrupt", json={"prompt_id": p2["prompt_id"]})).text == ""
        await ws.wait(lambda s: len(s.json("progress")) >= 4)
        assert not ws.json("execution_interrupted")
        await http.post("/interrupt", json={"prompt_id": p1["prompt_id"]})
        await ws.wait_done(p2["prompt_id"])
        interrupted = ws.json("execution_interrupted")
        assert len(interrupted) == 1
        data = interrupted[0]["data"]
        assert (data["prompt_id"], data["node_id"], data["node_type"], data["executed"]) == (
            p1["prompt_id"],
            "2",
            "RealityProgress",
            ["1"],
        )
        assert set(data) == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
        assert [m["data"]["prompt_id"] for m in ws.json("execution_success")] == [p2["prompt_id"]]
        h1 = await wait_history(http, p1["prompt_id"])
        assert h1["status"]["status_str"] == "error" and h1["status"]["completed"] is False
        assert [m[0] for m in h1["status"]["messages"]] == [
            "execution_start",
            "execution_cached",
            "execution_interrupted",
        ]


async def test_interrupt_while_idle_does_not_leak(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        assert (await http.post("/interrupt")).status_code == 200
        assert (await http.post("/interrupt", json={})).status_code == 200
        entry = await wait_history(http, (await post(http, graph(nonce=9)))["prompt_id"])
        assert entry["status"]["status_str"] == "success"


async def test_newest_socket_of_a_client_id_gets_the_messages(embedded_server: EmbeddedServer) -> None:
    url = embedded_server.ws_url + "?clientId=same"
    async with httpx.AsyncClient(base_url=embedded_server.url) as http, Listener(url) as old:
        await old.wait_type("status")
        async with Listener(url) as new:
            await new.wait_type("status")
            p = await post(http, graph(nonce=5), client_id="same")
            await new.wait_done(p["prompt_id"])
        assert old.types() == ["status"]


async def test_an_old_socket_closing_unroutes_the_client_id_like_comfyui(
    embedded_server: EmbeddedServer,
) -> None:
    """server.py pops sockets[sid] when any socket of that sid closes: the newer one is orphaned."""
    url = embedded_server.ws_url + "?clientId=orphan"
    async with httpx.AsyncClient(base_url=embedded_server.url) as http, Listener(url) as new:
        await new.wait_type("status")
        async with Listener(url) as old:
            await old.wait_type("status")
        for _ in range(200):
            if "orphan" not in embedded_server.state.hub.sockets:
                break
            await asyncio.sleep(0.01)
        assert "orphan" not in embedded_server.state.hub.sockets
        p = await post(http, graph(nonce=11), client_id="orphan")
        await wait_history(http, p["prompt_id"])
        assert set(new.types()) == {"status"}  # queue broadcasts only: nothing of its own prompt


async def test_reconnect_mid_run_gets_status_and_bare_executing(embedded_server: EmbeddedServer) -> None:
    url = embedded_server.ws_url + "?clientId=re"
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        async with Listener(url) as first:
            p = await post(http, graph(steps=150, nonce=6), client_id="re")
            await first.wait(lambda s: len(s.json("progress")) >= 2)
        async with Listener(url) as second:
            await second.wait_done(p["prompt_id"])
        status, bare = second.json()[:2]
        assert status["type"] == "status" and status["data"]["sid"] == "re"
        assert bare == {"type": "executing", "data": {"node": "2"}}
        snapshot = second.json("progress_state")[0]["data"]["nodes"]
        assert snapshot["1"]["state"] == "finished" and snapshot["2"]["state"] == "running"
        async with Listener(url) as late:
            await late.wait_type("status")
        assert late.types() == ["status"]


async def test_prompt_without_client_id_broadcasts_only_what_comfyui_broadcasts(
    embedded_server: EmbeddedServer,
) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=a") as a,
        Listener(embedded_server.ws_url) as c,
    ):
        await c.wait_type("status")
        assert len(c.json("status")[0]["data"]["sid"]) == 32
        ok = await post(http, graph(nonce=7, preview=True, progress_text=True))
        await a.wait(
            lambda s: (
                s.json("status")[-1]["data"]["status"]["exec_info"]["queue_remaining"] == 0
                and len(s.json("status")) >= 4
            )
        )
        failing = {
            "1": {
                "class_type": "EmptyImage",
                "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 1},
            },
            "2": {"class_type": "RealityFail", "inputs": {"image": ["1", 0], "message": "nope"}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
        }
        bad = await post(http, failing)
        entry = await wait_history(http, bad["prompt_id"])
        await wait_history(http, ok["prompt_id"])
        for sock in (a, c):
            kinds = set(sock.types())
            assert {"progress", "progress_state", "bin1", "bin3"} <= kinds
            assert not kinds & {
                "execution_start",
                "execution_cached",
                "executing",
                "executed",
                "execution_success",
                "execution_error",
            }
        assert entry["status"]["status_str"] == "error"
        assert entry["status"]["messages"][-1][0] == "execution_error"


async def test_previews_type_1_after_progress_or_type_4_before_it(embedded_server: EmbeddedServer) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=flags") as f,
        Listener(embedded_server.ws_url + "?clientId=plain") as n,
        Listener(embedded_server.ws_url + "?clientId=late") as late,
    ):
        await f.send({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        await f.wait_type("feature_flags")
        assert f.json("feature_flags")[0]["data"] == {
            "supports_preview_metadata": True,
            "max_upload_size": 104857600,
        }
        await late.send({"type": "hello", "data": {}})
        await late.send({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        for nonce, (sock, cid) in enumerate(((f, "flags"), (n, "plain"), (late, "late"))):
            p = await post(http, graph(steps=2, nonce=nonce, preview=True), client_id=cid)
            await sock.wait_done(p["prompt_id"])
        assert not late.json("feature_flags")
        f_types, n_types = f.types(), n.types()
        assert "bin1" not in f_types and f_types.count("bin4") == 2
        assert "bin4" not in n_types and n_types.count("bin1") == 2 and "bin1" in late.types()
        i = f_types.index("bin4")
        assert f_types[i - 1] == "progress_state" and f_types[i + 1] == "progress"
        j = n_types.index("bin1")
        assert n_types[j - 1] == "progress"
        frame = f.binary(4)[0]
        size = int.from_bytes(frame[4:8], "big")
        import json as _json

        meta = _json.loads(frame[8 : 8 + size])
        assert set(meta) == {
            "node_id",
            "prompt_id",
            "display_node_id",
            "parent_node_id",
            "real_node_id",
            "image_type",
        }
        assert frame[8 + size : 8 + size + 4] == b"\xff\xd8\xff\xe0" and meta["image_type"] == "image/jpeg"
        assert (
            meta["node_id"] == meta["display_node_id"] == meta["real_node_id"] == "2"
            and meta["parent_node_id"] is None
        )
        plain = n.binary(1)[0]
        assert (
            binary_type(plain) == 1
            and int.from_bytes(plain[4:8], "big") == 1
            and plain[8:12] == b"\xff\xd8\xff\xe0"
        )


async def test_save_image_websocket_sends_png_frames(embedded_server: EmbeddedServer) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 24, "height": 16, "batch_size": 1, "color": 5}},
        "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}},
    }
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=sw") as ws,
    ):
        p = await post(http, prompt, client_id="sw")
        await ws.wait_done(p["prompt_id"])
    frame = ws.binary(1)[0]
    assert int.from_bytes(frame[4:8], "big") == 2 and frame[8:12] == b"\x89PNG"
    assert [m["data"]["value"] for m in ws.json("progress")] == [0]
    assert [m["data"]["max"] for m in ws.json("progress")] == [1]
    assert not ws.json("executed")


async def test_requeue_is_cached_and_nonce_change_reruns(embedded_server: EmbeddedServer) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=c") as ws,
    ):
        first = await post(http, graph(nonce=1), client_id="c")
        await ws.wait_done(first["prompt_id"])
        again = await post(http, graph(nonce=1), client_id="c")
        await ws.wait_done(again["prompt_id"])
        changed = await post(http, graph(nonce=2), client_id="c")
        await ws.wait_done(changed["prompt_id"])
        cached = [m["data"]["nodes"] for m in ws.json("execution_cached")]
        assert cached == [[], ["1", "2", "3"], []]
        runs = {
            pid: [
                m["data"]["node"]
                for m in ws.json("executing")
                if m["data"].get("prompt_id") == pid and m["data"]["node"]
            ]
            for pid in (first["prompt_id"], again["prompt_id"], changed["prompt_id"])
        }
        assert runs[again["prompt_id"]] == []
        assert runs[changed["prompt_id"]] == ["1", "2", "3"]  # EmptyImage's color is the nonce too
        resent = [m["data"] for m in ws.json("executed") if m["data"]["prompt_id"] == again["prompt_id"]]
        assert [d["node"] for d in resent] == ["3"]
        original = next(
            m["data"]
            for m in ws.json("executed")
            if m["data"]["prompt_id"] == first["prompt_id"] and m["data"]["node"] == "3"
        )
        assert resent[0]["output"] == original["output"]
        history = await wait_history(http, again["prompt_id"])
        assert history["outputs"]["3"] == original["output"] and history["outputs"]["2"]["text"]


async def test_history_paging_delete_and_client_chosen_ids(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        ids = []
        for n in range(4):
            p = await post(http, graph(steps=1, delay=0, nonce=10 + n))
            await wait_history(http, p["prompt_id"])
            ids.append(p["prompt_id"])
        assert list((await http.get("/history", params={"max_items": 2})).json()) == ids[2:]
        assert list((await http.get("/history", params={"max_items": 2, "offset": 1})).json()) == ids[1:3]
        assert list((await http.get("/history")).json()) == ids
        assert (await http.post("/history", json={"delete": [ids[0]]})).text == ""
        assert (await http.get(f"/history/{ids[0]}")).json() == {}
        chosen = await post(
            http, graph(steps=1, delay=0, nonce=20), prompt_id="mine-1", extra_data={"note": "x"}
        )
        assert chosen["prompt_id"] == "mine-1"
        entry = await wait_history(http, "mine-1")
        assert entry["prompt"][3] == {"note": "x"}
        assert entry["meta"]["3"] == {
            "node_id": "3",
            "display_node": "3",
            "parent_node": None,
            "real_node_id": "3",
        }
        await http.post("/history", json={"clear": True})
        assert (await http.get("/history")).json() == {}


async def test_non_json_prompt_body_is_a_plain_500(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        for body in (b"not json", b""):
            r = await http.post("/prompt", content=body)
            assert r.status_code == 500
            assert r.headers["content-type"].startswith("text/plain")
            assert r.text == "500 Internal Server Error\n\nServer got itself in trouble"


async def test_execution_start_reaches_the_client_before_the_post_answer(
    embedded_server: EmbeddedServer,
) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=early") as ws,
    ):
        await ws.wait_type("status")
        p = await post(http, graph(steps=5, nonce=80), client_id="early")
        # The worker took the prompt and began before the handler answered.
        assert embedded_server.state.executor.running_prompt_id == p["prompt_id"]
        await ws.wait(
            lambda s: any(m["data"]["prompt_id"] == p["prompt_id"] for m in s.json("execution_start"))
        )
        await ws.wait_done(p["prompt_id"])


async def test_a_full_queue_refuses_new_prompts_clearly(
    embedded_server: EmbeddedServer, monkeypatch: Any
) -> None:
    from comfy_reality.server import app

    monkeypatch.setattr(app, "MAX_PENDING", 1)
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=full") as ws,
    ):
        running = await post(http, graph(steps=300, nonce=81), client_id="full")
        await ws.wait(lambda s: len(s.json("progress")) >= 1)
        await post(http, graph(nonce=82), client_id="full")
        refused = await http.post("/prompt", json={"prompt": graph(nonce=83)})
        assert refused.status_code == 503 and "queue is full" in refused.text
        await http.post("/queue", json={"clear": True})
        await http.post("/interrupt", json={"prompt_id": running["prompt_id"]})
        await ws.wait_done(running["prompt_id"])


async def test_free_memory_drops_the_cache(embedded_server: EmbeddedServer) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=fr") as ws,
    ):
        first = await post(http, graph(nonce=90), client_id="fr")
        await ws.wait_done(first["prompt_id"])
        assert (await http.post("/free", json={"unload_models": True, "free_memory": True})).text == ""
        again = await post(http, graph(nonce=90), client_id="fr")
        await ws.wait_done(again["prompt_id"])
        assert [m["data"]["nodes"] for m in ws.json("execution_cached")] == [[], []]


async def test_partial_execution_targets_run_only_the_chosen_outputs(embedded_server: EmbeddedServer) -> None:
    prompt = graph(nonce=91)
    prompt["4"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "partial"}}
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        p = await post(http, prompt, partial_execution_targets=["4"])
        entry = await wait_history(http, p["prompt_id"])
        assert entry["prompt"][4] == ["4"]
        assert list(entry["outputs"]) == ["4"]
        none = await http.post("/prompt", json={"prompt": prompt, "partial_execution_targets": ["1"]})
        assert none.status_code == 400 and none.json()["error"]["type"] == "prompt_no_outputs"
