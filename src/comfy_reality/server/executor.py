"""Simulated prompt execution with ComfyUI's scheduling, caching and message rules.

What is reproduced (from reading ComfyUI's execution.py / comfy_execution, not copying it):

* nodes run in ComfyUI's order: a topological dissolve from the output nodes, picking output
  nodes first, then nodes that unblock an output, then nodes two steps from one;
* outputs are cached by input signature; a node whose signature is cached is reported in
  ``execution_cached`` and not run again; cached output nodes re-send ``executed``;
* every message goes to the prompt's ``client_id``; with no client_id, messages that ComfyUI
  sends to ``server.client_id`` unguarded (progress, progress_state, previews, ExecutionBlocked
  errors, execution_interrupted) are broadcast and the guarded ones are not sent at all;
* node expansion (ephemeral ids such as ``2.0.0.1``) and ExecutionBlocker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from comfy_reality.logs import get_logger
from comfy_reality.server.catalogue import NodeCatalogue
from comfy_reality.server.values import ExecutionBlocker, ImageValue, format_value

if TYPE_CHECKING:
    from comfy_reality.server.hub import Hub
    from comfy_reality.server.storage import FileStore

log = get_logger("comfy_reality.server.executor")

PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4


class Interrupted(Exception):
    """ComfyUI's InterruptProcessingException."""


class NodeFailure(Exception):
    """A node raised: carries what execution_error reports."""

    def __init__(self, exception_type: str, message: str, traceback: list[str]) -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message
        self.traceback = traceback


@dataclass
class NodeResult:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None = None
    # Node expansion: new nodes {id: {"class_type", "inputs"}}; ``outputs`` may then hold links.
    expand: dict[str, Any] | None = None


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


class DynamicPrompt:
    """The prompt plus nodes created at run time by expansion."""

    def __init__(self, original: dict[str, Any]) -> None:
        self.original = original
        self.ephemeral: dict[str, Any] = {}
        self.parents: dict[str, str] = {}
        self.display: dict[str, str] = {}

    def get_node(self, node_id: str) -> dict[str, Any]:
        if node_id in self.ephemeral:
            return self.ephemeral[node_id]  # type: ignore[no-any-return]
        return self.original[node_id]  # type: ignore[no-any-return]

    def has_node(self, node_id: str) -> bool:
        return node_id in self.original or node_id in self.ephemeral

    def add_ephemeral(self, node_id: str, node: dict[str, Any], parent: str, display: str) -> None:
        self.ephemeral[node_id] = node
        self.parents[node_id] = parent
        self.display[node_id] = display

    def real_node_id(self, node_id: str) -> str:
        while node_id in self.parents:
            node_id = self.parents[node_id]
        return node_id

    def parent_node_id(self, node_id: str) -> str | None:
        return self.parents.get(node_id)

    def display_node_id(self, node_id: str) -> str:
        while node_id in self.display:
            node_id = self.display[node_id]
        return node_id


class ExecutionList:
    """Topological dissolve of the graph, with ComfyUI's UX-friendly pick order."""

    def __init__(
        self, prompt: DynamicPrompt, catalogue: NodeCatalogue, is_cached: Callable[[str], bool]
    ) -> None:
        self.prompt = prompt
        self.catalogue = catalogue
        self.is_cached = is_cached
        self.pending: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, dict[int, bool]]] = {}
        self.staged: str | None = None

    def add_node(self, node_id: str) -> None:
        stack = [node_id]
        links: list[tuple[str, int, str]] = []
        while stack:
            uid = stack.pop()
            if uid in self.pending:
                continue
            self.pending[uid] = True
            self.block_count[uid] = 0
            self.blocking[uid] = {}
            for value in self.prompt.get_node(uid)["inputs"].values():
                if is_link(value) and not self.is_cached(value[0]):
                    stack.append(value[0])
                    links.append((value[0], value[1], uid))
        for link in links:
            self.add_strong_link(*link)

    def add_strong_link(self, from_id: str, socket: int, to_id: str) -> None:
        if self.is_cached(from_id):
            return
        self.add_node(from_id)
        if to_id not in self.blocking[from_id]:
            self.blocking[from_id][to_id] = {}
            self.block_count[to_id] += 1
        self.blocking[from_id][to_id][socket] = True

    def is_empty(self) -> bool:
        return not self.pending

    def _is_output(self, node_id: str) -> bool:
        return self.catalogue.is_output(self.prompt.get_node(node_id)["class_type"])

    def stage(self) -> str | None:
        ready = [n for n in self.pending if self.block_count[n] == 0]
        if not ready:
            return None
        self.staged = self._pick(ready)
        return self.staged

    def _pick(self, ready: list[str]) -> str:
        for n in ready:
            if self._is_output(n):
                return n
        for n in ready:
            if any(self._is_output(b) for b in self.blocking[n]):
                return n
        for n in ready:
            for b in self.blocking[n]:
                if any(self._is_output(b2) for b2 in self.blocking[b]):
                    return n
        return ready[0]

    def unstage(self) -> None:
        self.staged = None

    def complete(self) -> None:
        node_id = self.staged
        assert node_id is not None
        del self.pending[node_id]
        for blocked in self.blocking.pop(node_id):
            self.block_count[blocked] -= 1
        self.staged = None


@dataclass
class _NodeProgress:
    state: str
    value: float
    max: float


PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")


def resolve_preview_method(override: Any, default: str) -> str:
    """latent_preview.set_preview_method, run per prompt by ComfyUI since late 2025.

    A known method name wins; absent, ``"default"`` or anything unknown gives the server's own.
    """
    if isinstance(override, str) and override in PREVIEW_METHODS:
        return override
    return default


@dataclass
class RunState:
    """Per-prompt execution state that nodes see through their NodeContext."""

    prompt_id: str
    client_id: str | None
    prompt: DynamicPrompt
    extra_data: dict[str, Any]
    preview_method: str = "auto"
    progress: dict[str, _NodeProgress] = field(default_factory=dict)


class NodeContext:
    """What a simulated node may do: wait, report progress, send text, write files."""

    def __init__(self, executor: PromptExecutor, run: RunState, node_id: str) -> None:
        self._executor = executor
        self._run = run
        self.node_id = node_id
        self.class_type: str = run.prompt.get_node(node_id)["class_type"]
        self.prompt_id = run.prompt_id
        self.display_node_id = run.prompt.display_node_id(node_id)
        self.extra_data = run.extra_data
        self.preview_method = run.preview_method  # what the sampler's latent previews use
        self.store = executor.store
        self.speed = executor.speed

    def return_types(self) -> tuple[Any, ...]:
        return self._executor.catalogue.return_types(self.class_type)

    @property
    def original_prompt(self) -> dict[str, Any]:
        return self._run.prompt.original

    async def sleep(self, seconds: float) -> None:
        """Simulated work, scaled by the server's speed; an interrupt cuts it short."""
        await self._executor.sleep(seconds)

    def check_interrupt(self) -> None:
        self._executor.check_interrupt()

    async def progress(
        self,
        value: int | float,
        total: int | float,
        preview: ImageValue | None = None,
        preview_format: str = "JPEG",
    ) -> None:
        """comfy.utils.ProgressBar.update_absolute as the server's hook handles it."""
        await self._executor.report_progress(self._run, self.node_id, value, total, preview, preview_format)

    async def progress_text(self, text: str) -> None:
        """PromptServer.send_progress_text without a sid: broadcast to every socket."""
        await self._executor.send_text(text, self.node_id)


NodeBehaviour = Callable[[NodeContext, dict[str, Any]], Awaitable[NodeResult]]


@dataclass
class _CacheEntry:
    outputs: list[Any]
    ui: dict[str, Any] | None = None


class PromptExecutor:
    """Runs one prompt at a time; owns the output cache that survives between prompts."""

    def __init__(
        self,
        catalogue: NodeCatalogue,
        hub: Hub,
        store: FileStore,
        behaviours: Callable[[str], NodeBehaviour],
        speed: float,
    ) -> None:
        self.catalogue = catalogue
        self.hub = hub
        self.store = store
        self.behaviour_for = behaviours
        self.speed = speed
        # The server's --preview-method; a prompt's extra_data.preview_method overrides it.
        self.default_preview_method = "auto"
        self._cache: dict[str, _CacheEntry] = {}
        self._interrupt = asyncio.Event()
        self.running_prompt_id: str | None = None
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.status_messages: list[tuple[str, dict[str, Any]]] = []
        self.success = True
        # Extra seconds per progress step (not scaled by speed): the "slow server" fault.
        self.step_delay: Callable[[], float] = lambda: 0.0

    # -- interrupt -------------------------------------------------------------------------
    def interrupt(self) -> None:
        self._interrupt.set()

    def check_interrupt(self) -> None:
        if self._interrupt.is_set():
            self._interrupt.clear()
            raise Interrupted()

    async def sleep(self, seconds: float) -> None:
        delay = max(0.0, seconds) / self.speed
        if delay <= 0:
            await asyncio.sleep(0)
        else:
            try:
                await asyncio.wait_for(self._interrupt.wait(), timeout=delay)
            except TimeoutError:
                pass
        self.check_interrupt()

    def reset_cache(self) -> None:
        self._cache.clear()

    # -- messages --------------------------------------------------------------------------
    async def _add_message(self, run: RunState, event: str, data: dict[str, Any], *, broadcast: bool) -> None:
        data = {**data, "timestamp": int(time.time() * 1000)}
        self.status_messages.append((event, data))
        if run.client_id is not None or broadcast:
            await self.hub.send_json(event, data, run.client_id)

    async def _progress_state(self, run: RunState) -> None:
        nodes = {
            node_id: {
                "value": p.value,
                "max": p.max,
                "state": p.state,
                "node_id": node_id,
                "prompt_id": run.prompt_id,
                "display_node_id": run.prompt.display_node_id(node_id),
                "parent_node_id": run.prompt.parent_node_id(node_id),
                "real_node_id": run.prompt.real_node_id(node_id),
            }
            for node_id, p in run.progress.items()
            if p.state != "pending"
        }
        await self.hub.send_json(
            "progress_state", {"prompt_id": run.prompt_id, "nodes": nodes}, run.client_id
        )

    async def _start_progress(self, run: RunState, node_id: str) -> None:
        run.progress[node_id] = _NodeProgress("running", 0.0, 1.0)
        await self._progress_state(run)

    async def _finish_progress(self, run: RunState, node_id: str) -> None:
        entry = run.progress.get(node_id)
        if entry is None:
            entry = run.progress[node_id] = _NodeProgress("pending", 0, 1)
        entry.state = "finished"
        entry.value = entry.max
        await self._progress_state(run)

    async def report_progress(
        self,
        run: RunState,
        node_id: str,
        value: int | float,
        total: int | float,
        preview: ImageValue | None,
        preview_format: str,
    ) -> None:
        value = min(value, total)
        extra = self.step_delay()
        if extra > 0:
            await self.sleep(extra * self.speed)
        self.check_interrupt()
        entry = run.progress.setdefault(node_id, _NodeProgress("running", 0, 1))
        entry.state, entry.value, entry.max = "running", value, total
        await self._progress_state(run)
        image: bytes | None = None
        png = preview_format == "PNG"
        mime = "image/png" if png else "image/jpeg"
        fmt = 2 if png else 1  # the u32 after event type 1: 1 = JPEG, 2 = PNG
        if preview is not None:
            image = await self.store.preview_bytes(preview, "PNG" if png else "JPEG")
        with_metadata = self.hub.supports_preview_metadata(run.client_id)
        if image is not None and with_metadata:
            metadata = {
                "node_id": node_id,
                "prompt_id": run.prompt_id,
                "display_node_id": run.prompt.display_node_id(node_id),
                "parent_node_id": run.prompt.parent_node_id(node_id),
                "real_node_id": run.prompt.real_node_id(node_id),
                "image_type": mime,
            }
            meta = json.dumps(metadata).encode()
            await self.hub.send_bytes(
                PREVIEW_IMAGE_WITH_METADATA, struct.pack(">I", len(meta)) + meta + image, run.client_id
            )
        await self.hub.send_json(
            "progress",
            {"value": value, "max": total, "prompt_id": run.prompt_id, "node": node_id},
            run.client_id,
        )
        if image is not None and not with_metadata:
            await self.hub.send_bytes(PREVIEW_IMAGE, struct.pack(">I", fmt) + image, run.client_id)

    async def send_text(self, text: str, node_id: str) -> None:
        node = node_id.encode()
        await self.hub.send_bytes(TEXT, struct.pack(">I", len(node)) + node + text.encode(), None)

    # -- caching ---------------------------------------------------------------------------
    def _signatures(self, prompt: dict[str, Any]) -> dict[str, str]:
        """Input signature per node: class, constants and the signatures of linked ancestors."""
        memo: dict[str, str] = {}

        def sig(node_id: str, trail: frozenset[str]) -> str:
            if node_id in memo:
                return memo[node_id]
            node = prompt.get(node_id)
            if node is None or node_id in trail:
                return f"missing:{node_id}"
            parts: list[Any] = [node["class_type"]]
            for name in sorted(node.get("inputs", {})):
                value = node["inputs"][name]
                if is_link(value):
                    parts.append([name, "link", sig(value[0], trail | {node_id}), value[1]])
                else:
                    parts.append([name, value])
            volatile = self.store.volatility_token(node["class_type"], node.get("inputs", {}))
            if volatile is not None:
                parts.append(["volatile", volatile])
            digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
            memo[node_id] = digest
            return digest

        return {node_id: sig(node_id, frozenset()) for node_id in prompt}

    # -- execution -------------------------------------------------------------------------
    async def execute(
        self, prompt: dict[str, Any], prompt_id: str, extra_data: dict[str, Any], execute_outputs: list[str]
    ) -> dict[str, Any]:
        """Run one prompt; returns the history result (outputs, meta)."""
        self._interrupt.clear()
        client_id = extra_data.get("client_id") if "client_id" in extra_data else None
        self.client_id = client_id
        self.running_prompt_id = prompt_id
        self.status_messages = []
        self.success = True
        run = RunState(
            prompt_id=prompt_id,
            client_id=client_id,
            prompt=DynamicPrompt(prompt),
            extra_data=extra_data,
            preview_method=resolve_preview_method(
                extra_data.get("preview_method"), self.default_preview_method
            ),
        )
        try:
            return await self._execute(run, execute_outputs)
        finally:
            self.last_node_id = None
            self.running_prompt_id = None

    async def _execute(self, run: RunState, execute_outputs: list[str]) -> dict[str, Any]:
        prompt = run.prompt.original
        await self._add_message(run, "execution_start", {"prompt_id": run.prompt_id}, broadcast=False)
        signatures = self._signatures(prompt)
        live = set(signatures.values())
        for key in [k for k in self._cache if k not in live]:
            del self._cache[key]
        outputs: dict[str, list[Any]] = {}
        ui: dict[str, dict[str, Any]] = {}
        for node_id, key in signatures.items():
            entry = self._cache.get(key)
            if entry is not None:
                outputs[node_id] = entry.outputs
                if entry.ui is not None:
                    ui[node_id] = entry.ui
        cached_nodes = [n for n in prompt if n in outputs]
        await self._add_message(
            run, "execution_cached", {"nodes": cached_nodes, "prompt_id": run.prompt_id}, broadcast=False
        )

        executed: list[str] = []
        pending_subgraph: dict[str, tuple[Any, ...]] = {}
        execution = ExecutionList(run.prompt, self.catalogue, lambda n: n in outputs)
        for node_id in execute_outputs:
            execution.add_node(node_id)

        failure: tuple[str, BaseException, dict[str, Any] | None] | None = None
        while not execution.is_empty():
            staged = execution.stage()
            if staged is None:
                failure = (
                    next(iter(execution.pending)),
                    NodeFailure("graph.DependencyCycleError", "Dependency cycle detected", []),
                    None,
                )
                break
            node_id = staged
            try:
                done = await self._execute_node(
                    run, node_id, outputs, ui, signatures, executed, execution, pending_subgraph
                )
            except Interrupted as exc:
                failure = (run.prompt.real_node_id(node_id), exc, None)
                break
            except NodeFailure as exc:
                failure = (run.prompt.real_node_id(node_id), exc, getattr(exc, "inputs", None))
                break
            if done:
                execution.complete()
            else:
                execution.unstage()

        if failure is None:
            await self._add_message(run, "execution_success", {"prompt_id": run.prompt_id}, broadcast=False)
        else:
            self.success = False
            await self._report_failure(run, failure, executed, list(prompt))

        history_outputs: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for node_id, ui_entry in ui.items():
            history_outputs[node_id] = ui_entry["output"]
            meta[node_id] = ui_entry["meta"]
        return {"outputs": history_outputs, "meta": meta}

    async def _report_failure(
        self,
        run: RunState,
        failure: tuple[str, BaseException, dict[str, Any] | None],
        executed: list[str],
        current_outputs: list[str],
    ) -> None:
        node_id, exc, inputs = failure
        class_type = str(
            run.prompt.original.get(node_id, {}).get("class_type")
            or run.prompt.get_node(node_id)["class_type"]
        )
        if isinstance(exc, Interrupted):
            await self._add_message(
                run,
                "execution_interrupted",
                {
                    "prompt_id": run.prompt_id,
                    "node_id": node_id,
                    "node_type": class_type,
                    "executed": list(executed),
                },
                broadcast=True,
            )
            return
        assert isinstance(exc, NodeFailure)
        mes: dict[str, Any] = {
            "prompt_id": run.prompt_id,
            "node_id": node_id,
            "node_type": class_type,
            "executed": list(executed),
            "exception_message": f"{exc.message}\n",
            "exception_type": exc.exception_type,
            "traceback": exc.traceback,
            "current_inputs": inputs if inputs is not None else {},
            "current_outputs": current_outputs,
        }
        await self._add_message(run, "execution_error", mes, broadcast=False)

    async def _execute_node(
        self,
        run: RunState,
        node_id: str,
        outputs: dict[str, list[Any]],
        ui: dict[str, dict[str, Any]],
        signatures: dict[str, str],
        executed: list[str],
        execution: ExecutionList,
        pending_subgraph: dict[str, tuple[Any, ...]],
    ) -> bool:
        """Run (or reuse) one node. False = it expanded and must be revisited."""
        node = run.prompt.get_node(node_id)
        class_type = node["class_type"]
        display = run.prompt.display_node_id(node_id)
        if node_id in outputs:
            if run.client_id is not None:
                cached_ui = ui.get(node_id) or {}
                await self.hub.send_json(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": display,
                        "output": cached_ui.get("output"),
                        "prompt_id": run.prompt_id,
                    },
                    run.client_id,
                )
            await self._finish_progress(run, node_id)
            return True

        if node_id in pending_subgraph:
            resolved = []
            for value in pending_subgraph.pop(node_id):
                resolved.append(outputs[value[0]][value[1]] if is_link(value) else value)
            self._store_outputs(node_id, resolved, outputs, signatures, ui.get(node_id))
        else:
            await self._start_progress(run, node_id)
            inputs = self._gather_inputs(node, outputs)
            if run.client_id is not None:
                self.last_node_id = display
                await self.hub.send_json(
                    "executing",
                    {"node": node_id, "display_node": display, "prompt_id": run.prompt_id},
                    run.client_id,
                )
            self.check_interrupt()
            blocker = next((v for v in inputs.values() if isinstance(v, ExecutionBlocker)), None)
            if blocker is not None:
                if blocker.message is not None:
                    await self.hub.send_json(
                        "execution_error",
                        {
                            "prompt_id": run.prompt_id,
                            "node_id": node_id,
                            "node_type": class_type,
                            "executed": list(executed),
                            "exception_message": f"Execution Blocked: {blocker.message}",
                            "exception_type": "ExecutionBlocked",
                            "traceback": [],
                            "current_inputs": [],
                            "current_outputs": [],
                        },
                        run.client_id,
                    )
                n_out = len(self.catalogue.return_types(class_type)) if self.catalogue.has(class_type) else 1
                result = NodeResult(tuple(ExecutionBlocker(None) for _ in range(n_out)))
            else:
                behaviour = self.behaviour_for(class_type)
                ctx = NodeContext(self, run, node_id)
                try:
                    result = await behaviour(ctx, inputs)
                except (Interrupted, asyncio.CancelledError):
                    raise
                except NodeFailure as exc:
                    exc.inputs = {k: [format_value(v)] for k, v in inputs.items()}  # type: ignore[attr-defined]
                    raise
                except Exception as exc:  # a simulation bug: report it like a node crash, keep serving
                    log.exception("simulated node crashed", node_id=node_id, class_type=class_type)
                    failure = NodeFailure(
                        type(exc).__qualname__, str(exc), traceback.format_tb(exc.__traceback__)
                    )
                    failure.inputs = {k: [format_value(v)] for k, v in inputs.items()}  # type: ignore[attr-defined]
                    raise failure from exc
            if result.ui:
                entry_ui = {
                    "meta": {
                        "node_id": node_id,
                        "display_node": display,
                        "parent_node": run.prompt.parent_node_id(node_id),
                        "real_node_id": run.prompt.real_node_id(node_id),
                    },
                    "output": result.ui,
                }
                ui[node_id] = entry_ui
                if run.client_id is not None:
                    await self.hub.send_json(
                        "executed",
                        {
                            "node": node_id,
                            "display_node": display,
                            "output": result.ui,
                            "prompt_id": run.prompt_id,
                        },
                        run.client_id,
                    )
            if result.expand:
                for new_id, new_node in result.expand.items():
                    if run.prompt.has_node(new_id):
                        raise NodeFailure(
                            "execution.DuplicateNodeError",
                            f"Attempt to add duplicate node {new_id}. Ensure node ids are unique and deterministic or use graph_utils.GraphBuilder.",
                            [],
                        )
                    run.prompt.add_ephemeral(
                        new_id, new_node, node_id, new_node.get("override_display_id", node_id)
                    )
                for new_id, new_node in result.expand.items():
                    if self.catalogue.is_output(new_node["class_type"]):
                        execution.add_node(new_id)
                for value in result.outputs:
                    if is_link(value):
                        execution.add_strong_link(value[0], value[1], node_id)
                pending_subgraph[node_id] = result.outputs
                return False
            self._store_outputs(node_id, list(result.outputs), outputs, signatures, ui.get(node_id))

        await self._finish_progress(run, node_id)
        executed.append(node_id)
        return True

    def _store_outputs(
        self,
        node_id: str,
        values: list[Any],
        outputs: dict[str, list[Any]],
        signatures: dict[str, str],
        ui_entry: dict[str, Any] | None,
    ) -> None:
        outputs[node_id] = values
        if node_id in signatures:  # ephemeral nodes are not cached across prompts
            self._cache[signatures[node_id]] = _CacheEntry(values, ui_entry)

    @staticmethod
    def _gather_inputs(node: dict[str, Any], outputs: dict[str, list[Any]]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, value in node["inputs"].items():
            if is_link(value):
                source = outputs.get(value[0])
                data[name] = source[value[1]] if source is not None and value[1] < len(source) else None
            else:
                data[name] = value
        return data
