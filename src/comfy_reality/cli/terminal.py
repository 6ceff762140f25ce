"""The terminal under the live table: Ctrl-C (or any key) must not draw into it.

A terminal echoes Ctrl-C as ``^C`` (or, without ECHOCTL, the raw byte) at the cursor, which sits at
the end of the live table's last line: the line wraps, the table's idea of where it is drifts by
one, and its top border is left behind on screen; typed keys do the same. While the table is live
the terminal's echo is turned off; it is put back as it was afterwards, whatever happens.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


@contextmanager
def no_echo(stream: IO[str] | None = None) -> Iterator[None]:
    """Turn off the echo on ``stream`` (stdin) while inside; a no-op where there is no such terminal."""
    stream = stream if stream is not None else sys.stdin
    try:
        import termios

        fd = stream.fileno()
        if not stream.isatty():
            raise OSError("not a terminal")
        before = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, AttributeError):  # Windows, a pipe, a closed stdin
        yield
        return
    quiet = list(before)
    quiet[3] = before[3] & ~(termios.ECHO | termios.ECHOCTL)
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except termios.error:
        yield
        return
    try:
        yield
    finally:
        try:
            termios.tcsetattr(fd, termios.TCSANOW, before)
        except termios.error:
            pass  # the terminal went away: nothing left to restore
