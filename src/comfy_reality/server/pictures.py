"""Pixels for the simulated images, drawn and encoded with Pillow.

An ``ImageValue`` is a recipe; this module turns it into a picture a person recognises (a sky
gradient, a sun, hills and the prompt's seed written in the corner) so that the demo, the live
previews and the screenshots show something worth looking at. The same recipe always gives
the same pixels, so tests can compare them.
"""

from __future__ import annotations

import io
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps
from PIL.PngImagePlugin import PngInfo

from comfy_reality.server.values import ImageValue

MIN_CAPTION_HEIGHT = 48  # below this a caption would be a smudge: previews at 1/8 scale skip it


def render(image: ImageValue, index: int = 0) -> Image.Image:
    """Batch item ``index`` of ``image`` as an RGB Pillow image."""
    size = (max(1, image.width), max(1, image.height))
    if image.pattern == "solid":
        picture = Image.new("RGB", size, image.rgb())
    elif image.pattern == "noise":
        picture = _noise(size, image.seed * 104729 + index)
    else:
        picture = _scene(size, image.seed, index, image.caption)
        if image.noise_level > 0:
            level = min(1.0, image.noise_level)
            picture = Image.blend(picture, _noise(size, image.seed * 104729 + index), level)
    if image.inverted:
        picture = ImageOps.invert(picture)
    return picture


def png_bytes(picture: Image.Image, text: dict[str, str] | None = None, compress_level: int = 4) -> bytes:
    """PNG with optional tEXt chunks (SaveImage stores the prompt as ``prompt``)."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    out = io.BytesIO()
    picture.save(out, "PNG", pnginfo=info, compress_level=compress_level)
    return out.getvalue()


def jpeg_bytes(picture: Image.Image, quality: int = 85) -> bytes:
    """Baseline JPEG, what ComfyUI's sampler previews are."""
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _noise(size: tuple[int, int], seed: int) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", size, rng.randbytes(3 * size[0] * size[1]))


def _palette(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    sky = (rng.randrange(30, 120), rng.randrange(60, 160), rng.randrange(140, 240))
    horizon = (rng.randrange(200, 256), rng.randrange(120, 220), rng.randrange(60, 160))
    return sky, horizon


def _scene(size: tuple[int, int], seed: int, index: int, caption: str) -> Image.Image:
    """Sky gradient, a sun, two ranges of hills and a caption; all placed by the seed."""
    width, height = size
    rng = random.Random(seed * 7919 + index)
    sky, horizon = _palette(rng)
    mask = Image.linear_gradient("L").resize(size)  # 0 at the top, 255 at the bottom
    picture = Image.composite(Image.new("RGB", size, horizon), Image.new("RGB", size, sky), mask)
    draw = ImageDraw.Draw(picture)
    sun_x, sun_y = rng.uniform(0.2, 0.8) * width, rng.uniform(0.15, 0.4) * height
    radius = max(1.0, min(width, height) * rng.uniform(0.08, 0.14))
    draw.ellipse(
        (sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius),
        fill=(255, rng.randrange(200, 245), rng.randrange(80, 160)),
    )
    for layer, shade in ((0, 0.55), (1, 0.3)):
        base = height * (0.62 + 0.14 * layer)
        points = [(0.0, float(height))]
        peaks = 4 + layer * 2
        for p in range(peaks + 1):
            x = width * p / peaks
            points.append((x, base - rng.uniform(0.05, 0.22) * height))
        points.append((float(width), float(height)))
        colour = tuple(int(c * shade) for c in (rng.randrange(40, 120), rng.randrange(110, 200), 90))
        draw.polygon(points, fill=colour)
    if caption and height >= MIN_CAPTION_HEIGHT and width >= MIN_CAPTION_HEIGHT:
        font = _font(max(10, height // 12))
        margin = max(2, height // 40)
        box = draw.textbbox((0, 0), caption, font=font)
        y = height - (box[3] - box[1]) - 2 * margin
        draw.rectangle((0, y - margin, box[2] + 2 * margin, height), fill=(0, 0, 0))
        draw.text((margin, y - box[1]), caption, fill=(255, 255, 255), font=font)
    return picture


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()
