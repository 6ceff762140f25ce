"""The app's workflow library: local folders and the server's saved workflows, as one list.

Local workflows are files, scanned off the loop. Server workflows (the web UI's, saved through
``/userdata``) are held in memory as the server sent them: listed, run, previewed and edited
without ever being written to disk. The server's node catalogue (``/object_info``) is kept
here too, because the library marks the node types a server lacks; the last one seen of each
server is cached on disk so forms and conversion work before the server answers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comfy_reality.logs import get_logger

from .. import workflows as wf  # its modules load with the first scan, after the first frame
from ..errors import ComfyError
from .backend import AppRuntime

if TYPE_CHECKING:
    from ..workflows import ObjectInfo, WorkflowFile

log = get_logger("comfy_reality.tui")

SERVER_SOURCE = "server"


class WorkflowLibrary:
    """Workflows by source (bundled, the user's, extra folders, the server) and the node catalogue."""

    def __init__(self, sources: list[tuple[str, Path]]) -> None:
        self.sources: list[tuple[str, Path]] = []
        """(label, folder) of each local source, in the order they are listed."""
        self.source_titles: dict[str, str] = {}
        """The heading of each source in the list."""
        self.use_sources(sources)
        self.object_info: ObjectInfo | None = None
        """The server's node catalogue (the cached one until the server answers)."""
        self.server_note: str | None = None
        """Why no server workflows are listed (cannot list, none saved), or None."""
        self._local_files: list[WorkflowFile] = []
        self._server_files: list[WorkflowFile] = []
        self._server_data: dict[Path, bytes] = {}

    def use_sources(self, sources: list[tuple[str, Path]]) -> None:
        """List these folders (bundled, the user's, then extra ones) from the next scan on."""
        self.sources = sources
        titles = {
            "bundled": "Bundled",
            "user": "My workflows",
            **{label: f"Folder {path.name}" for label, path in sources[2:]},
            SERVER_SOURCE: "On the server",
        }
        # The same dict, changed in place: the workflow list holds it.
        self.source_titles.clear()
        self.source_titles.update(titles)

    @property
    def files(self) -> list[WorkflowFile]:
        """Local workflows first, then the server's."""
        return [*self._local_files, *self._server_files]

    async def scan_local(self) -> None:
        """Rescan the local folders (off the loop), marking node types the server lacks."""
        sources, object_info = self.sources, self.object_info
        # The name is looked up on the thread too: the first lookup imports the scanner's modules.
        self._local_files = await asyncio.to_thread(
            lambda: wf.scan_workflows(sources, object_info=object_info)
        )

    async def read(self, workflow: WorkflowFile) -> Any:
        """A workflow's parsed JSON: a server workflow from memory, a local one from its file."""
        raw = self._server_data.get(workflow.path) if workflow.source == SERVER_SOURCE else None
        if raw is not None:
            return wf.parse_json_bytes(raw, source=str(workflow.path))
        return await asyncio.to_thread(wf.read_json_file, workflow.path)

    # ------------------------------------------------------------ node catalogue
    async def load_cached_object_info(self, server_url: str) -> None:
        """Last session's node catalogue of this server: forms and conversion work before it answers.

        Read and validated on a thread: a real server's catalogue is megabytes of JSON."""
        if self.object_info is None:
            # The first use of the name imports the catalogue's modules: on the thread as well.
            cached = await asyncio.to_thread(lambda: wf.ObjectInfoCache().get(server_url))
            if self.object_info is None:  # unless the server's own answer came first
                self.object_info = cached

    async def fetch_object_info(self, runtime: AppRuntime) -> bool:
        """Take the server's catalogue; True when it is new or changed (the list should be rescanned)."""
        try:
            raw = await runtime.object_info()
        except ComfyError as exc:
            log.warning("object_info_unavailable", error=str(exc))
            return False
        info, changed = await asyncio.to_thread(wf.ObjectInfoCache().store, runtime.server_url, raw)
        first = self.object_info is None
        self.object_info = info
        return changed or first

    # ---------------------------------------------------------- server workflows
    async def fetch_server_workflows(self, runtime: AppRuntime) -> None:
        """The workflows saved on the server, listed and read into memory."""
        try:
            listing = wf.parse_workflow_listing(await runtime.list_userdata("workflows"))
            blobs = [(wf.workflow_name(p), await runtime.get_userdata(p)) for p in listing]
        except ComfyError as exc:
            self.server_note = f"cannot list: {exc}"
            return
        self.server_note = None if blobs else "none saved on the server"
        data: dict[Path, bytes] = {}
        for name, raw in blobs:
            try:
                # One flat list of names, as a folder of files would show them.
                data[Path(wf.safe_filename(name.replace("/", "_")))] = raw
            except ComfyError:
                continue
        self._server_files = await asyncio.to_thread(_describe_server_workflows, data, self.object_info)
        self._server_data = data


def _describe_server_workflows(data: dict[Path, bytes], object_info: ObjectInfo | None) -> list[WorkflowFile]:
    """Library entries of the server's workflows, sorted by name (conversion checks: off the loop)."""
    from ..workflows.library import inspect_workflow_bytes

    return [
        inspect_workflow_bytes(raw, path, SERVER_SOURCE, object_info=object_info)
        for path, raw in sorted(data.items(), key=lambda item: item[0].name.lower())
    ]
