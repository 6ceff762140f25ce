"""structlog set-up: JSON lines to a file under the platformdirs log dir, secrets redacted."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from . import paths
from .url_secrets import redact_url

_SECRET_KEYS = re.compile(r"(token|authorization|password|passwd|secret|api[_-]?key|cookie|auth)", re.I)
_secret_values: set[str] = set()
_configured_file: TextIO | None = None


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it shows up in a log line."""
    if value and len(value) >= 4:
        _secret_values.add(value)


def redact_text(text: str) -> str:
    for secret in _secret_values:
        if secret in text:
            text = text.replace(secret, "***")
    # The URL patterns need an '@' (user info) or an '=' (a query value): most text has neither.
    return redact_url(text) if "@" in text or "=" in text else text


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    """Whether a key names a secret (log records reuse a few key names: remembered per name)."""
    return _SECRET_KEYS.search(key) is not None


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {k: ("***" if v and _secret_key(str(k)) else _redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    return value


_PLAIN_TYPES = frozenset({bool, int, float, type(None)})


def redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if value and key != "event" and _secret_key(key):
            event_dict[key] = "***"
        elif type(value) not in _PLAIN_TYPES:  # numbers and None are never redacted: skip the call
            event_dict[key] = _redact(value)
    return event_dict


def _json_fallback(obj: Any) -> Any:
    """What structlog's JSONRenderer does with a value JSON cannot hold: its ``__structlog__``, else repr."""
    structlog_repr = getattr(obj, "__structlog__", None)
    return structlog_repr() if callable(structlog_repr) else repr(obj)


# One encoder for every line: ``json.dumps(..., default=...)`` builds a new one per call.
_encode_json = json.JSONEncoder(default=_json_fallback).encode


def _serialize(obj: Any, **_kw: Any) -> str:
    return _encode_json(obj)


# What ``structlog.configure`` replaces (``get_config()`` would copy it into a new dict per call).
# A structlog without it gets no caching: every call binds, as structlog's own proxy does.
_STRUCTLOG_CONFIG: Any = getattr(getattr(structlog, "_config", None), "_CONFIG", None)


class _ModuleLogger:
    """A module's logger: structlog's lazy logger, but bound once per structlog configuration.

    structlog is configured with ``cache_logger_on_first_use=False`` so that a reconfiguration
    (tests, the TUI's log tap) reaches module-level loggers; its lazy proxy then assembles a new
    bound logger on *every* call, even a filtered-out ``debug``. This keeps the bound logger and
    assembles it again only when the configuration objects changed (what ``configure`` does).
    """

    __slots__ = ("_bound", "_key", "_proxy")

    def __init__(self, name: str | None) -> None:
        self._proxy: Any = structlog.get_logger(name) if name is not None else structlog.get_logger()
        self._key: tuple[Any, ...] = ()
        self._bound: Any = None

    def _logger(self) -> Any:
        config = _STRUCTLOG_CONFIG
        if config is None:
            return self._proxy
        key = self._key
        if (
            not key
            or key[0] is not config.default_processors
            or key[1] is not config.default_wrapper_class
            or key[2] is not config.logger_factory
            or key[3] is not config.default_context_class
        ):
            self._bound = self._proxy.bind()
            self._key = (
                config.default_processors,
                config.default_wrapper_class,
                config.logger_factory,
                config.default_context_class,
            )
        return self._bound

    # The level methods directly (the hot ones); anything else goes through __getattr__.
    def debug(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._logger().debug(event, *args, **kw)

    def info(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._logger().info(event, *args, **kw)

    def warning(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._logger().warning(event, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger(), name)


def get_logger(name: str | None = None) -> Any:
    """The logger for a module (``log = get_logger("comfy_reality.x")``); see :class:`_ModuleLogger`."""
    return _ModuleLogger(name)


def _drop(_logger: Any, _name: str, _event_dict: MutableMapping[str, Any]) -> Any:
    raise structlog.DropEvent


class _WriteNeverFails:
    """The log file, where a failed write (disk full, file gone) is dropped: logging never stops a run."""

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self.failures = 0

    def write(self, text: str) -> int:
        try:
            return self._file.write(text)
        except (OSError, ValueError):
            self.failures += 1
            return 0

    def flush(self) -> None:
        try:
            self._file.flush()
        except (OSError, ValueError):
            self.failures += 1

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            self.failures += 1


def close_log_file() -> None:
    """Close the log file opened by :func:`configure_logging` (at exit, or between tests)."""
    global _configured_file
    if _configured_file is not None:
        try:
            _configured_file.close()
        except OSError:
            pass  # the last buffered line could not be written (disk full): nothing to do
        _configured_file = None


def configure_logging(*, level: str = "info", console: bool = False, log_path: Path | None = None) -> Path:
    """Send structlog (and stdlib logging) to a JSON-lines file; optionally also to stderr."""
    global _configured_file
    path = log_path or paths.log_file()
    if _configured_file is not None:
        try:
            _configured_file.close()
        except OSError:
            pass  # the last buffered line could not be written (disk full): nothing to do
        _configured_file = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _configured_file = path.open("a", encoding="utf-8", buffering=1)
    except OSError:
        # No usable log file: log nowhere rather than onto a terminal that may carry NDJSON or
        # a Textual screen, and let the caller say so once.
        structlog.configure(
            processors=[_drop],
            logger_factory=structlog.ReturnLoggerFactory(),
            cache_logger_on_first_use=False,
        )
        raise
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_processor,
        structlog.processors.format_exc_info,
    ]
    file_logger = structlog.WriteLoggerFactory(file=_WriteNeverFails(_configured_file))  # type: ignore[arg-type]
    if console:
        console_renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        json_renderer = structlog.processors.JSONRenderer(serializer=_serialize)

        class _Tee:
            def __init__(self) -> None:
                self._file = file_logger()
                self._err = structlog.PrintLogger(file=sys.stderr)

            def msg(self, message: str) -> None:
                self._file.msg(message)

            def __getattr__(self, name: str) -> Any:
                return self.msg

        def both(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
            sys.stderr.write(str(console_renderer(logger, name, dict(event_dict))) + "\n")
            return str(json_renderer(logger, name, event_dict))

        structlog.configure(
            processors=[*shared, both],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=lambda *_: _Tee(),
            cache_logger_on_first_use=False,
        )
    else:
        structlog.configure(
            processors=[*shared, structlog.processors.JSONRenderer(serializer=_serialize)],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=file_logger,
            cache_logger_on_first_use=False,
        )
    return path
