"""A ComfyUI look-alike that replays the recorded transcripts in ``tests/fixtures/protocol``.

HTTP requests are answered as recorded. ``POST /prompt`` with a recorded prompt body queues a
job; a single worker (ComfyUI runs one prompt at a time) then plays the WebSocket sequence the
recorder saw for that prompt to the socket holding the job's ``client_id`` (the newest one), or
to every socket where the recorded prompt had no ``client_id`` (broadcast types only, as the
real server does). Recorded prompt ids and client ids are rewritten to the ones the client
chose. ``status`` messages are generated from the replay's own queue.

Gates keep the recorded causality without recorded timing:

* the POST answer is held until the job's first ``executing`` went out (the real race);
* a recorded ``execution_interrupted`` is sent only after ``POST /interrupt`` for that job;
* a recorded socket close closes the client's socket; if the prompt still has messages after
  the recorded re-open, the worker waits for the client to reconnect, else the job finishes
  while the client is away (07);
* ``pause()`` keeps the worker from taking the next job, so tests can see pending prompts.

Every request's headers and every WebSocket handshake are recorded for auth tests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "protocol"
BROADCAST_TYPES = {"progress", "progress_state", "execution_interrupted"}


@dataclass
class RecordedHttp:
    method: str
    path: str
    params: dict[str, str]
    status: int
    label: str | None
    request_json: Any
    json_body: Any
    has_json: bool
    text: str | None
    headers: dict[str, str]
    length: int
    head_hex: str | None


@dataclass
class ScriptItem:
    kind: str  # "text" | "binary" | "close" | "open"
    payload: Any = None
    mtype: str | None = None


@dataclass
class RecordedPrompt:
    label: str | None
    request: dict[str, Any]
    status: int
    response: Any
    response_is_json: bool
    prompt_id: str | None
    client_id: str | None
    script: list[ScriptItem] = field(default_factory=list)
    history: dict[str, Any] | None = None
    used: bool = False

    @property
    def prompt(self) -> Any:
        return self.request.get("prompt")


def _references(line: dict[str, Any]) -> str | None:
    if line.get("binary"):
        decoded = line.get("decoded") or {}
        metadata = decoded.get("metadata")
        return metadata.get("prompt_id") if isinstance(metadata, dict) else None
    data = (line.get("json") or {}).get("data")
    if isinstance(data, dict) and isinstance(data.get("prompt_id"), str):
        return str(data["prompt_id"])
    return None


def _binary(line: dict[str, Any]) -> bytes:
    """Rebuild a binary frame from its recorded header, decoded fields and length."""
    decoded = line.get("decoded") or {}
    event_type = int(line["event_type_int"])
    head = bytes.fromhex(line["head_hex"])
    if event_type == 3:
        node = str(decoded["node_id"]).encode()
        return (
            event_type.to_bytes(4, "big")
            + len(node).to_bytes(4, "big")
            + node
            + str(decoded["text"]).encode()
        )
    if event_type == 4:
        return head  # rebuilt per job (metadata carries the prompt id); see _render_binary
    image = head[8:]
    return head[:8] + image + bytes(max(0, int(line["len"]) - len(head)))


class Transcript:
    """One recorded scenario: its HTTP exchanges and, per POST /prompt, the WS script."""

    def __init__(self, name: str) -> None:
        path = PROTOCOL_DIR / (name if name.endswith(".jsonl") else f"{name}.jsonl")
        self.name = path.stem
        self.lines = [
            json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        self.http: list[RecordedHttp] = []
        self.socket_client: dict[str, str | None] = {}
        self.prompts: list[RecordedPrompt] = []
        self._load()

    def _load(self) -> None:
        for line in self.lines:
            if line["dir"] == "ws_open":
                self.socket_client[line["client"]] = line.get("clientId")
            elif line["dir"] == "http":
                self.http.append(
                    RecordedHttp(
                        method=line["method"],
                        path=line["path"],
                        params={k: str(v) for k, v in (line.get("params") or {}).items()},
                        status=line["status"],
                        label=line.get("label"),
                        request_json=line.get("request_json"),
                        json_body=line.get("json"),
                        has_json="json" in line,
                        text=line.get("body"),
                        headers=line.get("headers") or {},
                        length=int(line.get("len") or 0),
                        head_hex=line.get("body_head_hex"),
                    )
                )
        histories: dict[str, dict[str, Any]] = {}
        for entry in self.http:
            if (
                entry.method == "GET"
                and entry.path.startswith("/history/")
                and isinstance(entry.json_body, dict)
            ):
                histories.update(entry.json_body)
        for entry in self.http:
            if entry.method != "POST" or entry.path not in ("/prompt", "/api/prompt"):
                continue
            request = entry.request_json if isinstance(entry.request_json, dict) else {}
            prompt_id = (
                entry.json_body.get("prompt_id")
                if entry.status == 200 and isinstance(entry.json_body, dict)
                else None
            )
            self.prompts.append(
                RecordedPrompt(
                    label=entry.label,
                    request=request,
                    status=entry.status,
                    response=entry.json_body if entry.has_json else (entry.text or ""),
                    response_is_json=entry.has_json,
                    prompt_id=prompt_id,
                    client_id=request.get("client_id"),
                    history=histories.get(prompt_id) if prompt_id else None,
                )
            )
        self._build_scripts()

    def _labels_for(self, recorded: RecordedPrompt) -> set[str]:
        if recorded.client_id is not None:
            return {label for label, cid in self.socket_client.items() if cid == recorded.client_id}
        for line in self.lines:
            if line["dir"] == "ws_in" and _references(line) == recorded.prompt_id:
                return {line["client"]}
        return set()

    def _build_scripts(self) -> None:
        by_labels: dict[frozenset[str], list[RecordedPrompt]] = {}
        for recorded in self.prompts:
            if recorded.prompt_id is not None:
                by_labels.setdefault(frozenset(self._labels_for(recorded)), []).append(recorded)
        for labels, prompts in by_labels.items():
            lines = [
                (i, line)
                for i, line in enumerate(self.lines)
                if line.get("client") in labels and line["dir"] in ("ws_in", "ws_close", "ws_open")
            ]
            spans: dict[str, tuple[int, int]] = {}
            for i, line in lines:
                ref = _references(line)
                if ref is not None and any(p.prompt_id == ref for p in prompts):
                    first, last = spans.get(ref, (i, i))
                    spans[ref] = (min(first, i), max(last, i))
            ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
            owner: dict[int, str] = {}
            for i, line in lines:
                ref = _references(line)
                if ref is not None:
                    if ref in spans:
                        owner[i] = ref
                    continue
                inside = next((pid for pid, (a, b) in ordered if a <= i <= b), None)
                after = next((pid for pid, (a, _) in ordered if a > i), None)
                before = next((pid for pid, (_, b) in reversed(ordered) if b < i), None)
                chosen = inside or (after if line["dir"] == "ws_in" else None) or before or after
                if chosen is not None:
                    owner[i] = chosen
            for recorded in prompts:
                script: list[ScriptItem] = []
                for i, line in lines:
                    if owner.get(i) != recorded.prompt_id:
                        continue
                    if line["dir"] == "ws_close":
                        script.append(ScriptItem("close"))
                    elif line["dir"] == "ws_open":
                        script.append(ScriptItem("open"))
                    elif line.get("binary"):
                        script.append(ScriptItem("binary", line, "binary"))
                    elif line.get("type") != "status":
                        script.append(ScriptItem("text", line["json"], line.get("type")))
                # The recorder closing its socket at the end is not a mid-run disconnect.
                while script and script[-1].kind == "close":
                    script.pop()
                recorded.script = script

    def prompt(self, index: int = 0, *, label: str | None = None) -> dict[str, Any]:
        """The ``prompt`` object of a recorded 200 POST /prompt (the ``index``-th, or by label)."""
        accepted = [p for p in self.prompts if p.status == 200]
        if label is not None:
            return dict(next(p for p in self.prompts if p.label == label).prompt)
        return dict(accepted[index].prompt)

    def recorded(self, *, label: str) -> RecordedPrompt:
        return next(p for p in self.prompts if p.label == label)


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Job:
    recorded: RecordedPrompt
    prompt_id: str
    number: int
    client_id: str | None
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    state: str = "pending"  # pending | running | done
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    early: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    history: dict[str, Any] | None = None
    current_node: str | None = None

    def queue_item(self) -> list[Any]:
        outputs = (self.recorded.history or {}).get("prompt", [None] * 5)[4] or []
        extra = dict(self.extra_data)
        if self.client_id is not None:
            extra["client_id"] = self.client_id
        return [self.number, self.prompt_id, self.prompt, extra, outputs]


class ReplayServer:
    """Serve one or more transcripts on 127.0.0.1 (random port); use as ``async with``."""

    def __init__(self, *transcripts: str | Transcript) -> None:
        self.transcripts = [t if isinstance(t, Transcript) else Transcript(t) for t in transcripts]
        self.requests: list[SeenRequest] = []
        self.ws_handshakes: list[SeenRequest] = []
        self.jobs: dict[str, Job] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.run_order: list[str] = []
        self._sockets: list[tuple[str, web.WebSocketResponse]] = []
        self._reconnected = asyncio.Event()
        self._work = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._number = 0
        self._forced: list[tuple[str, str, web.Response]] = []
        self._runner: web.AppRunner | None = None
        self._worker: asyncio.Task[None] | None = None
        self.url = ""
        self.port = 0

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> ReplayServer:
        app = web.Application(middlewares=[self._record])
        for prefix in ("", "/api"):
            app.router.add_get(f"{prefix}/ws", self._ws)
            app.router.add_post(f"{prefix}/prompt", self._post_prompt)
            app.router.add_get(f"{prefix}/queue", self._get_queue)
            app.router.add_post(f"{prefix}/queue", self._post_queue)
            app.router.add_post(f"{prefix}/interrupt", self._interrupt)
            app.router.add_get(f"{prefix}/history", self._get_history)
            app.router.add_get(f"{prefix}/history/{{prompt_id}}", self._get_history)
            app.router.add_post(f"{prefix}/history", self._post_history)
        app.router.add_route("*", "/{tail:.*}", self._recorded_answer)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.port}"
        self._worker = asyncio.get_running_loop().create_task(self._work_loop())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        for _, ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ controls
    def pause(self) -> None:
        """Keep the worker from taking the next job (queued prompts stay pending)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    async def drop_websockets(self) -> None:
        for _, ws in list(self._sockets):
            await ws.close()

    def respond_next(self, method: str, path: str, response: web.Response) -> None:
        """Answer the next ``method path`` with this response instead of the normal handler."""
        self._forced.append((method, path, response))

    def sockets_for(self, client_id: str) -> int:
        return sum(1 for cid, ws in self._sockets if cid == client_id and not ws.closed)

    # ----------------------------------------------------------------- helpers
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        seen = SeenRequest(request.method, request.path, dict(request.query), dict(request.headers))
        (self.ws_handshakes if request.path.endswith("/ws") else self.requests).append(seen)
        for i, (method, path, response) in enumerate(self._forced):
            if method == request.method and path == request.path:
                del self._forced[i]
                return response
        result: web.StreamResponse = await handler(request)
        return result

    def _remaining(self) -> int:
        return sum(1 for job in self.jobs.values() if job.state != "done")

    async def _send(self, client_id: str | None, payload: str | bytes) -> None:
        """To the newest socket holding ``client_id``; to every socket when it is None."""
        if client_id is not None:
            targets = [ws for cid, ws in self._sockets if cid == client_id and not ws.closed][-1:]
        else:
            targets = [ws for _, ws in self._sockets if not ws.closed]
        for ws in targets:
            try:
                if isinstance(payload, bytes):
                    await ws.send_bytes(payload)
                else:
                    await ws.send_str(payload)
            except (ConnectionError, RuntimeError):
                pass

    async def _broadcast_status(
        self, sid: str | None = None, ws: web.WebSocketResponse | None = None
    ) -> None:
        data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": self._remaining()}}}
        if sid is not None:
            data["sid"] = sid
        text = json.dumps({"type": "status", "data": data})
        if ws is not None:
            await ws.send_str(text)
            return
        for _, socket in list(self._sockets):
            if not socket.closed:
                try:
                    await socket.send_str(text)
                except (ConnectionError, RuntimeError):
                    pass

    def _rewrite(self, job: Job, text: str) -> str:
        recorded = job.recorded
        if recorded.prompt_id:
            text = text.replace(recorded.prompt_id, job.prompt_id)
        if recorded.client_id and job.client_id:
            text = text.replace(recorded.client_id, job.client_id)
        return text

    def _render_binary(self, job: Job, line: dict[str, Any]) -> bytes:
        if int(line["event_type_int"]) != 4:
            return _binary(line)
        decoded = line["decoded"]
        metadata = json.loads(self._rewrite(job, json.dumps(decoded["metadata"])))
        meta_bytes = json.dumps(metadata).encode()
        magic = bytes.fromhex(decoded.get("image_magic_hex", ""))
        image = magic + bytes(max(0, int(decoded.get("image_len", 0)) - len(magic)))
        return (4).to_bytes(4, "big") + len(meta_bytes).to_bytes(4, "big") + meta_bytes + image

    # ------------------------------------------------------------------ websocket
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
        await ws.prepare(request)
        client_id = request.query.get("clientId") or uuid.uuid4().hex
        self._sockets.append((client_id, ws))
        self._reconnected.set()
        await self._broadcast_status(sid=client_id, ws=ws)
        first = True
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT and first:
                    try:
                        frame = json.loads(message.data)
                    except ValueError:
                        frame = None
                    if isinstance(frame, dict) and frame.get("type") == "feature_flags":
                        await ws.send_str(
                            json.dumps(
                                {
                                    "type": "feature_flags",
                                    "data": {"supports_preview_metadata": True, "max_upload_size": 104857600},
                                }
                            )
                        )
                first = False
        finally:
            self._sockets = [(cid, s) for cid, s in self._sockets if s is not ws]
        return ws

    # -------------------------------------------------------------------- prompts
    def _match(self, body: dict[str, Any]) -> RecordedPrompt | None:
        candidates = [p for t in self.transcripts for p in t.prompts if p.prompt == body.get("prompt")]
        unused = [p for p in candidates if not p.used]
        chosen = (unused or candidates or [None])[0]
        if chosen is not None:
            chosen.used = True
        return chosen

    async def _post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
        recorded = self._match(body) if isinstance(body, dict) else None
        if recorded is None:
            return web.Response(status=500, text="replay: no recorded POST /prompt has this prompt body")
        if recorded.status != 200:
            if recorded.response_is_json:
                return web.json_response(recorded.response, status=recorded.status)
            return web.Response(status=recorded.status, text=str(recorded.response))
        self._number += 1
        prompt_id = body.get("prompt_id") or str(uuid.uuid4())
        number = -self._number if body.get("front") else self._number
        job = Job(
            recorded=recorded,
            prompt_id=prompt_id,
            number=number,
            client_id=body.get("client_id"),
            prompt=body["prompt"],
            extra_data=body.get("extra_data") or {},
        )
        self.jobs[prompt_id] = job
        await self._broadcast_status()
        self._work.set()
        if self._running.is_set() and not any(
            j.state == "running" for j in self.jobs.values() if j is not job
        ):
            try:
                await asyncio.wait_for(job.early.wait(), timeout=2.0)  # the real race: messages first
            except TimeoutError:
                pass
        response = dict(recorded.response)
        response["prompt_id"] = prompt_id
        response["number"] = number
        return web.json_response(json.loads(self._rewrite(job, json.dumps(response))))

    async def _work_loop(self) -> None:
        while True:
            await self._running.wait()
            pending = sorted((j for j in self.jobs.values() if j.state == "pending"), key=lambda j: j.number)
            if not pending:
                self._work.clear()
                await self._work.wait()
                continue
            await self._run(pending[0])

    async def _run(self, job: Job) -> None:
        job.state = "running"
        self.run_order.append(job.prompt_id)
        await self._broadcast_status()
        outcome = "success"
        script = job.recorded.script
        index = 0
        while index < len(script):
            item = script[index]
            index += 1
            if item.kind == "close":
                for cid, ws in list(self._sockets):
                    if cid == job.client_id:
                        await ws.close()
                if not any(it.kind in ("text", "binary") for it in script[index:]):
                    break  # the prompt finishes while the client is away
                self._reconnected.clear()
                while not self.sockets_for(job.client_id or ""):
                    await self._reconnected.wait()
                    self._reconnected.clear()
                continue
            if item.kind == "open":
                continue
            if item.kind == "binary":
                await self._send(job.client_id, self._render_binary(job, item.payload))
                continue
            message = item.payload
            mtype = item.mtype
            if mtype == "execution_interrupted" and not job.interrupt.is_set():
                job.early.set()
                await job.interrupt.wait()
            if mtype == "execution_interrupted":
                outcome = "interrupted"
            elif mtype == "execution_error" and message["data"].get("exception_type") != "ExecutionBlocked":
                outcome = "error"
            if mtype == "executing" and isinstance(message["data"], dict):
                job.current_node = message["data"].get("node") or job.current_node
            text = self._rewrite(job, json.dumps(message))
            if job.client_id is not None:
                await self._send(job.client_id, text)
            elif mtype in BROADCAST_TYPES:
                await self._send(None, text)  # a prompt without client_id: only these reach anyone
            if mtype == "executing":
                job.early.set()
            await asyncio.sleep(0)
        job.history = self._history_for(job, outcome)
        job.state = "done"
        job.early.set()
        job.finished.set()
        self.history[job.prompt_id] = job.history
        await self._broadcast_status()

    def _history_for(self, job: Job, outcome: str) -> dict[str, Any]:
        recorded = job.recorded.history
        if recorded is not None:
            entry = json.loads(self._rewrite(job, json.dumps(recorded)))
            entry["prompt"] = job.queue_item()
            return entry  # type: ignore[no-any-return]
        outputs: dict[str, Any] = {}
        messages: list[Any] = []
        for item in job.recorded.script:
            if item.kind != "text":
                continue
            data = json.loads(self._rewrite(job, json.dumps(item.payload["data"])))
            if item.mtype == "executed":
                outputs[data["node"]] = data["output"]
            if item.mtype in (
                "execution_start",
                "execution_cached",
                "execution_success",
                "execution_error",
                "execution_interrupted",
            ):
                messages.append([item.mtype, data])
        status_str = "success" if outcome == "success" else "error"
        return {
            "prompt": job.queue_item(),
            "outputs": outputs,
            "status": {"status_str": status_str, "completed": outcome == "success", "messages": messages},
            "meta": {},
        }

    # ---------------------------------------------------------------------- queue
    async def _get_queue(self, request: web.Request) -> web.Response:
        running = [j.queue_item() for j in self.jobs.values() if j.state == "running"]
        pending = [j.queue_item() for j in self.jobs.values() if j.state == "pending"]
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            for prompt_id in [p for p, j in self.jobs.items() if j.state == "pending"]:
                del self.jobs[prompt_id]
        for prompt_id in body.get("delete") or []:
            job = self.jobs.get(prompt_id)
            if job is not None and job.state == "pending":
                del self.jobs[prompt_id]
        await self._broadcast_status()
        return web.Response(status=200)

    async def _interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        target = body.get("prompt_id") if isinstance(body, dict) else None
        for job in self.jobs.values():
            if job.state == "running" and (target is None or target == job.prompt_id):
                job.interrupt.set()
        return web.Response(status=200)

    async def _get_history(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info.get("prompt_id")
        if prompt_id is not None:
            entry = self.history.get(prompt_id)
            return web.json_response({prompt_id: entry} if entry is not None else {})
        items = list(self.history.items())
        if "max_items" in request.query:
            items = items[-int(request.query["max_items"]) :]
        return web.json_response(dict(items))

    async def _post_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self.history.clear()
        for prompt_id in body.get("delete") or []:
            self.history.pop(prompt_id, None)
        return web.Response(status=200)

    # -------------------------------------------------------------- everything else
    async def _recorded_answer(self, request: web.Request) -> web.Response:
        path = request.path
        for transcript in self.transcripts:
            for entry in transcript.http:
                if entry.method != request.method or entry.path != path:
                    continue
                if entry.params and any(request.query.get(k) != v for k, v in entry.params.items()):
                    continue
                content_type = entry.headers.get("content-type", "")
                if entry.has_json:
                    return web.json_response(entry.json_body, status=entry.status)
                if entry.text is not None:
                    return web.Response(
                        status=entry.status,
                        text=entry.text,
                        content_type=content_type.split(";")[0] or "text/plain",
                    )
                body = bytes.fromhex(entry.head_hex or "")
                body += bytes(max(0, entry.length - len(body)))
                return web.Response(
                    status=entry.status, body=body, content_type=content_type.split(";")[0] or None
                )
        return web.Response(status=404)
