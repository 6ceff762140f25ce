"""The main screen's edit-inputs flow: e opens the highlighted workflow as a form; run, save or share it.

A base class of :class:`MainScreen` (kept apart so each module stays short): it uses the
screen's backend, library and submit path, declared here for the type checker.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.screen import Screen

from ... import paths
from ... import workflows as wf  # its modules load on first use, not with the first frame
from ...errors import ComfyError, InvalidWorkflowError
from ...safe_text import safe_json
from ..backend import AppRuntime, Backend
from ..burst_keys import moves_focus, turn_waits_for_job
from ..library import WorkflowLibrary
from ..widgets import WorkflowBrowser

if TYPE_CHECKING:
    from ...config import Settings
    from ...workflows import WorkflowFile
    from .input_form import FormResult


class EditInputsScreen(Screen[None]):
    """What ``e`` does on the main screen (see :class:`MainScreen`)."""

    backend: Backend
    library: WorkflowLibrary
    browser: WorkflowBrowser

    @property
    def settings(self) -> Settings:
        """The backend's settings: ``comfy-reality-tui`` validates them once its first frame is up."""
        return self.backend.settings

    if TYPE_CHECKING:  # defined by MainScreen, which this flow is a base class of

        async def submit_prompt(self, prompt: dict[str, Any], *, name: str, workflow_id: str) -> None: ...

        def scan_local(self) -> None: ...

        async def _fetch_server_workflows(self, runtime: AppRuntime) -> None: ...

    # ------------------------------------------------------------- edit inputs
    @moves_focus
    def action_edit(self) -> None:
        """The form opens once the workflow is read: keys typed after ``e`` in a burst wait for it."""
        workflow = self.browser.highlighted
        if workflow is None:
            self.notify("No workflow highlighted.", severity="warning")
            return
        if workflow.error:
            self.notify(f"{workflow.name} cannot be edited: {workflow.error}", severity="error")
            return
        if self.library.object_info is None:
            self.notify(
                "The form needs the server's node catalogue (/object_info); connect to the server first.",
                severity="warning",
            )
            return
        turn_waits_for_job(
            self.backend.run_job(partial(self._open_form, workflow), name="_open_form", group="actions")
        )

    async def _open_form(self, workflow: WorkflowFile) -> None:
        object_info = self.library.object_info
        assert object_info is not None
        try:
            data = await self.library.read(workflow)
            prompt = wf.load_prompt(
                data, object_info, correct_frontend_defects=self.settings.correct_frontend_defects
            )
        except ComfyError as exc:
            self.notify(f"Cannot open {workflow.name}: {exc}", severity="error", timeout=10)
            return

        self._push_form(workflow, prompt)

    def _push_form(self, workflow: WorkflowFile, prompt: dict[str, Any]) -> None:
        from .input_form import InputFormScreen  # loaded on first use: faster start-up

        object_info = self.library.object_info
        if object_info is None:
            return

        def done(result: FormResult | None) -> None:
            if result is not None:
                self._form_done(workflow, result)

        self.app.push_screen(InputFormScreen(workflow, prompt, object_info), done)

    def _form_done(self, workflow: WorkflowFile, result: FormResult, *, from_form: bool = True) -> None:
        """``from_form``: esc in the name dialog goes back to the form, its edits kept."""

        def back_to_form() -> None:
            if from_form:
                self._push_form(workflow, result.prompt)

        if result.action == "run":
            if self.backend.connected_runtime() is not None:
                self.backend.run_job(
                    partial(self._submit_edited, workflow, result), name="_submit_edited", group="actions"
                )
            return
        if result.action == "save_local":
            folder = paths.user_workflows_dir()

            def check_local(name: str) -> str | None:
                try:
                    wf.safe_filename(name)
                except ComfyError as exc:
                    return str(exc)
                return None

            def save_local(name: str | None) -> None:
                if not name:
                    back_to_form()
                    return
                self.backend.run_job(
                    partial(self._save_local, result.prompt, name), name="_save_local", group="actions"
                )

            from .name_prompt import NamePromptScreen  # loaded on first use: faster start-up

            self.app.push_screen(
                NamePromptScreen(
                    f"Save as a new workflow in {folder}", f"{workflow.name}-edited", check_local
                ),
                save_local,
            )
            return
        if self.backend.connected_runtime() is None:
            return

        def check_server(name: str) -> str | None:
            try:
                wf.workflow_userdata_path(name)
            except ComfyError as exc:
                return str(exc)
            return None

        def save_server(name: str | None) -> None:
            if not name:
                back_to_form()
                return
            self.backend.run_job(
                partial(self._save_server, result.prompt, name), name="_save_server", group="actions"
            )

        from .name_prompt import NamePromptScreen

        self.app.push_screen(
            NamePromptScreen("Save to the server's workflows as", f"{workflow.name}-edited", check_server),
            save_server,
        )

    async def _submit_edited(self, workflow: WorkflowFile, result: FormResult) -> None:
        """The edited prompt once, or once per batch variant (repeat, sweeps) across the servers."""
        name = f"{workflow.name} (edited)"
        if not result.variants:
            await self.submit_prompt(result.prompt, name=name, workflow_id=str(workflow.path))
            return
        for variant in result.variants:
            try:
                prompt = wf.apply_overrides(result.prompt, variant.overrides, self.library.object_info)
            except InvalidWorkflowError as exc:
                self.notify(f"Batch: {exc}", severity="error", timeout=8)
                return
            label = f"{name} [{variant.label}]" if variant.label else name
            await self.submit_prompt(prompt, name=label, workflow_id=str(workflow.path))

    async def _save_local(self, prompt: dict[str, Any], name: str) -> None:
        try:
            target = await asyncio.to_thread(wf.save_workflow, prompt, paths.user_workflows_dir(), name)
        except (ComfyError, OSError) as exc:
            self.notify(f"Not saved: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Saved {target.name} in your workflows", timeout=4)
        self.scan_local()

    async def _save_server(self, prompt: dict[str, Any], name: str) -> None:
        runtime = self.backend.connected_runtime()
        if runtime is None:
            return
        path = wf.workflow_userdata_path(name)
        body = safe_json(prompt, indent=2).encode()
        try:
            await runtime.put_userdata(path, body, overwrite=False)
        except ComfyError as exc:
            self.notify(f"Not saved on the server: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Saved {path} on the server", timeout=4)
        await self._fetch_server_workflows(runtime)
