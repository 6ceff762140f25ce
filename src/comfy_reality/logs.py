"""Logging: JSON lines to a file under the platformdirs log dir, secrets redacted.

Modules log through :func:`get_logger`. Until something imports structlog, a configured file
log is written by a small writer here that renders exactly what the structlog chain renders
(level, ISO UTC timestamp, redaction, exception text, JSON): importing structlog pulls in
attrs, Rich's traceback and pretty printers and Pygments, which ``comfy-reality run`` would
pay for on every start. Once structlog is imported (the TUI's log tap, tests, a library user),
the same configuration is installed in structlog and every logger forwards to it.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from . import paths
from .url_secrets import redact_url

_SECRET_KEYS = re.compile(r"(token|authorization|password|passwd|secret|api[_-]?key|cookie|auth)", re.I)
_secret_values: set[str] = set()


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
        elif type(value) is str:
            # redact_text, whose answer is the text itself without secrets, '@' and '=': most lines.
            if _secret_values or "@" in value or "=" in value:
                event_dict[key] = redact_text(value)
        elif type(value) not in _PLAIN_TYPES:  # numbers and None are never redacted: skip the call
            event_dict[key] = _redact(value)
    return event_dict


def _drop(_logger: Any, _name: str, _event_dict: MutableMapping[str, Any]) -> Any:
    import structlog

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


LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_LOCK = threading.Lock()
_configured_file: TextIO | None = None
_sink: _JsonLines | None = None
"""The file writer while structlog is not imported (None: structlog does the writing)."""
_structlog_setup: Callable[[], None] | None = None
"""How to configure structlog like the file log, run once structlog is wanted."""
Tap = Callable[[Any, str, MutableMapping[str, Any]], Any]
"""A structlog-style processor that only looks: (logger, method, event dict)."""
_taps: list[Tap] = []


def add_tap(tap: Tap) -> None:
    """Show ``tap`` every line logged from now on (redacted, not yet rendered), from the file writer
    and from the structlog chain alike: the TUI's log pane reads the log without importing structlog."""
    if tap not in _taps:
        _taps.append(tap)


def remove_tap(tap: Tap) -> None:
    if tap in _taps:
        _taps.remove(tap)


def tap_processor(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The taps as one structlog processor, placed just before the renderer."""
    for tap in list(_taps):
        tap(logger, method, event_dict)
    return event_dict


def _json_fallback(value: Any) -> Any:
    """What structlog's JSONRenderer does with a value json cannot encode."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


@functools.cache
def _json_encoder() -> Callable[[Any], str]:
    """One encoder for every line (``json.dumps(..., default=...)`` builds one per call), made with the
    first line: the json modules are not on the way to the app's first frame."""
    import json

    return json.JSONEncoder(default=_json_fallback).encode


def _serialize(obj: Any, **_kw: Any) -> str:
    """structlog's JSONRenderer serializer, with the one encoder."""
    return _json_encoder()(obj)


def _exception_text(exc_info: Any) -> str | None:
    """An ``exc_info`` value (True, an exception or a sys.exc_info() tuple) as structlog formats it."""
    import traceback

    if isinstance(exc_info, BaseException):
        info: Any = (type(exc_info), exc_info, exc_info.__traceback__)
    elif isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        info = exc_info
    elif exc_info:
        info = sys.exc_info()
        if info[1] is None:
            return None
    else:
        return None
    return "".join(traceback.format_exception(info[0], info[1], info[2])).removesuffix("\n")


class _JsonLines:
    """Renders a log call as the configured structlog chain would and appends it to the file.

    The chain it stands for: add_log_level, TimeStamper(fmt="iso", utc=True), redact_processor,
    format_exc_info, JSONRenderer, behind make_filtering_bound_logger(level).
    """

    def __init__(self, file: _WriteNeverFails | None, level: int) -> None:
        self.file = file  # None: logging is off (drop every line)
        self.level = level

    def log(self, method: str, event: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
        if LEVELS[method] < self.level or (self.file is None and not _taps):
            return
        if args:
            event = event % (args[0] if len(args) == 1 and isinstance(args[0], dict) and args[0] else args)
        event_dict: dict[str, Any] = {**kw, "event": event, "level": method}
        event_dict["timestamp"] = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
        redact_processor(None, method, event_dict)
        if "exc_info" in event_dict:
            text = _exception_text(event_dict.pop("exc_info"))
            if text is not None:
                event_dict["exception"] = text
        for tap in list(_taps):
            tap(None, method, event_dict)
        if self.file is None:
            return
        line = _json_encoder()(event_dict)
        with _LOCK:
            self.file.write(line + "\n")
            self.file.flush()


class Logger:
    """A named logger that imports structlog only when structlog is in use (see the module doc)."""

    __slots__ = ("_bound", "_filtered", "_key", "_proxy", "name")

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._proxy: Any = None
        self._bound: Any = None
        self._key: tuple[Any, ...] = (None, None, None, None)
        self._filtered: frozenset[str] = frozenset()
        """Methods the bound logger drops (below its level): such a call returns at once."""

    def _log(self, method: str, event: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        sink = _sink
        if sink is not None and "structlog" not in sys.modules:
            sink.log(method, event, args, kw)
            return None
        if _structlog_setup is not None or self._proxy is None:
            ensure_structlog()
        bound = self._structlog_logger()
        if method in self._filtered:
            return None  # what the filtering bound logger's method does, without the call
        return getattr(bound, method)(event, *args, **kw)

    def enabled(self, method: str) -> bool:
        """Whether a ``method`` call (``"debug"``, ``"info"``...) would reach the file or a tap: a hot
        path asks first and skips building a line that would be dropped."""
        sink = _sink
        if sink is not None and "structlog" not in sys.modules:
            return LEVELS[method] >= sink.level and (sink.file is not None or bool(_taps))
        if _structlog_setup is not None or self._proxy is None:
            ensure_structlog()
        self._structlog_logger()
        return method not in self._filtered

    def _structlog_logger(self) -> Any:
        """structlog's logger, bound once per structlog configuration.

        structlog is configured with ``cache_logger_on_first_use=False`` so that a
        reconfiguration (tests, the TUI's log tap) reaches module-level loggers; its lazy proxy
        then assembles a new bound logger on every call, even a filtered-out ``debug``. This
        keeps the bound one until the configuration objects change (what ``configure`` does),
        checked by identity on every call: a filtered-out call costs a few attribute reads.
        """
        if self._proxy is None:
            import structlog

            self._proxy = structlog.get_logger(self.name) if self.name is not None else structlog.get_logger()
        config = _structlog_config()
        if config is None:  # a structlog without it: no caching, as structlog's own proxy
            return self._proxy
        key = self._key
        if (
            self._bound is not None
            and key[0] is config.default_processors
            and key[1] is config.default_wrapper_class
            and key[2] is config.logger_factory
            and key[3] is config.default_context_class
        ):
            return self._bound
        bound = self._bound = self._proxy.bind()
        self._key = (
            config.default_processors,
            config.default_wrapper_class,
            config.logger_factory,
            config.default_context_class,
        )
        enabled = getattr(bound, "is_enabled_for", None)  # structlog's filtering bound loggers have it
        self._filtered = (
            frozenset(m for m, level in LEVELS.items() if not enabled(level))
            if callable(enabled)
            else frozenset()
        )
        return bound

    def debug(self, event: Any, *args: Any, **kw: Any) -> Any:
        return self._log("debug", event, args, kw)

    def info(self, event: Any, *args: Any, **kw: Any) -> Any:
        return self._log("info", event, args, kw)

    def warning(self, event: Any, *args: Any, **kw: Any) -> Any:
        return self._log("warning", event, args, kw)

    warn = warning

    def error(self, event: Any, *args: Any, **kw: Any) -> Any:
        return self._log("error", event, args, kw)

    def exception(self, event: Any, *args: Any, **kw: Any) -> Any:
        kw.setdefault("exc_info", True)
        return self._log("error", event, args, kw)

    def critical(self, event: Any, *args: Any, **kw: Any) -> Any:
        return self._log("critical", event, args, kw)


_STRUCTLOG_CONFIG: list[Any] = []
"""structlog's configuration object, found once (``configure`` changes its attributes, never the object)."""


def _structlog_config() -> Any:
    if not _STRUCTLOG_CONFIG:
        import structlog

        _STRUCTLOG_CONFIG.append(getattr(getattr(structlog, "_config", None), "_CONFIG", None))
    return _STRUCTLOG_CONFIG[0]


def get_logger(name: str | None = None) -> Logger:
    """The logger every module uses (``log = get_logger("comfy_reality.x")``)."""
    return Logger(name)


def ensure_structlog() -> None:
    """Install the file log's configuration in structlog, for code that uses structlog itself.

    A no-op when structlog was imported before the log was configured (it is configured then)."""
    global _sink, _structlog_setup
    with _LOCK:
        setup, _structlog_setup = _structlog_setup, None
        if setup is not None:
            _sink = None
            setup()


def is_configured() -> bool:
    """Whether a log destination was chosen (by :func:`configure_logging` or by structlog's own set-up)."""
    if _sink is not None or _structlog_setup is not None:
        return True
    structlog = sys.modules.get("structlog")
    return structlog is not None and bool(structlog.is_configured())


def close_log_file() -> None:
    """Close the log file opened by :func:`configure_logging` (at exit, or between tests)."""
    global _configured_file, _sink, _structlog_setup
    _sink = None
    _structlog_setup = None
    if _configured_file is not None:
        try:
            _configured_file.close()
        except OSError:
            pass  # the last buffered line could not be written (disk full): nothing to do
        _configured_file = None


def _install(setup: Callable[[], None], sink: _JsonLines | None) -> None:
    """Configure structlog now if it is imported (or must be), else keep ``sink`` until it is."""
    global _sink, _structlog_setup
    if sink is None or "structlog" in sys.modules:
        _sink, _structlog_setup = None, None
        setup()
    else:
        _sink, _structlog_setup = sink, setup


def configure_logging(*, level: str = "info", console: bool = False, log_path: Path | None = None) -> Path:
    """Send log lines to a JSON-lines file; optionally also to stderr (structlog's console renderer)."""
    global _configured_file
    path = log_path or paths.log_file()
    close_log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _configured_file = path.open("a", encoding="utf-8", buffering=1)
    except OSError:
        # No usable log file: log nowhere rather than onto a terminal that may carry NDJSON or
        # a Textual screen, and let the caller say so once.
        _install(_configure_dropping, _JsonLines(None, 0))
        raise
    numeric = {**LEVELS, "warn": 30, "fatal": 50, "notset": 0}.get(level.lower(), LEVELS["info"])
    writer = _WriteNeverFails(_configured_file)
    setup = functools.partial(_configure_structlog, writer, numeric, console)
    _install(setup, None if console else _JsonLines(writer, numeric))
    return path


def _configure_dropping() -> None:
    import structlog

    structlog.configure(
        processors=[tap_processor, _drop],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )


def _configure_structlog(writer: _WriteNeverFails, numeric: int, console: bool) -> None:
    import structlog

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_processor,
        structlog.processors.format_exc_info,
    ]
    file_logger = structlog.WriteLoggerFactory(file=writer)  # type: ignore[arg-type]
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
            processors=[*shared, tap_processor, both],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=lambda *_: _Tee(),
            cache_logger_on_first_use=False,
        )
    else:
        structlog.configure(
            processors=[*shared, tap_processor, structlog.processors.JSONRenderer(serializer=_serialize)],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=file_logger,
            cache_logger_on_first_use=False,
        )
