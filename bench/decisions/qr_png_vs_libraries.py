"""Time the login-QR PNG -> module matrix paths: ours, Pillow + our sampling, zxing-cpp + segno."""

import io
import json
import timeit

import segno
import zxingcpp
from PIL import Image

import zalogate.personal.qr as qr_mod

PAYLOAD = "https://id.zalo.me/account/authen/qr/" + "x" * 60  # the real text is opaque
qr = segno.make(PAYLOAD, error="m")
expected = tuple(tuple(bool(v) for v in row) for row in qr.matrix)


def png(**kw):
    buf = io.BytesIO()
    qr.save(buf, kind="png", **kw)
    return buf.getvalue()


def rgb_png(scale):
    img = Image.open(io.BytesIO(png(scale=scale, border=4))).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


samples = {
    "gray1_scale8": png(scale=8, border=4),
    "rgb8_scale8": rgb_png(8),
    "rgb8_scale4": rgb_png(4),
}


def via_pillow(data):
    # Pillow decodes; the same finder-pattern sampling as ours then reads the modules.
    with Image.open(io.BytesIO(data)) as im:
        g = im.convert("L")
        w, h = g.size
        px = g.tobytes()
    rows = [[px[y * w + x] < 128 for x in range(w)] for y in range(h)]
    orig = qr_mod._dark_pixels
    qr_mod._dark_pixels = lambda _png: rows
    try:
        return qr_mod.png_to_matrix(data)
    finally:
        qr_mod._dark_pixels = orig


def via_zxing(data):
    with Image.open(io.BytesIO(data)) as im:
        found = zxingcpp.read_barcode(im)
    again = segno.make(found.text, error="m")
    return tuple(tuple(bool(v) for v in row) for row in again.matrix)


out = {}
for name, data in samples.items():
    row = {"bytes": len(data)}
    for label, fn in (
        ("ours", qr_mod.png_to_matrix),
        ("pillow_sampling", via_pillow),
        ("zxing_segno", via_zxing),
    ):
        n = 5
        t = min(timeit.repeat(lambda: fn(data), number=n, repeat=3)) / n
        row[label] = {"ms_per_call": round(t * 1e3, 2), "same_matrix": fn(data) == expected}
    out[name] = row
print(json.dumps(out, indent=1))
