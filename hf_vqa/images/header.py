"""What an image's header says, read without decoding pixels: can its bytes be sent as they are?

`open_image` opens the header (naming what a non-image file looks like: `sniff`), `check_declared`
refuses a declared size above the caps (a decompression bomb), and `passthrough_mime` says whether the
bytes are already acceptable (format, size, mode, orientation, complete) and so go out untouched.

Example:
    >>> complete("PNG", b"...." + PNG_END), sniff(b"%PDF-1.7")[0]
    (True, 'the content is a PDF document')
"""

from __future__ import annotations

import codecs
import io
import re

from PIL import Image, ImageFile, UnidentifiedImageError

from hf_vqa.errors import ImageError
from hf_vqa.images.settings import ImageSettings

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def open_image(fp: str | io.BytesIO, source: str, head: bytes = b"") -> ImageFile.ImageFile:
    """Open the header (lazy: no pixels yet); an `ImageError` naming what the bytes look like otherwise."""
    try:
        return Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise bomb_error(source, str(exc)) from None
    except UnidentifiedImageError:
        if not head and isinstance(fp, str):
            with open(fp, "rb") as fh:
                head = fh.read(512)
        what, fix = sniff(head)
        raise ImageError(f"not a recognised image: {what}", source=source, fix=fix) from None
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot read the image header: {exc}", source=source) from None


def sniff(head: bytes) -> tuple[str, str]:
    """Name what a non-image file looks like, without quoting its content (it may be private)."""
    low = head.lstrip()[:256].lower()
    if low.startswith(b"<svg") or (low.startswith(b"<?xml") and b"<svg" in low):
        return "SVG (vector) images are not supported", "rasterize it to PNG first"
    if low.startswith((b"<!doctype html", b"<html")):
        return "the content is an HTML page (an error or login page saved as an image?)", "re-download it"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"heim"):
        return "HEIC/HEIF is not supported", "convert it to JPEG, or install and register pillow-heif"
    if head.startswith(b"%PDF"):
        return "the content is a PDF document", "render the page to PNG first"
    try:  # incremental: `head` may end in the middle of a multi-byte character
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        is_text = bool(text.strip()) and not any(c < " " and c not in "\t\r\n\f" for c in text)
    except UnicodeDecodeError:
        is_text = False
    kind = "the content is text" if is_text else "the content is not in any image format Pillow can read"
    return kind, "pass a JPEG, PNG, WEBP, GIF, BMP or TIFF file"


def bomb_error(source: str, detail: str) -> ImageError:
    """The `ImageError` for a size above Pillow's decompression-bomb limit."""
    found = re.search(r"\((\d+) pixels\)", detail)
    size = f"{found.group(1)} pixels" if found else "a size"
    return ImageError(
        f"declares {size}, above Pillow's decompression-bomb limit; refusing to decode it",
        source=source,
        fix="downscale the image first (or raise PIL.Image.MAX_IMAGE_PIXELS if it is genuine)",
    )


def check_declared(im: Image.Image, settings: ImageSettings, source: str) -> None:
    """Refuse a declared size above `max_source_pixels` before anything is decoded."""
    w, h = im.size
    if w * h > settings.max_source_pixels:
        raise ImageError(
            f"declared size {w}x{h} ({w * h} pixels) is above max_source_pixels="
            f"{settings.max_source_pixels}; refusing to decode a possible decompression bomb",
            source=source,
            fix="downscale the image first, or raise ImageSettings.max_source_pixels if it is genuine",
        )


def orientation(im: Image.Image) -> int:
    """EXIF/XMP orientation from the header only (the base method never decodes, unlike PNG's)."""
    try:
        value = Image.Image.getexif(im).get(0x0112, 1)
    except Exception:
        return 0  # unreadable metadata: never pass through; the convert path drops it
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def complete(fmt: str | None, data: bytes) -> bool:
    """Whether JPEG/PNG/WEBP bytes end with their end marker (other formats: True)."""
    if fmt == "JPEG":
        return data[-1024:].rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return data.endswith(PNG_END)
    if fmt == "WEBP":
        return data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") + 8 == len(data)
    return True


def passthrough_mime(im: Image.Image, data: bytes, settings: ImageSettings) -> str | None:
    """The MIME type to send `data` untouched with, or None when it must be converted."""
    w, h = im.size
    if (
        im.format not in MIME
        or len(data) > settings.passthrough_max_bytes
        or max(w, h) > settings.max_side
        or w * h > settings.max_pixels
        or getattr(im, "is_animated", False)
        or "transparency" in im.info
        or orientation(im) != 1
        or not complete(im.format, data)
    ):
        return None
    if im.format == "PNG":
        depth, color = data[24], data[25]  # IHDR: bit depth, colour type
        ok = color == 3 or (depth == 8 and color in (0, 2, 4, 6)) or (color == 0 and depth in (1, 2, 4))
    else:
        ok = im.mode in (("L", "RGB") if im.format == "JPEG" else ("RGB", "RGBA"))
    return MIME[im.format] if ok else None


__all__ = [
    "MIME",
    "PNG_END",
    "bomb_error",
    "check_declared",
    "complete",
    "open_image",
    "orientation",
    "passthrough_mime",
    "sniff",
]
