"""Pixel work for images that cannot be sent as they are: mode, orientation, size, encoding.

`images/prepare.py` decides whether an image needs this; here it is decoded pixels in, encoded bytes out.

Example:
    >>> from PIL import Image
    >>> data, mime, size = encode(Image.new("CMYK", (400, 200)), fit(400, 200, 100, 10_000), 1, 90)
    >>> mime, size
    ('image/jpeg', (100, 50))
"""

from __future__ import annotations

import io
import math

from PIL import Image

_T = Image.Transpose
ORIENT = {
    2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE,
    6: _T.ROTATE_270, 7: _T.TRANSVERSE, 8: _T.ROTATE_90,
}  # fmt: skip


def fit(w: int, h: int, max_side: int, max_pixels: int) -> tuple[int, int]:
    """The largest size within both caps that keeps the aspect ratio (never upscales)."""
    scale = min(1.0, max_side / max(w, h), math.sqrt(max_pixels / (w * h)))
    if scale >= 1.0:
        return w, h
    tw = max(1, min(max_side, round(w * scale)))
    th = max(1, min(max_side, round(h * scale)))
    while tw * th > max_pixels:
        tw, th = (tw - 1, th) if tw >= th else (tw, th - 1)
    return tw, th


def encode(
    im: Image.Image, target: tuple[int, int], orientation: int, jpeg_quality: int
) -> tuple[bytes, str, tuple[int, int]]:
    """Normalise the mode, downscale to `target`, apply EXIF `orientation`, encode; returns (bytes, mime, size).

    PNG only when a real alpha channel remains, else JPEG. The ICC profile is kept when the colour
    family is unchanged; all other metadata is dropped.
    """
    icc = im.info.get("icc_profile")
    src_mode = im.mode
    out = normalize_mode(im)
    if out.size != target:
        out = out.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
    if orientation in ORIENT:
        out = out.transpose(ORIENT[orientation])
    family = {"RGB": "RGB", "RGBA": "RGB", "RGBX": "RGB", "P": "RGB", "L": "L", "LA": "L"}
    icc = icc if family.get(src_mode) == family[out.mode] else None
    buf = io.BytesIO()
    if out.mode == "RGBA":
        out.save(buf, "PNG", compress_level=6, icc_profile=icc)
        return buf.getvalue(), "image/png", out.size
    out.save(buf, "JPEG", quality=jpeg_quality, icc_profile=icc)
    return buf.getvalue(), "image/jpeg", out.size


def normalize_mode(im: Image.Image) -> Image.Image:
    """Return an L, RGB or RGBA image; RGBA only when the alpha channel is not fully opaque."""
    mode = im.mode
    if mode in ("L", "RGB") and "transparency" not in im.info:
        return im
    if mode.startswith("I") or mode == "F":
        return to_8bit_grey(im)
    if mode == "1":
        return im.convert("L")
    has_alpha = "A" in mode or "a" in mode or "transparency" in im.info
    if mode == "P" and im.palette is not None and im.palette.mode == "RGBA":
        has_alpha = True
    if not has_alpha:
        return im.convert("RGB")  # CMYK (incl. Adobe inverted), YCbCr, LAB, HSV, RGBX, P, ...
    grey = mode in ("LA", "La", "L")
    rgba = im.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:  # fully opaque: drop the alpha channel
        return im.convert("L") if grey else rgba.convert("RGB")
    return rgba


def to_8bit_grey(im: Image.Image) -> Image.Image:
    """Scale 16-bit (by 1/257) or arbitrary-range int/float grey (min..max) to 8-bit L, never clip."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return im.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    if im.mode != "F":
        im = im.convert("I")
    lo, hi = im.getextrema()
    if im.mode == "F" and lo >= 0 and hi <= 1.0:
        scale, offset = 255.0, 0.0
    elif lo >= 0 and hi <= 255:
        scale, offset = 1.0, 0.0
    elif hi > lo:
        scale, offset = 255.0 / (hi - lo), -lo * 255.0 / (hi - lo)
    else:
        scale, offset = 0.0, 0.0 if lo < 0 else 255.0
    return im.point(lambda v: v * scale + offset).convert("L")


__all__ = [
    "ORIENT",
    "encode",
    "fit",
    "normalize_mode",
    "to_8bit_grey",
]
