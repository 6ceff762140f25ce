"""How the server converts and compares prompt values: Python's own conversions and comparisons.

The server runs ``int(value)``/``float(value)``/``str(value)``/``bool(value)`` on widget values
and reports the exception's text when one fails, so the conversions here are exactly those.
Comparisons that Python would refuse (``"a" < 3``) count as "not smaller", never as a crash.
"""

from __future__ import annotations

from typing import Any

ANY_TYPE = "*"
COMBO = "COMBO"


def coerce_like_server(type_name: str, value: Any) -> Any:
    """The value the server stores for a widget input; raises what Python raises when it cannot."""
    if type_name == "INT":
        return int(value)
    if type_name == "FLOAT":
        return float(value)
    if type_name == "STRING":
        return str(value)
    if type_name == "BOOLEAN":
        return bool(value)
    return value


def unwrap_value(value: Any) -> Any:
    """The web UI may send ``{"__value__": v}`` for a widget; the server reads ``v``."""
    if isinstance(value, dict) and "__value__" in value:
        return value["__value__"]
    return value


def less_than(a: Any, b: Any) -> bool:
    try:
        return bool(a < b)
    except TypeError:
        return False


def in_choices(value: Any, choices: list[Any]) -> bool:
    try:
        return value in choices
    except TypeError:
        return False


def types_match(received: Any, wanted: Any) -> bool:
    """Can an output of type ``received`` feed an input of type ``wanted`` (the server's rule)?

    Equal types match; ``*`` (any type) matches everything on either side; a combo input
    (a choice list, or ``COMBO``) takes a combo output; otherwise comma-separated unions match
    when they share a type.
    """
    if received in (wanted, ANY_TYPE) or wanted == ANY_TYPE:
        return True
    if isinstance(wanted, list) or wanted == COMBO:
        return isinstance(received, list) or received == COMBO
    if not isinstance(received, str) or not isinstance(wanted, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in wanted.split(",")}
    if ANY_TYPE in got or ANY_TYPE in want:
        return True
    return bool(got & want)
