"""Pictures in the terminal: which renderer to use, and decoding that never blocks the UI loop.

``textual-image`` draws images with the Kitty graphics protocol, Sixel or Unicode half blocks;
Pillow decodes and scales them. Decoding and scaling run in a worker thread, and the scaled
results are kept in a small LRU cache bounded by bytes, so a flood of preview frames or a long
gallery costs a fixed amount of memory. With the mode ``off`` nothing here is imported or run.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage
    from textual.widget import Widget

ImageMode = Literal["auto", "kitty", "sixel", "halfblock", "off"]
Renderer = Literal["kitty", "sixel", "halfblock", "off"]
IMAGE_MODES: tuple[str, ...] = get_args(ImageMode)

DEFAULT_CACHE_BYTES = 48 * 1024 * 1024
FALLBACK_CELL = (10, 20)  # pixels per cell when the terminal does not say (VT340, as textual-image)


def resolve_renderer(mode: str) -> Renderer:
    """The renderer for ``mode``; ``auto`` asks the terminal, so call it before Textual starts.

    Without a terminal (piped, tests) ``auto`` gives ``off``: nothing is drawn and nothing decoded.
    Inside tmux the queries go to tmux itself, which answers for Sixel only when it was built with
    it; otherwise half blocks, which tmux passes through as ordinary coloured text.
    """
    if mode == "off":
        return "off"
    if mode not in IMAGE_MODES:
        raise ValueError(f"unknown image mode {mode!r}; choose one of {', '.join(IMAGE_MODES)}")
    stdout = sys.__stdout__
    terminal = stdout is not None and stdout.isatty() and os.environ.get("TERM") != "dumb"
    if mode == "auto" and not terminal:
        return "off"
    if terminal:
        _ask_terminal()
    if mode != "auto":
        return mode  # type: ignore[return-value]
    from textual_image import renderable

    if renderable.Image is renderable.SixelImage:
        return "sixel"
    if renderable.Image is renderable.TGPImage:
        return "kitty"
    return "halfblock"


def _ask_terminal() -> None:
    """Import textual-image now: its imports ask the terminal (graphics support, pixels per cell)
    and cache the answers. Once Textual runs it reads stdin itself and answers would be lost."""
    # A terminal that does not answer is normal (it then gets defaults); not worth a traceback on stderr.
    logging.getLogger("textual_image").setLevel(logging.ERROR)
    try:
        from textual_image import widget
    except ZeroDivisionError:  # a terminal reporting 0 columns: textual-image cannot measure cells
        from textual_image import _terminal

        _terminal.get_cell_size._result = _terminal.CellSize(*FALLBACK_CELL)  # type: ignore[attr-defined]
        from textual_image import widget  # noqa: F401


def probe_terminal(mode: str) -> Callable[[], None]:
    """Ask the terminal its questions (graphics protocols, pixels per cell) on a thread now; returns
    the wait for the answers.

    :func:`resolve_renderer` asks the same while textual-image loads, and a terminal without the
    Kitty protocol (most, tmux too) never answers that question: it times out after 0.1 s, most of
    the wall time before the first frame. Asked here while Textual and the app load, the wait is
    spent loading them. Call the result before :func:`resolve_renderer`, and before Textual starts
    (it then reads stdin itself, and answers would be lost).
    """
    stdout = sys.__stdout__
    terminal = stdout is not None and stdout.isatty() and os.environ.get("TERM") != "dumb"
    if mode == "off" or not terminal:
        return lambda: None
    # Rich's modules the probe imports, loaded here first: the two threads never import one module.
    import rich.color
    import rich.console
    import rich.control
    import rich.measure
    import rich.segment
    import rich.style  # noqa: F401

    thread = threading.Thread(target=_ask_terminal_early, name="terminal-probe", daemon=True)
    thread.start()
    return thread.join


def _ask_terminal_early() -> None:
    """textual-image's questions without Textual (its widgets import Textual, which the app's thread loads)."""
    logging.getLogger("textual_image").setLevel(logging.ERROR)
    try:
        from textual_image import _terminal, renderable  # noqa: F401 - importing renderable asks

        try:
            _terminal.get_cell_size()
        except ZeroDivisionError:  # a terminal reporting 0 columns: textual-image cannot measure cells
            _terminal.get_cell_size._result = _terminal.CellSize(*FALLBACK_CELL)  # type: ignore[attr-defined]
    except Exception:
        return


def cell_size() -> tuple[int, int]:
    """Pixels per terminal cell (width, height), as textual-image measured them."""
    try:
        from textual_image._terminal import get_cell_size

        size = get_cell_size()
        return (size.width or FALLBACK_CELL[0], size.height or FALLBACK_CELL[1])
    except Exception:  # no terminal at all
        return FALLBACK_CELL


def image_widget(renderer: Renderer, *, id: str | None = None, classes: str | None = None) -> Widget:
    """An empty textual-image widget for ``renderer`` (not ``off``); fill it with :func:`show_picture`."""
    from textual_image import widget

    classes_by_renderer: dict[str, Any] = {
        "kitty": widget.TGPImage,
        "sixel": widget.SixelImage,
        "halfblock": widget.HalfcellImage,
    }
    made: Widget = classes_by_renderer[renderer](None, id=id, classes=classes)
    return made


def show_picture(image_widget: Widget, picture: PILImage | None) -> None:
    """Put a decoded picture (or nothing) into a widget made by :func:`image_widget`."""
    image_widget.image = picture  # type: ignore[attr-defined]


def shown_picture(image_widget: Widget) -> PILImage | None:
    picture: PILImage | None = getattr(image_widget, "image", None)
    return picture


def rich_renderable(renderer: Renderer, picture: PILImage, width: int, height: int | str = "auto") -> Any:
    """textual-image's Rich renderable ``width`` cells wide (aspect kept), for the CLI's ``--show``/``show``."""
    from textual_image import renderable

    classes: dict[str, Any] = {
        "kitty": renderable.TGPImage,
        "sixel": renderable.SixelImage,
        "halfblock": renderable.HalfcellImage,
    }
    return classes[renderer](picture, width=width, height=height)


def decode_scaled(data: bytes, max_width: int, max_height: int) -> PILImage:
    """Decode image bytes and shrink them to fit ``max_width`` x ``max_height`` pixels (RGB)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        opened.draft("RGB", (max_width, max_height))  # JPEG: decode at a reduced scale, much cheaper
        picture = opened.convert("RGB")
    picture.thumbnail((max(1, max_width), max(1, max_height)))
    return picture


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of encoded image bytes without decoding the pixels; None if not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            return opened.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def fit_columns(pixel_size: tuple[int, int], max_columns: int, max_rows: int) -> int:
    """Cells across for a picture: its own size in cells, within the columns and rows there are."""
    cell_width, cell_height = cell_size()
    width, height = max(1, pixel_size[0]), max(1, pixel_size[1])
    columns = max(8, min(max_columns, round(width / cell_width)))
    rows = columns * cell_width * height / width / cell_height
    if rows > max_rows:
        columns = max(1, int(columns * max_rows / rows))
    return columns


@dataclass
class ImageCache:
    """Decoded, scaled pictures by key, least recently used first out, bounded in bytes."""

    max_bytes: int = DEFAULT_CACHE_BYTES
    _items: OrderedDict[Hashable, PILImage] = field(default_factory=OrderedDict)
    used_bytes: int = 0

    def get(self, key: Hashable) -> PILImage | None:
        picture = self._items.get(key)
        if picture is not None:
            self._items.move_to_end(key)
        return picture

    def put(self, key: Hashable, picture: PILImage) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.used_bytes -= _cost(old)
        self._items[key] = picture
        self.used_bytes += _cost(picture)
        while self.used_bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self.used_bytes -= _cost(dropped)

    def __len__(self) -> int:
        return len(self._items)


def _cost(picture: PILImage) -> int:
    return picture.width * picture.height * len(picture.getbands())


class ImageLoader:
    """Decodes in a thread, caches the results, and never runs two decodes of one key at once."""

    def __init__(self, cache: ImageCache | None = None, max_concurrent: int = 2) -> None:
        self.cache = cache or ImageCache()
        self._gate = asyncio.Semaphore(max_concurrent)
        self._running: dict[Hashable, asyncio.Future[PILImage]] = {}
        self.decodes = 0

    async def load(
        self, key: Hashable, source: Callable[[], Awaitable[bytes]], max_width: int, max_height: int
    ) -> PILImage:
        """The picture for ``key`` scaled to fit; ``source`` is awaited only on a cache miss."""
        full_key = (key, max_width, max_height)
        cached = self.cache.get(full_key)
        if cached is not None:
            return cached
        pending = self._running.get(full_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[PILImage] = asyncio.get_running_loop().create_future()
        self._running[full_key] = future
        try:
            async with self._gate:
                data = await source()
                picture = await asyncio.to_thread(decode_scaled, data, max_width, max_height)
            self.decodes += 1
            self.cache.put(full_key, picture)
            future.set_result(picture)
            return picture
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            self._running.pop(full_key, None)

    async def decode(self, data: bytes, max_width: int, max_height: int) -> PILImage:
        """Decode once, uncached: preview frames are each shown once and then superseded."""
        async with self._gate:
            picture = await asyncio.to_thread(decode_scaled, data, max_width, max_height)
        self.decodes += 1
        return picture


@dataclass
class ImageSupport:
    """What the app's image widgets share: the renderer, the loader, and how to fetch outputs."""

    renderer: Renderer
    loader: ImageLoader = field(default_factory=ImageLoader)
    fetch_output: Callable[[Any], Awaitable[bytes]] | None = None
    local_paths: dict[Hashable, Path] = field(default_factory=dict)  # written for the desktop viewer

    @property
    def enabled(self) -> bool:
        return self.renderer != "off"

    def pixels_for(self, columns: int, rows: int) -> tuple[int, int]:
        """The pixel box that fills ``columns`` x ``rows`` cells: no point decoding more."""
        if self.renderer == "halfblock":
            return max(1, columns), max(1, rows * 2)
        width, height = cell_size()
        return max(1, columns * width), max(1, rows * height)
