"""Reader for the recorded ComfyUI transcripts (tests/fixtures/protocol/*.jsonl) and a replayer.

The replayer performs the recorded actions (HTTP requests, WebSocket opens/sends/closes) against
a live server in the recorded order, using the same clientIds, and keeps every message each
socket receives. Before each action it waits until every open socket has received what the
recording had received by then (compared structurally), so "interrupt mid-run" happens mid-run
at any server speed.

Structural comparison: WS messages become tokens (the message type, ``bin1``/``bin3``/``bin4``
for binary frames); runs of progress-like tokens (progress, progress_state, previews) collapse
into one token carrying the set of kinds seen, because how many steps fit into a timed gap is
timing, not protocol.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "protocol"

PROGRESS_KINDS = frozenset({"progress", "progress_state", "bin1", "bin4"})
_NODE_KEY = re.compile(r"^[0-9][0-9.]*$")
_UUID_KEY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Entry:
    """One transcript line."""

    raw: dict[str, Any]

    @property
    def dir(self) -> str:
        return str(self.raw["dir"])

    @property
    def t(self) -> float:
        return float(self.raw["t"])

    @property
    def action_time(self) -> float:
        """When the recorder started this action (HTTP lines are written at response time)."""
        return float(self.raw.get("t_sent", self.raw["t"]))

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


@dataclass
class Transcript:
    name: str
    entries: list[Entry]

    @classmethod
    def load(cls, name: str) -> Transcript:
        path = PROTOCOL_DIR / (name if name.endswith(".jsonl") else f"{name}.jsonl")
        entries = [Entry(json.loads(line)) for line in path.read_text("utf-8").splitlines() if line.strip()]
        return cls(path.stem, entries)

    @property
    def meta(self) -> dict[str, Any]:
        return self.entries[0].raw

    def http(self) -> list[Entry]:
        return [e for e in self.entries if e.dir == "http"]

    def ws_in(self, client: str | None = None) -> list[Entry]:
        return [e for e in self.entries if e.dir == "ws_in" and (client is None or e["client"] == client)]

    def actions(self) -> list[Entry]:
        acts = [e for e in self.entries if e.dir in ("http", "ws_open", "ws_out", "ws_close")]
        return sorted(acts, key=lambda e: e.action_time)

    def connections(self) -> list[tuple[str, list[Entry]]]:
        """Per socket connection (a label can reconnect): its label and received lines."""
        out: list[tuple[str, list[Entry]]] = []
        current: dict[str, int] = {}
        for e in self.entries:
            if e.dir == "ws_open":
                current[e["client"]] = len(out)
                out.append((e["client"], []))
            elif e.dir == "ws_in":
                out[current[e["client"]]][1].append(e)
        return out


def recorded_message(e: Entry) -> dict[str, Any] | bytes:
    """A ws_in line as the message itself: the JSON dict, or a stand-in for a binary frame."""
    if e.get("binary"):
        head = bytes.fromhex(e["head_hex"])
        return head
    return e["json"]  # type: ignore[no-any-return]


def token(message: dict[str, Any] | bytes) -> str:
    if isinstance(message, bytes | bytearray):
        return f"bin{struct.unpack('>I', bytes(message[:4]))[0]}"
    return str(message["type"])


@dataclass(frozen=True)
class Tok:
    name: str
    kinds: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"P{{{','.join(sorted(self.kinds))}}}" if self.name == "P" else self.name


def collapse(tokens: list[str]) -> list[Tok]:
    out: list[Tok] = []
    for t in tokens:
        if t in PROGRESS_KINDS:
            if out and out[-1].name == "P":
                out[-1] = Tok("P", out[-1].kinds | {t})
            else:
                out.append(Tok("P", frozenset({t})))
        else:
            out.append(Tok(t))
    return out


def is_prefix(prefix: list[Tok], seq: list[Tok]) -> bool:
    """``seq`` has got at least as far as the recording had at ``prefix``.

    Every non-progress message the recording had received must have arrived, counted per type
    (sibling nodes run in a random order, and status broadcasts race with the worker); if the
    recording was inside a progress run, ``seq`` must have entered a run after that point. How
    far into a run is timing, not protocol.
    """
    wanted = Counter(t.name for t in prefix if t.name != "P")
    have: Counter[str] = Counter()
    reached = -1 if not wanted else None
    for index, t in enumerate(seq):
        if t.name == "P":
            continue
        have[t.name] += 1
        if reached is None and all(have[name] >= count for name, count in wanted.items()):
            reached = index
    if reached is None:
        return False
    if prefix and prefix[-1].name == "P":
        return any(t.name == "P" for t in seq[reached + 1 :])
    return True


def without_status(tokens: list[Tok]) -> list[Tok]:
    """Status broadcasts from other requests land anywhere inside a progress run: drop them
    and merge the runs they split."""
    return collapse_tokens([t for t in tokens if t.name != "status"])


def collapse_tokens(tokens: list[Tok]) -> list[Tok]:
    out: list[Tok] = []
    for t in tokens:
        if t.name == "P" and out and out[-1].name == "P":
            out[-1] = Tok("P", out[-1].kinds | t.kinds)
        else:
            out.append(t)
    return out


_TERMINAL = frozenset({"execution_success", "execution_interrupted"})


def canonical(tokens: list[Tok]) -> list[Any]:
    """Node segments of each prompt sorted: sibling nodes run in an order ComfyUI takes from a
    Python set (random per process), so only the set of per-node message shapes is protocol."""
    out: list[Any] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        out.append(t)
        i += 1
        if t.name != "execution_cached":
            continue
        segments: list[tuple[Tok, ...]] = []
        current: list[Tok] = []
        while i < len(tokens):
            t = tokens[i]
            ends = t.name in _TERMINAL or (
                t.name == "execution_error" and not (i + 1 < len(tokens) and tokens[i + 1].name == "P")
            )
            if ends:
                break
            if (
                t.name in ("executing", "executed")
                and current
                and (t.name == "executing" or current[0].name != "executing")
            ):
                segments.append(tuple(current))
                current = []
            current.append(t)
            i += 1
        if current:
            segments.append(tuple(current))
        out.append(sorted(segments, key=repr))
    return out


def key_paths(obj: Any, prefix: str = "") -> set[str]:
    """The structure of a JSON value: dotted key paths, node/prompt-id keys replaced by ``*``."""
    paths: set[str] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            name = (
                "*"
                if (_NODE_KEY.match(str(key)) or _UUID_KEY.match(str(key)) or str(key).startswith("client-"))
                else str(key)
            )
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            if name != "inputs":  # a node's inputs are the graph's content, not protocol
                paths |= key_paths(value, path)
    elif isinstance(obj, list):
        for value in obj:
            paths |= key_paths(value, f"{prefix}[]")
    return paths


def small_png(width: int = 4, height: int = 4) -> bytes:
    raw = b"".join(b"\x00" + bytes([200, 100, 50]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class Connection:
    label: str
    client_id: str | None
    ws: Any
    messages: list[dict[str, Any] | bytes] = field(default_factory=list)
    closed_by_us: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    def tokens(self) -> list[Tok]:
        return collapse([token(m) for m in self.messages])

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                self.messages.append(raw if isinstance(raw, bytes) else json.loads(raw))
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.changed.set()


@dataclass
class HttpResult:
    entry: Entry
    response: httpx.Response


class Replayer:
    """Performs a transcript's actions against ``base_url`` and collects what came back."""

    def __init__(self, transcript: Transcript, base_url: str, *, sync_timeout: float = 15.0) -> None:
        self.transcript = transcript
        self.base_url = base_url
        self.ws_base = base_url.replace("http://", "ws://")
        self.sync_timeout = sync_timeout
        self.connections: list[Connection] = []
        self._open: dict[str, Connection] = {}
        self.http_results: list[HttpResult] = []
        self.id_map: dict[str, str] = {}
        self._recorded_connections = transcript.connections()

    # -- id mapping ------------------------------------------------------------------------
    def _map(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.id_map.get(value, value)
        if isinstance(value, list):
            return [self._map(v) for v in value]
        if isinstance(value, dict):
            return {k: self._map(v) for k, v in value.items()}
        return value

    def _map_path(self, path: str) -> str:
        return "/".join(self.id_map.get(part, part) for part in path.split("/"))

    # -- sync ------------------------------------------------------------------------------
    def _recorded_prefix(self, index: int, before: float) -> list[Tok]:
        _, lines = self._recorded_connections[index]
        return collapse([token(recorded_message(e)) for e in lines if e.t < before])

    async def _wait_for(self, conn: Connection, index: int, target: list[Tok]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sync_timeout
        while not is_prefix(target, conn.tokens()):
            if conn.ws.state.name == "CLOSED" and conn.reader is not None and conn.reader.done():
                raise AssertionError(
                    f"{self.transcript.name}: socket {conn.label} closed before receiving {target}; got {conn.tokens()}"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.transcript.name}: socket {conn.label} never got to {target}\n got {conn.tokens()}"
                )
            conn.changed.clear()
            try:
                await asyncio.wait_for(conn.changed.wait(), remaining)
            except TimeoutError:
                pass

    async def _sync(self, before: float) -> None:
        for index, conn in enumerate(self.connections):
            if conn.closed_by_us:
                continue
            await self._wait_for(conn, index, self._recorded_prefix(index, before))

    # -- actions ---------------------------------------------------------------------------
    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30.0) as http:
            try:
                for action in self.transcript.actions():
                    await self._sync(action.action_time)
                    await self._perform(action, http)
                await self._sync(float("inf"))
            finally:
                for conn in self.connections:
                    if not conn.closed_by_us:
                        await conn.ws.close()
                    if conn.reader is not None:
                        await conn.reader

    async def _perform(self, e: Entry, http: httpx.AsyncClient) -> None:
        if e.dir == "ws_open":
            first = next(
                (m for m in self.transcript.ws_in(e["client"]) if m.t >= e.t and m.get("type") == "status"),
                None,
            )
            if first is not None:
                await self._wait_for_queue(
                    http, first["json"]["data"]["status"]["exec_info"]["queue_remaining"]
                )
            ws = await websockets.connect(self.ws_base + e["url"], max_size=None)
            conn = Connection(e["client"], e["clientId"], ws)
            conn.reader = asyncio.create_task(conn.read())
            self.connections.append(conn)
            self._open[e["client"]] = conn
        elif e.dir == "ws_out":
            await self._open[e["client"]].ws.send(json.dumps(e["json"]))
        elif e.dir == "ws_close":
            conn = self._open.pop(e["client"])
            conn.closed_by_us = True
            await conn.ws.close()
            if conn.reader is not None:
                await conn.reader
        elif e.dir == "http":
            response = await self._request(e, http)
            if e["method"] == "POST" and e["path"] == "/prompt" and response.status_code == 200:
                recorded = e.get("json") or {}
                if "prompt_id" in recorded:
                    self.id_map[recorded["prompt_id"]] = response.json()["prompt_id"]
            if "json" in e.raw and response.headers.get("content-type", "").startswith("application/json"):
                self._learn_filenames(e["json"], response.json())
            self.http_results.append(HttpResult(e, response))

    def _learn_filenames(self, recorded: Any, ours: Any) -> None:
        """Output file names carry counters: map the recorded names onto ours (same places)."""
        if isinstance(recorded, dict) and isinstance(ours, dict):
            if isinstance(recorded.get("filename"), str) and isinstance(ours.get("filename"), str):
                self.id_map[recorded["filename"]] = ours["filename"]
            for key, value in recorded.items():
                other = ours.get(self.id_map.get(key, key))
                if other is not None:
                    self._learn_filenames(value, other)
        elif isinstance(recorded, list) and isinstance(ours, list):
            for a, b in zip(recorded, ours, strict=False):
                self._learn_filenames(a, b)

    async def _wait_for_queue(self, http: httpx.AsyncClient, remaining: int) -> None:
        """Before a recorded (re)connect: get the server to the queue depth the recording saw."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sync_timeout
        while True:
            current = (await http.get("/prompt")).json()["exec_info"]["queue_remaining"]
            if current == remaining:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{self.transcript.name}: queue never got to {remaining} (at {current})")
            await asyncio.sleep(0.005)

    async def _request(self, e: Entry, http: httpx.AsyncClient) -> httpx.Response:
        kwargs: dict[str, Any] = {}
        if e.get("params"):
            kwargs["params"] = self._map(e["params"])
        if "request_json" in e.raw and e["request_json"] is not None:
            kwargs["json"] = self._map(e["request_json"])
        elif "request_body_raw" in e.raw:
            kwargs["content"] = e["request_body_raw"].encode()
        elif "request_files" in e.raw:
            files = {}
            for name, spec in e["request_files"].items():
                files[name] = (spec["filename"], io.BytesIO(small_png()), spec["content_type"])
            kwargs["files"] = files
        return await http.request(e["method"], self._map_path(e["path"]), **kwargs)

    # -- results ---------------------------------------------------------------------------
    def pairs(self) -> list[tuple[Connection, list[Entry]]]:
        return [
            (conn, lines)
            for conn, (_, lines) in zip(self.connections, self._recorded_connections, strict=True)
        ]


def binary_shape(frame: bytes) -> tuple[str, set[str]]:
    """What a binary frame carries: image format and magic, TEXT's node id, metadata keys."""
    kind = struct.unpack(">I", frame[:4])[0]
    if kind == 1:
        fmt = struct.unpack(">I", frame[4:8])[0]
        return "bin1", {f"format={fmt}", f"magic={frame[8:12].hex()}"}
    if kind == 3:
        n = struct.unpack(">I", frame[4:8])[0]
        return "bin3", {f"node={frame[8 : 8 + n].decode()}", "text"}
    if kind == 4:
        n = struct.unpack(">I", frame[4:8])[0]
        meta = json.loads(frame[8 : 8 + n])
        image = frame[8 + n : 12 + n]
        return "bin4", {
            *(f"meta.{k}" for k in meta),
            f"image_type={meta['image_type']}",
            f"magic={image.hex()}",
        }
    return f"bin{kind}", set()


def recorded_binary_shape(e: Entry) -> tuple[str, set[str]]:
    decoded = e["decoded"]
    kind = e["event_type_int"]
    if kind == 1:
        return "bin1", {f"format={e['image_format_int']}", f"magic={decoded['image_magic_hex'][:8]}"}
    if kind == 3:
        return "bin3", {f"node={decoded['node_id']}", "text"}
    if kind == 4:
        meta = decoded["metadata"]
        return "bin4", {
            *(f"meta.{k}" for k in meta),
            f"image_type={meta['image_type']}",
            f"magic={decoded['image_magic_hex'][:8]}",
        }
    return f"bin{kind}", set()


def fields_by_type(messages: list[dict[str, Any] | bytes]) -> dict[str, set[str]]:
    """Per message type, the union of field paths (binary frames: what binary_shape reports)."""
    out: dict[str, set[str]] = {}
    for m in messages:
        if isinstance(m, bytes | bytearray):
            kind, shape = binary_shape(bytes(m))
            out.setdefault(kind, set()).update(shape)
            continue
        out.setdefault(m["type"], set()).update(key_paths(m["data"]))
    return out


def recorded_fields_by_type(lines: list[Entry]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in lines:
        if e.get("binary"):
            kind, shape = recorded_binary_shape(e)
            out.setdefault(kind, set()).update(shape)
        else:
            out.setdefault(e["json"]["type"], set()).update(key_paths(e["json"]["data"]))
    return out
