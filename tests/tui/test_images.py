"""tui.images: renderer choice, off-loop decoding, the byte-bounded cache."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from comfy_reality.tui.images import ImageCache, ImageLoader, ImageSupport, decode_scaled, resolve_renderer


def png(width: int, height: int, colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def test_explicit_modes_are_kept_and_auto_without_a_terminal_is_off() -> None:
    for mode in ("kitty", "sixel", "halfblock", "off"):
        assert resolve_renderer(mode) == mode
    assert resolve_renderer("auto") == "off"  # pytest's stdout is not a terminal
    with pytest.raises(ValueError, match="unknown image mode"):
        resolve_renderer("ascii-art")


def test_decode_scales_to_fit_and_keeps_the_aspect() -> None:
    picture = decode_scaled(png(400, 200), 100, 100)
    assert picture.size == (100, 50) and picture.mode == "RGB"


def test_the_cache_stays_within_its_byte_bound_dropping_the_least_recently_used() -> None:
    cache = ImageCache(max_bytes=3 * 10 * 10 * 3)  # three 10x10 RGB pictures
    for key in "abc":
        cache.put(key, Image.new("RGB", (10, 10)))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("d", Image.new("RGB", (10, 10)))
    assert cache.get("b") is None and all(cache.get(k) is not None for k in "acd")
    assert cache.used_bytes <= cache.max_bytes and len(cache) == 3


async def test_the_loader_decodes_once_per_key_and_size() -> None:
    loader = ImageLoader()
    fetched = []

    async def source() -> bytes:
        fetched.append(1)
        await asyncio.sleep(0.01)
        return png(64, 64)

    first, second = await asyncio.gather(loader.load("k", source, 32, 32), loader.load("k", source, 32, 32))
    assert first is second and fetched == [1] and loader.decodes == 1
    assert (await loader.load("k", source, 32, 32)) is first and fetched == [1]
    await loader.load("k", source, 16, 16)  # another size: decoded again
    assert loader.decodes == 2


async def test_a_failed_decode_reaches_every_waiter_and_is_not_cached() -> None:
    loader = ImageLoader()

    async def junk() -> bytes:
        await asyncio.sleep(0.01)
        return b"not an image"

    results = await asyncio.gather(
        loader.load("j", junk, 8, 8), loader.load("j", junk, 8, 8), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results) and len(loader.cache) == 0


def test_halfblock_cells_hold_two_pixels_vertically() -> None:
    assert ImageSupport("halfblock").pixels_for(20, 10) == (20, 20)
    assert not ImageSupport("off").enabled


def test_images_off_loads_neither_pillow_nor_textual_image() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from comfy_reality.config import Settings\n"
        "from comfy_reality.tui.app import ComfyRealityApp\n"
        "app = ComfyRealityApp(Settings(images='off'), connect=False)\n"
        "print(app.images.renderer, 'PIL' in sys.modules, 'textual_image' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["off", "False", "False"]


_PROBE_CHILD = r"""
import termios, sys
from comfy_reality.tui.images import probe_terminal, resolve_renderer
before = termios.tcgetattr(sys.__stdin__.fileno())
answered = probe_terminal("auto")
import textual.app  # what the app loads meanwhile
answered()
restored = termios.tcgetattr(sys.__stdin__.fileno()) == before
renderer = resolve_renderer("auto")
from textual_image._terminal import get_cell_size
print("RESULT", renderer, tuple(get_cell_size()), restored, flush=True)
"""


def test_the_terminal_is_asked_while_the_app_loads_and_asked_once() -> None:
    """On a terminal (a pty here, answering as a Sixel terminal would): the early probe's answers
    decide the renderer and the cell size, nothing is asked twice, and the terminal mode is restored."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # no pixel size: it asks
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_CELL_WIDTH"}
    env["TERM"] = "xterm-256color"
    child = subprocess.Popen(
        [sys.executable, "-c", _PROBE_CHILD], stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    seen = b""
    answers = {b"\x1b[c": b"\x1b[?62;4;22c", b"\x1b[16t": b"\x1b[6;20;10t"}
    asked = dict.fromkeys(answers, 0)
    deadline = time.monotonic() + 60
    try:
        while b"RESULT" not in seen or not seen.endswith(b"\n"):
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            seen += chunk
            for query, answer in answers.items():
                if query in chunk:
                    asked[query] += chunk.count(query)
                    os.write(master, answer)
    finally:
        child.wait(timeout=30)
        os.close(master)
    line = seen[seen.index(b"RESULT") :].decode().split("\r\n")[0]
    assert line == "RESULT sixel (10, 20) True", (line, child.stderr.read() if child.stderr else "")
    assert asked == {b"\x1b[c": 1, b"\x1b[16t": 1}
