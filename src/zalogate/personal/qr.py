"""Turn the login QR image Zalo sends (a PNG) into a module matrix a terminal can draw.

Zalo never says what text its login QR encodes (reference §1.1), so the matrix cannot be
re-generated from the text: it is sampled from the PNG itself. A small PNG decoder (every
colour type, bit depths 1-16, no interlace) thresholds the pixels, finds the symbol's bounding
box and the module size from the top-left finder pattern (7 modules wide), then samples each
module's centre.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

__all__ = ["QrMatrix", "png_to_matrix", "render_half_blocks"]

QrMatrix = tuple[tuple[bool, ...], ...]
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> list[bytearray]:
    rows: list[bytearray] = []
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind = raw[pos]
        line = bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        if len(line) != stride:
            raise ValueError("truncated PNG image data")
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                ul = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, up, ul)) & 0xFF
            elif kind != 0:
                raise ValueError(f"unknown PNG filter {kind}")
        rows.append(line)
        prev = line
    return rows


def _dark_pixels(png: bytes) -> list[list[bool]]:
    """Decode ``png`` into rows of "is this pixel dark" booleans."""
    if not png.startswith(_PNG_MAGIC):
        raise ValueError("not a PNG image")
    pos = len(_PNG_MAGIC)
    width = height = depth = ctype = 0
    palette: list[tuple[int, int, int]] = []
    idat = bytearray()
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        body = png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if interlace:
                raise ValueError("interlaced PNG is not supported")
            if ctype not in _CHANNELS:
                raise ValueError(f"unknown PNG colour type {ctype}")
        elif kind == b"PLTE":
            palette = [tuple(body[i : i + 3]) for i in range(0, len(body) - 2, 3)]  # type: ignore[misc]
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if not width or not height:
        raise ValueError("PNG has no IHDR")
    channels = _CHANNELS[ctype]
    bits = depth * channels
    stride = (width * bits + 7) // 8
    rows = _unfilter(zlib.decompress(bytes(idat)), height, stride, max(1, bits // 8))
    top = (1 << depth) - 1
    out: list[list[bool]] = []
    for line in rows:
        dark_row: list[bool] = []
        for x in range(width):
            if depth < 8:
                bit = x * depth
                sample = (line[bit // 8] >> (8 - depth - bit % 8)) & top
                values = [sample]
            else:
                size = depth // 8
                start = x * channels * size
                values = [
                    int.from_bytes(line[start + c * size : start + (c + 1) * size], "big")
                    for c in range(channels)
                ]
            if ctype == 3:
                r, g, b = palette[values[0]] if values[0] < len(palette) else (255, 255, 255)
                lum, limit = (r + g + b) / 3, 255.0
            elif ctype in (0, 4):
                lum, limit = float(values[0]), float(top)
                if ctype == 4 and values[1] < top // 2:
                    lum = limit  # transparent counts as light
            else:
                lum, limit = sum(values[:3]) / 3, float(top)
                if ctype == 6 and values[3] < top // 2:
                    lum = limit
            dark_row.append(lum < limit / 2)
        out.append(dark_row)
    return out


def png_to_matrix(png: bytes) -> QrMatrix:
    """Sample the QR modules of a PNG (quiet zone removed); ``True`` means dark.

    Raises:
        ValueError: not a PNG we can read, or no QR-looking symbol in it.
    """
    pixels = _dark_pixels(png)
    ys = [y for y, row in enumerate(pixels) if any(row)]
    if not ys:
        raise ValueError("the QR image is blank")
    xs = [x for row in pixels for x, dark in enumerate(row) if dark]
    top, bottom, left, right = ys[0], ys[-1], min(xs), max(xs)
    # The top-left finder pattern's first row is 7 dark modules wide.
    run = 0
    while left + run <= right and pixels[top][left + run]:
        run += 1
    module = run / 7
    if module < 1:
        raise ValueError("QR modules are smaller than a pixel")
    size = round((right - left + 1) / module)
    if size < 21:
        raise ValueError(f"symbol of {size} modules is not a QR code")
    matrix = []
    for my in range(size):
        y = min(bottom, top + int((my + 0.5) * module))
        row = pixels[y]
        matrix.append(tuple(row[min(right, left + int((mx + 0.5) * module))] for mx in range(size)))
    return tuple(matrix)


def render_half_blocks(matrix: Sequence[Sequence[bool]], *, quiet_zone: int = 2) -> str:
    """Draw ``matrix`` with Unicode half blocks (two module rows per text line).

    Dark modules are drawn as spaces on a light background, which scans on dark terminals.
    """
    size = len(matrix[0]) if matrix else 0
    width = size + 2 * quiet_zone
    padded: list[list[bool]] = [[False] * width for _ in range(quiet_zone)]
    padded += [[False] * quiet_zone + list(row) + [False] * quiet_zone for row in matrix]
    padded += [[False] * width for _ in range(quiet_zone + 1)]
    lines = []
    for y in range(0, len(padded) - 1, 2):
        upper, lower = padded[y], padded[y + 1]
        chars = []
        for x in range(width):
            if upper[x] and lower[x]:
                chars.append(" ")
            elif upper[x]:
                chars.append("\u2584")
            elif lower[x]:
                chars.append("\u2580")
            else:
                chars.append("\u2588")
        lines.append("".join(chars))
    return "\n".join(lines)
