"""image_size reads width and height from the header of each format Zalo takes as a photo."""

from __future__ import annotations

import struct

import pytest

from zalogate.personal.image_size import image_size


def png(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", width, height) + b"\x08\x02"


def riff(chunk: bytes, body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + chunk + body


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def test_png_size_comes_from_ihdr() -> None:
    assert image_size(png(1280, 720)) == (1280, 720)


@pytest.mark.parametrize("version", [b"GIF87a", b"GIF89a"])
def test_gif_size_comes_from_the_screen_descriptor(version: bytes) -> None:
    assert image_size(version + struct.pack("<HH", 640, 480) + b"\x00") == (640, 480)


def test_jpeg_size_comes_from_the_frame_header_after_other_segments() -> None:
    app1 = segment(0xE1, b"Exif\x00\x00" + b"\x00" * 300)
    huffman = segment(0xC4, b"\x00" * 20)  # 0xC4 is not a frame header
    progressive = segment(0xC2, b"\x08" + struct.pack(">HH", 720, 1280) + b"\x03")
    assert image_size(b"\xff\xd8" + app1 + huffman + progressive) == (1280, 720)


def test_webp_sizes_of_the_extended_lossless_and_lossy_headers() -> None:
    extended = riff(
        b"VP8X", struct.pack("<I", 10) + b"\x10\x00\x00\x00" + b"\xff\x04\x00\xcf\x02\x00"
    )
    assert image_size(extended) == (1280, 720)
    bits = (1280 - 1) | ((720 - 1) << 14)
    lossless = riff(b"VP8L", struct.pack("<I", 5) + b"\x2f" + struct.pack("<I", bits) + b"\x00" * 5)
    assert image_size(lossless) == (1280, 720)
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", 1280, 720)
    assert image_size(riff(b"VP8 ", struct.pack("<I", len(frame)) + frame)) == (1280, 720)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        png(1, 1)[:20],
        b"GIF89a\x01",
        b"\xff\xd8\xff\xe0",
        b"RIFF\x00\x00\x00\x00WAVE",
    ],
)
def test_unknown_or_truncated_data_has_no_size(data: bytes) -> None:
    assert image_size(data) is None
