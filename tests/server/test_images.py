"""The server's pictures: deterministic, recognisable, and standard PNG/JPEG files."""

from __future__ import annotations

import io
import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from comfy_reality.server.pictures import jpeg_bytes, png_bytes, render
from comfy_reality.server.png import png_size
from comfy_reality.server.values import ImageValue


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 0xFFFFFF),
    st.sampled_from(["solid", "gradient", "noise"]),
)
def test_png_round_trips_pixels(width: int, height: int, color: int, pattern: str) -> None:
    image = ImageValue(width, height, color=color, pattern=pattern, seed=color)
    picture = render(image)
    data = png_bytes(picture, text={"prompt": "{}"})
    assert png_size(data) == (width, height)
    kinds = [k for k, _ in _png_chunks(data)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    assert (b"tEXt", b"prompt\x00{}") in _png_chunks(data)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == "RGB" and decoded.tobytes() == picture.tobytes()


def test_the_same_recipe_gives_the_same_pixels_and_seeds_differ() -> None:
    a = render(ImageValue(96, 64, pattern="gradient", seed=5, caption="seed 5"))
    assert a.tobytes() == render(ImageValue(96, 64, pattern="gradient", seed=5, caption="seed 5")).tobytes()
    assert a.tobytes() != render(ImageValue(96, 64, pattern="gradient", seed=6, caption="seed 5")).tobytes()


def test_solid_inverted_and_noisy_images() -> None:
    assert render(ImageValue(4, 4, color=0x102030)).getpixel((1, 1)) == (0x10, 0x20, 0x30)
    assert render(ImageValue(4, 4, color=0x102030, inverted=True)).getpixel((1, 1)) == (0xEF, 0xDF, 0xCF)
    clean = render(ImageValue(64, 64, pattern="gradient", seed=3))
    noisy = render(ImageValue(64, 64, pattern="gradient", seed=3, noise_level=0.75))
    assert clean.tobytes() != noisy.tobytes()


def test_the_caption_is_drawn_in() -> None:
    plain = render(ImageValue(256, 128, pattern="gradient", seed=9))
    captioned = render(ImageValue(256, 128, pattern="gradient", seed=9, caption="seed 42"))
    # The caption sits in a black band at the bottom left; the rest of the picture is the same.
    assert plain.crop((0, 0, 256, 64)).tobytes() == captioned.crop((0, 0, 256, 64)).tobytes()
    assert plain.crop((0, 100, 80, 128)).tobytes() != captioned.crop((0, 100, 80, 128)).tobytes()
    band = captioned.crop((0, 100, 80, 128)).convert("L")
    assert band.getextrema() == (0, band.getextrema()[1]) and band.getextrema()[1] > 200  # white on black


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 70), st.integers(1, 70), st.integers(0, 0xFFFFFF))
def test_jpeg_is_a_wellformed_baseline_file(width: int, height: int, color: int) -> None:
    data = jpeg_bytes(render(ImageValue(width, height, color=color, pattern="gradient", seed=color)))
    assert data[:4] == b"\xff\xd8\xff\xe0" and data[-2:] == b"\xff\xd9"
    pos, markers = 2, []
    while True:
        marker, length = struct.unpack(">HH", data[pos : pos + 4])
        markers.append(marker)
        if marker == 0xFFC0:
            assert struct.unpack(">HH", data[pos + 5 : pos + 9]) == (height, width)
        pos += 2 + length
        if marker == 0xFFDA:
            break
    assert 0xFFC0 in markers and markers[0] == 0xFFE0 and markers[-1] == 0xFFDA
    scan = data[pos:-2]
    # Inside entropy-coded data every 0xFF is stuffed with 0x00 (or is a restart marker).
    assert all(
        scan[i + 1] == 0 or 0xD0 <= scan[i + 1] <= 0xD7 for i in range(len(scan) - 1) if scan[i] == 0xFF
    )
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "JPEG" and decoded.size == (width, height)
