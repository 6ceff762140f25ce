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
