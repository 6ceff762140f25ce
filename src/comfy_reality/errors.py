"""One exception hierarchy for everything the package raises on purpose, with one base.

Each message names what went wrong and what the user can do about it. The errors of a single
module that only it raises (for example ``WorkflowReadError`` in ``workflows.formats``) are
defined there, as subclasses of one of these.

    ComfyError
    ├── ConfigError               the config file is unreadable or invalid
    ├── JournalError              the execution journal's file cannot be used
    ├── ProtocolError             a WebSocket frame that does not match the protocol (also a ValueError)
    ├── InvalidWorkflowError      the workflow itself is unusable (bad file, bad graph)
    │   ├── WorkflowReadError         (workflows.formats) not a readable JSON document
    │   └── MissingNodeTypesError     (workflows.convert) node types the server does not have
    ├── ServerError               the server answered, but not with what we need
    │   ├── PromptValidationError     HTTP 400 from POST /prompt (per-node errors)
    │   └── ServerResponseError       5xx, non-JSON body, unexpected shape
    ├── ServerUnreachableError    no answer at all: connection refused, DNS, TLS
    │   └── ServerTimeoutError        it did not answer in time
    ├── ExecutionNotFoundError    an execution or prompt id unknown to the runtime
    ├── UnsafeOutputPathError     the server named an output file that would land outside its folder
    └── PathRejected              (server.storage) a client-supplied file name that would leave its folder
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ComfyError(Exception):
    """Base of every error the package raises on purpose: catch this to catch them all."""


class ConfigError(ComfyError):
    """The config file is unreadable or invalid; the message says which file and which key."""


class JournalError(ComfyError):
    """The journal file cannot be used; the message names the file and what to do."""

    def __init__(self, path: Path | str, problem: str, advice: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.advice = advice
        super().__init__(f"Execution journal {self.path}: {problem}. {advice}")


class ProtocolError(ComfyError, ValueError):
    """A frame that does not match the protocol; raised inside parsers, logged by callers.

    Also a ``ValueError``, so parsers that catch bad values catch it with them.
    """


class InvalidWorkflowError(ComfyError):
    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class ServerError(ComfyError):
    def __init__(self, message: str, *, url: str | None = None, status_code: int | None = None) -> None:
        self.url = url
        self.status_code = status_code
        super().__init__(message)


class ServerResponseError(ServerError):
    """The server answered with an error status or a body we cannot use."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int | None = None,
        body: str | None = None,
    ) -> None:
        self.body = body
        super().__init__(message, url=url, status_code=status_code)


class PromptValidationError(ServerError):
    """ComfyUI refused the prompt (HTTP 400): the top-level error and each node's errors."""

    def __init__(
        self,
        error: dict[str, Any],
        node_errors: dict[str, Any],
        *,
        url: str | None = None,
        status_code: int = 400,
    ) -> None:
        self.error = error
        self.node_errors = node_errors
        self.error_type: str = str(error.get("type", "unknown"))
        super().__init__(self.describe(), url=url, status_code=status_code)

    def node_messages(self) -> list[str]:
        """One readable line per node error: ``node 3 (KSampler): steps: Value 0 smaller than min of 1``."""
        lines: list[str] = []
        for node_id, entry in self.node_errors.items():
            class_type = entry.get("class_type", "?") if isinstance(entry, dict) else "?"
            errors = entry.get("errors", []) if isinstance(entry, dict) else []
            for err in errors:
                details = err.get("details") or ""
                message = err.get("message") or err.get("type") or "invalid"
                text = f"{message}: {details}" if details else str(message)
                lines.append(f"node {node_id} ({class_type}): {text}")
        return lines

    def describe(self) -> str:
        message = self.error.get("message") or self.error_type
        details = self.error.get("details")
        head = f"Server rejected the prompt: {message}"
        if details:
            head += f" ({details})"
        lines = self.node_messages()
        return "\n".join([head, *("  " + line for line in lines)]) if lines else head


class ServerUnreachableError(ComfyError):
    # The request may have reached the server before the connection failed (reset, no answer,
    # time-out after sending), as opposed to a refused connection: the server may have acted on it.
    request_sent: bool = False
    # Set when a POST /prompt failed this way and the server could not be asked whether it
    # queued the prompt: it may run. The journal keeps the row; its reconcile settles it.
    unconfirmed_prompt_id: str | None = None

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"Cannot reach ComfyUI at {url}: {reason}. "
            "Check that the server is running and the URL (--server or COMFYUI_URL) is right."
        )


class ServerTimeoutError(ServerUnreachableError):
    def __init__(self, url: str, seconds: float) -> None:
        self.url = url
        self.reason = f"no answer within {seconds:g}s"
        ComfyError.__init__(
            self,
            f"ComfyUI at {url} did not answer within {seconds:g}s. "
            "The server may be overloaded or stuck; try again or raise the timeout.",
        )


class ExecutionNotFoundError(ComfyError):
    pass


class UnsafeOutputPathError(ComfyError):
    """The server named an output file in a way that could write outside the destination."""

    def __init__(self, filename: str, subfolder: str, reason: str) -> None:
        self.filename = filename
        self.subfolder = subfolder
        self.reason = reason
        super().__init__(
            f"Refused to save output {subfolder + '/' if subfolder else ''}{filename!r}: {reason}. "
            "The server sent an unsafe file name; the file was not written."
        )
