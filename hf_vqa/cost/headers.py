"""Reading images for the estimate: sizes from headers (no pixels decoded) and a hash of the raw bytes.

`sized` gives what `build_request` and the token formulas need (the size as sent, after hf_vqa's
caps and the EXIF rotation) without decoding; URLs and PIL images go through `prepare_image`.

Example:
    >>> from PIL import Image
    >>> import io
    >>> buf = io.BytesIO(); Image.new("RGB", (4000, 1000)).save(buf, "PNG")
    >>> img = sized(buf.getvalue(), VLM(api_key_env=""))
    >>> img.width, img.height
    (2048, 512)
    >>> header_size(buf.getvalue())
    (4000, 1000)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

from hf_vqa.config import VLM
from hf_vqa.errors import HfVqaError

__all__ = ["Sized", "header_size", "readable", "request_image_tokens", "sized"]


def request_image_tokens(request: Any, formula: Any) -> int:
    """Image tokens of a built request's images by `formula` (sizes read from its data URLs)."""
    import base64

    from PIL import Image

    total = 0
    for url in request.image_urls:
        data = base64.b64decode(url.split(",", 1)[1])
        with Image.open(io.BytesIO(data)) as im:
            total += formula.tokens(*im.size)
    return total


def header_size(value: Any) -> tuple[int, int] | None:
    """Width and height from the image's header (PIL opens lazily), or None (URLs, unreadable)."""
    from PIL import Image

    try:
        if isinstance(value, Image.Image):
            return value.size
        if isinstance(value, dict):
            value = value.get("bytes") if value.get("bytes") is not None else value.get("path")
        if isinstance(value, (bytes, bytearray, memoryview)):
            with Image.open(io.BytesIO(bytes(value))) as im:
                return im.size
        if isinstance(value, (str, os.PathLike)) and "://" not in str(value):
            with Image.open(value) as im:
                return im.size
    except Exception:
        return None
    return None


def readable(value: Any, vlm: VLM, exact: bool = True) -> bool:
    """True if `value` can be read (prepared when `exact`, else by its header)."""
    from hf_vqa.images.prepare import prepare_image
    from hf_vqa.runner.rows import image_settings

    try:
        prepare_image(value, image_settings(vlm)) if exact else sized(value, vlm)
        return True
    except HfVqaError:
        return False


@dataclass(frozen=True)
class Sized:
    """An image known by its header: what `build_request` and the formulas need, no pixels."""

    data_url: str
    sha256: str
    width: int
    height: int
    source: str


def sized(value: Any, vlm: VLM) -> Any:
    """Size as sent (the caps applied to the header's size, EXIF rotation included) and a hash of
    the raw bytes; URLs and PIL images go through `prepare_image` (a URL is fetched, not sent)."""
    import hashlib

    from PIL import Image

    from hf_vqa.errors import ImageError
    from hf_vqa.images.convert import fit
    from hf_vqa.images.prepare import image_source, prepare_image
    from hf_vqa.runner.rows import image_settings

    source = image_source(value)
    raw = value
    if isinstance(raw, dict):
        raw = raw.get("bytes") if raw.get("bytes") is not None else raw.get("path")
    if isinstance(raw, os.PathLike):
        raw = os.fsdecode(raw)
    if isinstance(raw, str) and "://" not in raw and not raw.startswith("data:"):
        try:
            with open(raw, "rb") as f:
                raw = f.read()
        except OSError as err:
            raise ImageError(f"cannot read the image file: {err.strerror}", source=source) from None
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        return prepare_image(value, image_settings(vlm))
    try:
        with Image.open(io.BytesIO(bytes(raw))) as im:
            w, h = im.size
            if im.getexif().get(0x0112) in (5, 6, 7, 8):
                w, h = h, w
    except Exception as err:
        raise ImageError(f"not a readable image: {type(err).__name__}", source=source) from None
    w, h = fit(w, h, vlm.max_image_side, vlm.max_image_pixels)
    return Sized("data:", hashlib.sha256(bytes(raw)).hexdigest(), w, h, source)
