"""comfy-reality-tui: run, watch, cancel and retry ComfyUI workflows from a terminal.

Every error the package raises on purpose derives from :class:`ComfyError`; the hierarchy is
re-exported here from :mod:`comfy_reality.errors`.
"""

from .errors import (
    ComfyError,
    ConfigError,
    ExecutionNotFoundError,
    InvalidWorkflowError,
    JournalError,
    PromptValidationError,
    ProtocolError,
    ServerError,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
    UnsafeOutputPathError,
)

__version__ = "0.1.0"

__all__ = [
    "ComfyError",
    "ConfigError",
    "ExecutionNotFoundError",
    "InvalidWorkflowError",
    "JournalError",
    "PromptValidationError",
    "ProtocolError",
    "ServerError",
    "ServerResponseError",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "UnsafeOutputPathError",
    "__version__",
]
