"""Minimal PNG writer/reader (zlib + struct), so the server needs no imaging library."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(
    width: int,
    height: int,
    rows: Iterable[bytes],
    *,
    text: dict[str, str] | None = None,
    compress_level: int = 4,
) -> bytes:
    """Encode 8-bit RGB rows (each ``3 * width`` bytes) as a PNG, with optional tEXt chunks.

    ComfyUI's SaveImage stores the prompt as a ``prompt`` tEXt chunk; callers pass the same.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"PNG size must be positive, got {width}x{height}")
    stride = 3 * width
    raw = bytearray()
    count = 0
    for row in rows:
        if len(row) != stride:
            raise ValueError(f"row {count} has {len(row)} bytes, expected {stride}")
        raw.append(0)  # filter type None
        raw += row
        count += 1
    if count != height:
        raise ValueError(f"got {count} rows, expected {height}")
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    parts = [PNG_SIGNATURE, _chunk(b"IHDR", header)]
    for key, value in (text or {}).items():
        parts.append(_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1", "replace")))
    parts.append(_chunk(b"IDAT", zlib.compress(bytes(raw), compress_level)))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG header, or None if ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
