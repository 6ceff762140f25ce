"""Decode a ``progress_state`` snapshot by reusing what the previous one of its prompt decoded to.

Consecutive snapshots of a prompt differ only in a few entries: the server lists nodes in the
order they started, and only the running ones (at the end) change. :class:`SnapshotDecoder`
keeps, per prompt, the last snapshot's text and the end offset of each entry; for the next one it
finds the longest run of leading entries whose text is unchanged (compared in C), reuses their
decoded values and decodes only the rest, entry by entry with the json module's own scanner.
The ``nodes`` it returns equal ``json.loads(text)["data"]["nodes"]`` (same keys, order, values);
anything that is not in the exact layout gives ``None`` and the caller takes the full path.

They come as :class:`SnapshotNodes`, which also say which entries changed since the previous
snapshot of the prompt, so a tracker that folded that one can fold only those (O(changed), not
O(nodes)).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The C scanner json.loads uses: (value, end) of the JSON value at an offset.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_DECODE_ERRORS = (StopIteration, ValueError, RecursionError, IndexError)
MAX_PROMPTS = 4  # a socket runs one prompt at a time; a few more cover interleaved ones
_serials = itertools.count(1)


class SnapshotNodes(dict[str, Any]):
    """A snapshot's ``nodes``, equal to the plain dict json.loads gives, plus what changed.

    ``serial`` names this snapshot. When ``after`` is not None, every entry but those named in
    ``changed`` (in their order) has exactly the text it had in snapshot ``after``, the one the
    decoder gave before for the same prompt; the keys are all distinct.
    """

    __slots__ = ("after", "changed", "serial")

    serial: int
    after: int | None
    changed: list[str]


@dataclass(frozen=True)
class _Decoded:
    text: str
    keys: list[str]
    values: list[Any]
    ends: list[int]  # offset just past each entry's value in ``text``
    nodes: SnapshotNodes  # what was returned for it (keys all distinct)


class SnapshotDecoder:
    """Per-prompt memory of the last snapshot, for one socket (see the module docstring)."""

    def __init__(self) -> None:
        self._last: dict[str, _Decoded] = {}
        self.entries_decoded = 0
        self.entries_reused = 0  # for benchmarks and tests

    def nodes(
        self, text: str, prompt_id: str, start: int, item_sep: str, key_sep: str
    ) -> SnapshotNodes | None:
        """The ``nodes`` object of ``text``, whose first entry (or closing brace) is at ``start``;
        ``None`` if the text is not exactly a snapshot in this layout."""
        if not prompt_id.isprintable():
            return None  # a control character json.loads would refuse
        previous = self._last.pop(prompt_id, None)
        keys: list[str] = []
        values: list[Any] = []
        ends: list[int] = []
        position = start
        reused = 0
        dropped: list[str] = []  # the previous snapshot's keys after the unchanged ones
        if previous is not None:
            kept = reused = _unchanged(previous, text)
            if kept:  # the previous lists are this prompt's alone and dropped: cut them in place
                keys, values, ends = previous.keys, previous.values, previous.ends
                dropped = keys[kept:]
                del keys[kept:], values[kept:], ends[kept:]
                position = ends[-1]
                if text[position] != "}":
                    if not text.startswith(item_sep, position):
                        return None
                    position += len(item_sep)
        try:
            end = _entries(text, position, item_sep, key_sep, keys, values, ends)
        except _DECODE_ERRORS:
            return None
        if end != len(text) - 3:  # the nodes object, then the ends of "data" and of the message
            return None
        self.entries_reused += reused
        self.entries_decoded += len(keys) - reused
        changed = keys[reused:]
        if previous is not None and reused and changed[: len(dropped)] == dropped:
            # The previous dict copied (a C clone of its table), its changed entries set again in
            # place and the new ones added after them: the same keys, order and values as
            # dict(zip(keys, values)), in O(changed).
            nodes = SnapshotNodes(previous.nodes)
            for key, value in zip(changed, values[reused:], strict=True):
                nodes[key] = value
        else:
            nodes = SnapshotNodes(zip(keys, values, strict=True))
        nodes.serial = next(_serials)
        nodes.changed = changed
        nodes.after = None
        if len(nodes) != len(keys):
            # A key twice in one object (json.loads keeps the last value at the first place):
            # no hint, and nothing remembered for the next one.
            return nodes
        if previous is not None:
            nodes.after = previous.nodes.serial
        if len(self._last) >= MAX_PROMPTS:
            del self._last[next(iter(self._last))]
        self._last[prompt_id] = _Decoded(text, keys, values, ends, nodes)
        return nodes

    def forget(self) -> None:
        self._last.clear()


def _unchanged(previous: _Decoded, text: str) -> int:
    """How many leading entries of ``previous`` are also, character for character, in ``text``."""
    ends = previous.ends
    old = previous.text

    def same(count: int) -> bool:
        end = ends[count - 1]
        return len(text) > end and text.startswith(old[:end])

    count = len(ends)
    if count <= 1:
        return count if count and same(count) else 0
    if same(count - 1):
        # Usually only the last entry (the running node) changed: compare just that one now.
        begin, end = ends[count - 2], ends[count - 1]
        return count if len(text) > end and text[begin:end] == old[begin:end] else count - 1
    low, high = 0, count - 2  # same(low) holds (0 trivially), same(high + 1) does not
    while low < high:
        middle = (low + high + 1) // 2
        if same(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _entries(
    text: str,
    position: int,
    item_sep: str,
    key_sep: str,
    keys: list[str],
    values: list[Any],
    ends: list[int],
) -> int:
    """Decode ``"key": value`` pairs from ``position`` up to the object's closing brace; its offset."""
    if text[position] == "}":
        return position
    while True:
        key, end = _scan(text, position)
        if type(key) is not str or not text.startswith(key_sep, end):
            raise ValueError("not an object entry")
        value, end = _scan(text, end + len(key_sep))
        keys.append(key)
        values.append(value)
        ends.append(end)
        if text[end] == "}":
            return end
        if not text.startswith(item_sep, end):
            raise ValueError("not an object entry")
        position = end + len(item_sep)
