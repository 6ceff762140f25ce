"""The PNG and JPEG writers produce standard files (checked structurally, no imaging library)."""

from __future__ import annotations

import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from comfy_reality.server.jpeg import encode_jpeg
from comfy_reality.server.png import encode_png, png_size
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
    rows = list(image.rows())
    data = encode_png(width, height, rows, text={"prompt": "{}"})
    assert png_size(data) == (width, height)
    chunks = _png_chunks(data)
    assert [k for k, _ in chunks] == [b"IHDR", b"tEXt", b"IDAT", b"IEND"]
    raw = zlib.decompress(chunks[2][1])
    stride = 3 * width + 1
    assert [raw[i * stride + 1 : (i + 1) * stride] for i in range(height)] == rows


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 70), st.integers(1, 70), st.integers(0, 0xFFFFFF))
def test_jpeg_is_a_wellformed_baseline_file(width: int, height: int, color: int) -> None:
    data = encode_jpeg(
        width, height, ImageValue(width, height, color=color, pattern="gradient", seed=color).rows()
    )
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
    assert markers == [0xFFE0, 0xFFDB, 0xFFC0, 0xFFC4, 0xFFDA]
    scan = data[pos:-2]
    # Inside entropy-coded data every 0xFF is stuffed with 0x00: no stray markers.
    assert all(scan[i + 1] == 0 for i in range(len(scan) - 1) if scan[i] == 0xFF)
