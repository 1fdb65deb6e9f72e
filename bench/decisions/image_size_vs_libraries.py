"""Time zalogate's image_size against imagesize and Pillow on PNG/JPEG/GIF/WebP bytes."""

import io
import json
import timeit

import imagesize
from PIL import Image

from zalogate.personal.image_size import image_size


def make(fmt, mode="RGB", size=(1280, 720), **kw):
    buf = io.BytesIO()
    img = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 0)
    img.save(buf, fmt, **kw)
    return buf.getvalue()


exif = Image.Exif()
exif[0x010F] = "Camera" * 2000  # a big APP1 segment before SOF
samples = {
    "png": make("PNG"),
    "jpeg": make("JPEG", quality=85),
    "jpeg_progressive_exif": make("JPEG", quality=85, progressive=True, exif=exif.tobytes()),
    "gif": make("GIF", mode="P"),
    "webp_lossy": make("WEBP", quality=80),
    "webp_lossless": make("WEBP", lossless=True),
    "webp_alpha": make("WEBP", mode="RGBA", size=(1280, 720), quality=80),
}


def via_imagesize(data):
    w, h = imagesize.get(io.BytesIO(data))
    return (w, h) if w > 0 else None


def via_pillow(data):
    with Image.open(io.BytesIO(data)) as im:
        return im.size


out = {}
for name, data in samples.items():
    row = {"bytes": len(data)}
    for label, fn in (("ours", image_size), ("imagesize", via_imagesize), ("pillow", via_pillow)):
        n = 20000
        t = min(timeit.repeat(lambda: fn(data), number=n, repeat=5)) / n
        row[label] = {"size": fn(data), "us_per_call": round(t * 1e6, 2)}
    out[name] = row
print(json.dumps(out, indent=1))
