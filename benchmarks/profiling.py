"""A cProfile around one measured window, for the benchmarks that take ``--profile DIR``."""

from __future__ import annotations

import cProfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def profiled(path: Path | None) -> Iterator[None]:
    """Profile the block into ``path`` (read it with ``python -m pstats``); None: no profile."""
    if path is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)
