"""Outside text (server, workflow file, journal, log file) made safe to show in a terminal.

The one place that does it, for the app and every CLI command. Control characters (C0, DEL,
C1 — which carries ESC/CSI/OSC sequences — and the bidi overrides that reorder what a reader
sees) are replaced by a visible escape such as ``\\x1b``, so a hostile server can neither drive
the terminal (clipboard, title, clear screen) nor hide text. Results are plain strings or
:class:`rich.text.Text`, never markup: ``[link=...]`` from a server stays literal text.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

from rich.text import Text

# Bidi embeddings/overrides/isolates and marks, line/paragraph separators, BOM/zero-width no-break.
_FORMAT_CHARS = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT_CHARS}]")
_UNSAFE_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT_CHARS}]")
# For JSON text: json.dumps(ensure_ascii=False) escapes C0 itself, but not DEL, C1 or bidi.
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{_FORMAT_CHARS}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x09:
        return "\\t"
    if code == 0x0A:
        return "\\n"
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_str(value: object, *, one_line: bool = False) -> str:
    """``value`` as a string with every control character made visible (``\\x1b``, ``\\u202e``).

    Newlines and tabs are kept unless ``one_line``; ``\\r\\n`` counts as a newline, a lone ``\\r``
    (which overwrites the line on screen) is shown as ``\\r``. Lone surrogates become U+FFFD so the
    result always encodes. For sinks that are not Rich (click.echo, plain files, Textual notify
    with ``markup=False``)."""
    text = value if isinstance(value, str) else str(value)
    if one_line:
        text = _UNSAFE_ONE_LINE.sub(_visible, text)
    else:
        text = _UNSAFE.sub(_visible, text.replace("\r\n", "\n"))
    return _SURROGATE.sub("\ufffd", text)


def safe_text(value: object, style: str = "", *, one_line: bool = False) -> Text:
    """:func:`safe_str` as a Rich ``Text`` (never parsed as markup) for tables, labels, trees."""
    return Text(safe_str(value, one_line=one_line), style=style)


def made_safe(text: Text) -> Text:
    """A ``Text`` assembled from pieces (some of them outside text) with its control characters made
    visible, its styles kept on the same characters. Returns ``text`` itself when nothing changes."""
    plain = text.plain
    if not _UNSAFE.search(plain) and not _SURROGATE.search(plain) and "\r\n" not in plain:
        return text
    bounds = sorted({0, len(plain), *(s.start for s in text.spans), *(s.end for s in text.spans)})
    result = Text(
        style=text.style,
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        tab_size=text.tab_size,
    )
    where: dict[int, int] = {}
    for start, end in itertools.pairwise(bounds):
        where[start] = len(result)
        result.append(safe_str(plain[start:end]))
    where[len(plain)] = len(result)
    for span in text.spans:
        result.stylize(span.style, where[span.start], where[span.end])
    return result


def safe_line(value: object, style: str = "") -> Text:
    """One-line ``Text``: newlines shown as ``\\n`` (table cells, tree nodes, titles)."""
    return safe_text(value, style, one_line=True)


def finite(value: Any) -> Any:
    """``value`` with NaN and ±Infinity replaced by None (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def finite_number(value: float | int | None, spec: str = "g") -> str:
    """A number for display; NaN, ±Infinity (a server can send them) and None show as ``?``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "?"
    return format(value, spec)


def safe_json(value: Any, **options: Any) -> str:
    """Strict JSON (non-finite numbers as null) whose text holds no terminal control character.

    Strings keep their exact value: C1, DEL and bidi characters are written as ``\\u`` escapes
    (``\\u009b`` for CSI), which every JSON parser reads back as the same character."""
    import json  # on first use: not on the way to the app's first frame

    options.setdefault("ensure_ascii", False)
    text = json.dumps(finite(value), allow_nan=False, **options)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", _SURROGATE.sub("\ufffd", text))


def has_control(text: str) -> bool:
    """True when ``text`` holds a character :func:`safe_str` would escape (tests, assertions)."""
    return bool(_UNSAFE_ONE_LINE.search(text.replace("\n", "").replace("\t", "")))


__all__ = [
    "finite",
    "finite_number",
    "has_control",
    "made_safe",
    "safe_json",
    "safe_line",
    "safe_str",
    "safe_text",
]
