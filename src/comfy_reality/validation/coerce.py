"""How values are converted and compared: the server's way, and a user's way.

The server runs ``int(value)``/``float(value)``/``str(value)``/``bool(value)`` on widget values
and reports the exception's text when one fails, so ``coerce_like_server`` is exactly those.
Comparisons that Python would refuse (``"a" < 3``) count as "not smaller", never as a crash.

A value typed by a user (a form, ``--set``) is read more strictly and more kindly
(``coerce_user_value``): ``"1e3"`` is an integer, ``2.5`` is not, and the message says what was
expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


def coerce_user_value(type_name: str, name: str, value: Any, choices: list[Any] | None = None) -> Any:
    """A user's value in the input's type; ValueError names the input and what was expected."""
    if type_name == COMBO:
        return _user_combo(value, choices or [])
    reader = _USER_READERS.get(type_name)
    return value if reader is None else reader(name, value)


def _user_int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        whole = _integer_text(value.strip().replace("_", ""))
        if whole is not None:
            return whole
    if isinstance(value, bool | float | str):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    raise ValueError(f"{name}: expected an integer, got {type(value).__name__}")


def _integer_text(text: str) -> int | None:
    """``"12"``, ``"1e3"`` and ``"4.0"`` are integers; ``"2.5"``, ``"inf"`` and words are not."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        as_float = float(text)
    except ValueError:
        return None
    return int(as_float) if math.isfinite(as_float) and as_float.is_integer() else None


def _user_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ValueError(f"{name}: expected a number, got {value!r}") from None
    else:
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return result


_TRUE_WORDS = ("true", "1", "yes", "on")
_FALSE_WORDS = ("false", "0", "no", "off")


def _user_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_WORDS:
            return True
        if text in _FALSE_WORDS:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{name}: expected true or false, got {value!r}")


def _user_string(name: str, value: Any) -> str:
    if isinstance(value, dict | list):
        raise ValueError(f"{name}: expected text, got {type(value).__name__}")
    return value if isinstance(value, str) else str(value)


def _user_combo(value: Any, choices: list[Any]) -> Any:
    """The choice itself; ``"4"`` from a command line matches a numeric choice ``4``.

    A value that is not a choice is returned unchanged, for ``check`` to reject with the server's words.
    """
    if in_choices(value, choices):
        return value
    if isinstance(value, str):
        for choice in choices:
            if not isinstance(choice, str) and str(choice) == value.strip():
                return choice
    return value


_USER_READERS: dict[str, Callable[[str, Any], Any]] = {
    "INT": _user_int,
    "FLOAT": _user_float,
    "BOOLEAN": _user_bool,
    "STRING": _user_string,
}
