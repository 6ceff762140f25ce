"""What the journal needs from a runtime, as a protocol: the journal stays testable without one."""

from __future__ import annotations

from typing import Any, Protocol

from ..runtime.manager import AsyncTaskManager
from ..runtime.models import WorkflowExecution


class RuntimeLike(Protocol):
    """What the journal needs from ``ComfyUIAsyncRuntime``."""

    @property
    def task_manager(self) -> AsyncTaskManager: ...

    @property
    def executions(self) -> dict[str, WorkflowExecution]: ...

    @property
    def server_url(self) -> str: ...

    @property
    def client(self) -> Any: ...

    async def attach(
        self,
        prompt_id: str,
        *,
        prompt: dict[str, Any] | None = None,
        name: str | None = None,
        client_id: str | None = None,
        number: int | None = None,
    ) -> WorkflowExecution: ...
