"""A tiny baseline JPEG encoder for preview frames (struct only, no imaging library).

It keeps only each 8x8 block's average colour (the DC coefficient; every AC coefficient is
zero), so a preview looks like a coarse mosaic, much like ComfyUI's low-resolution latent
previews. The output is a standard baseline JFIF file any decoder reads; ComfyUI sends sampler
previews as JPEG, so the frames carry image format 1 as on a real server.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

# Standard luminance DC table (ITU T.81, K.3): code lengths 1..16 and the categories.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALS = tuple(range(12))
# AC table with just two 2-bit codes: EOB (0x00) and a filler symbol, enough for DC-only blocks.
_AC_BITS = (0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_AC_VALS = (0x00, 0x01)
_DC_QUANT = 8  # with DC = 8 * (mean - 128), this makes the coded value the mean itself


def _codes(bits: tuple[int, ...], vals: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    """Canonical Huffman codes: symbol -> (code, length)."""
    table: dict[int, tuple[int, int]] = {}
    code = 0
    k = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            table[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return table


_DC_CODES = _codes(_DC_BITS, _DC_VALS)
_EOB = _codes(_AC_BITS, _AC_VALS)[0x00]


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._n = 0

    def write(self, value: int, length: int) -> None:
        self._acc = (self._acc << length) | (value & ((1 << length) - 1))
        self._n += length
        while self._n >= 8:
            self._n -= 8
            byte = (self._acc >> self._n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0x00)  # byte stuffing
        self._acc &= (1 << self._n) - 1

    def flush(self) -> bytes:
        if self._n:
            self.write((1 << (8 - self._n)) - 1, 8 - self._n)  # pad with 1-bits
        return bytes(self.out)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def _block_means(width: int, height: int, rows: Iterable[bytes]) -> list[list[tuple[float, float, float]]]:
    bw = (width + 7) // 8
    bh = (height + 7) // 8
    sums = [[[0, 0, 0, 0] for _ in range(bw)] for _ in range(bh)]
    for y, row in enumerate(rows):
        line = sums[y // 8]
        for bx in range(bw):
            chunk = row[bx * 24 : bx * 24 + 24]
            acc = line[bx]
            acc[0] += sum(chunk[0::3])
            acc[1] += sum(chunk[1::3])
            acc[2] += sum(chunk[2::3])
            acc[3] += len(chunk) // 3
    return [
        [(s[0] / s[3], s[1] / s[3], s[2] / s[3]) if s[3] else (0.0, 0.0, 0.0) for s in line] for line in sums
    ]


def _category(value: int) -> int:
    return abs(value).bit_length()


def encode_jpeg(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    """Encode 8-bit RGB rows (``3 * width`` bytes each) as a DC-only baseline JPEG."""
    if width <= 0 or height <= 0:
        raise ValueError(f"JPEG size must be positive, got {width}x{height}")
    means = _block_means(width, height, rows)
    bits = _BitWriter()
    previous = [0, 0, 0]
    for line in means:
        for r, g, b in line:
            ycc = (
                0.299 * r + 0.587 * g + 0.114 * b,
                -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
                0.5 * r - 0.418688 * g - 0.081312 * b + 128,
            )
            for c in range(3):
                dc = max(-2047, min(2047, round((ycc[c] - 128) * 8 / _DC_QUANT)))
                diff = dc - previous[c]
                previous[c] = dc
                size = _category(diff)
                code, length = _DC_CODES[size]
                bits.write(code, length)
                if size:
                    bits.write(diff if diff > 0 else diff - 1, size)
                bits.write(*_EOB)
    scan = bits.flush()

    quant = bytes([0]) + bytes([_DC_QUANT] + [1] * 63)
    frame = struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0])
    dht = (
        bytes([0x00]) + bytes(_DC_BITS) + bytes(_DC_VALS) + bytes([0x10]) + bytes(_AC_BITS) + bytes(_AC_VALS)
    )
    sos = bytes([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0])
    jfif = b"JFIF\x00" + struct.pack(">BBBHHBB", 1, 1, 0, 1, 1, 0, 0)
    return b"".join(
        [
            b"\xff\xd8",
            _segment(0xFFE0, jfif),
            _segment(0xFFDB, quant),
            _segment(0xFFC0, frame),
            _segment(0xFFC4, dht),
            _segment(0xFFDA, sos),
            scan,
            b"\xff\xd9",
        ]
    )
