"""Turn any image value into a base64 data URL that vision-language APIs accept, as fast as possible.

Fast path (no pixel decoding): JPEG, PNG and WEBP bytes that are already acceptable are sent
untouched. "Acceptable" means: within ``max_side``/``max_pixels``, at most
``passthrough_max_bytes``, EXIF orientation 1 (or none), not animated, no colour-key transparency,
complete (JPEG ends with FF D9 up to zero/whitespace padding, PNG ends with IEND, WEBP's RIFF size
matches) and in a plain mode: JPEG L/RGB; PNG 8-bit grey/RGB/grey+alpha/RGBA, palette without
transparency, or 1/2/4-bit grey; WEBP RGB/RGBA. Only the header is parsed (``PIL.Image.open``).

Everything else is decoded (first frame of a file; a PIL image's current frame) and re-encoded:
EXIF orientation applied; CMYK, YCbCr, palette, 1-bit and other modes to RGB/L; 16-bit grey scaled
by 1/257 and other int/float grey stretched min..max to 8 bits (never clipped); palette or colour-key
transparency and LA to RGBA; downscaled to fit both caps (JPEG DCT draft, integer box reduce, then
LANCZOS). Output is PNG if a real alpha channel remains, else JPEG at ``jpeg_quality`` (a fully
opaque alpha channel is dropped). An embedded ICC profile is kept when the colour space is
unchanged; all other metadata (EXIF, GPS, XMP) is dropped. Declared sizes above
``max_source_pixels`` (or Pillow's own decompression-bomb limit) are refused before decoding.

Every per-image failure is an `ImageError` naming the source and the cause.

Example:
    >>> from hf_vqa.images.prepare import prepare_image
    >>> img = prepare_image("cat.jpg")  # doctest: +SKIP
    >>> img.mime, img.passthrough, img.data_url[:23]  # doctest: +SKIP
    ('image/jpeg', True, 'data:image/jpeg;base64,')
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile, UnidentifiedImageError

from hf_vqa.errors import ConfigError, ImageError
from hf_vqa.images.convert import encode, fit
from hf_vqa.images.fetch import FetchSettings, display_url, fetch_bytes

__all__ = ["FetchSettings", "ImageSettings", "PreparedImage", "image_source", "prepare_image"]

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ACCEPTED = (
    "a local path, an http(s) URL, bytes, a PIL.Image.Image, or a datasets Image dict {'bytes', 'path'}"
)
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
)


@dataclass(frozen=True)
class ImageSettings:
    """Size caps and encoding choices for `prepare_image`. Example: ``ImageSettings(max_side=1024)``."""

    max_side: int = 2048
    max_pixels: int = 2048 * 2048
    max_source_pixels: int = 16384 * 16384 // 2
    jpeg_quality: int = 90
    passthrough_max_bytes: int = 4 * 1024 * 1024
    url: FetchSettings = FetchSettings()  # noqa: RUF009 (frozen, so sharing the default is safe)

    def __post_init__(self) -> None:
        for name, low, high in (
            ("max_side", 1, None),
            ("max_pixels", 1, None),
            ("max_source_pixels", 1, None),
            ("jpeg_quality", 1, 100),
            ("passthrough_max_bytes", 0, None),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < low
                or (high and value > high)
            ):
                span = f"between {low} and {high}" if high else f">= {low}"
                raise ConfigError(
                    f"ImageSettings.{name} must be an integer {span}",
                    received=value,
                    fix=f"pass {name}={getattr(ImageSettings, name)} (the default)",
                )
        if not isinstance(self.url, FetchSettings):
            raise ConfigError(
                "ImageSettings.url must be a FetchSettings",
                received=self.url,
                fix="pass url=FetchSettings(...)",
            )


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to send: ``{"type": "image_url", "image_url": {"url": img.data_url}}``."""

    data_url: str
    mime: str
    width: int
    height: int
    sha256: str
    nbytes: int
    source: str
    passthrough: bool


def image_source(value: Any) -> str:
    """A short description of `value` for messages, without loading anything.

    Example:
        >>> image_source(b"abc"), image_source("https://u:p@x.org/a.jpg?sig=1")
        ('<bytes 3>', 'https://x.org/a.jpg')
    """
    if isinstance(value, Image.Image):
        return f"<PIL {value.mode} {value.width}x{value.height}>"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<bytes {len(value)}>"
    if isinstance(value, dict):
        if value.get("path"):
            return image_source(value["path"])
        data = value.get("bytes")
        return image_source(data) if data is not None else "<dict without bytes or path>"
    if isinstance(value, os.PathLike):
        value = os.fsdecode(value)
    if isinstance(value, str):
        if value.startswith("data:"):
            return f"<data URL, {len(value)} chars>"
        if _SCHEME.match(value):
            return display_url(value)
        return value if len(value) <= 200 else value[:120] + "..." + value[-77:]
    return f"<{type(value).__name__}>"


def prepare_image(value: Any, settings: ImageSettings = ImageSettings()) -> PreparedImage:
    """Load, check and (only if needed) convert `value` into a `PreparedImage` with a data URL.

    `value` is a local path (str or Path), an http(s) URL, raw bytes, a ``PIL.Image.Image`` or a
    datasets ``Image(decode=False)`` dict ``{"bytes": ..., "path": ...}``. Raises `ImageError`.

    Example:
        >>> from PIL import Image
        >>> img = prepare_image(Image.new("RGB", (64, 48), "red"))
        >>> img.mime, img.width, img.height, img.passthrough
        ('image/jpeg', 64, 48, False)
    """
    source = image_source(value)
    if isinstance(value, Image.Image):
        return _from_pil(value, settings, source)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(value), settings, source)
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is not None:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise ImageError(f"'bytes' must be bytes, not {type(data).__name__}", source=source)
            return _from_bytes(bytes(data), settings, source)
        if path:
            return prepare_image(path, settings)
        raise ImageError(
            "datasets Image dict has neither 'bytes' nor 'path'",
            source=source,
            received=sorted(value),
            fix="cast the column with datasets.Image(decode=False), or pass " + _ACCEPTED,
        )
    if isinstance(value, os.PathLike):
        value = os.fsdecode(value)
    if isinstance(value, str):
        if value.startswith("data:"):
            raise ImageError(
                "data: URLs are not accepted as input", source=source, fix="pass the decoded bytes"
            )
        if _SCHEME.match(value):
            return _from_bytes(fetch_bytes(value, settings.url), settings, source)
        return _from_path(value, settings, source)
    fix = "convert it with PIL.Image.fromarray(array)" if type(value).__name__ == "ndarray" else "pass "
    raise ImageError(
        f"unsupported image value of type {type(value).__name__}",
        source=source,
        fix=fix if fix.startswith("convert") else fix + _ACCEPTED,
    )


def _from_path(path: str, settings: ImageSettings, source: str) -> PreparedImage:
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError(
                "is a directory, not an image file", source=source, fix="pass the image file path"
            )
        if st.st_size <= settings.passthrough_max_bytes or st.st_size == 0:
            with open(path, "rb") as fh:
                return _from_bytes(fh.read(), settings, source)
        with _open(path, source) as im:  # too big to pass through: let Pillow read it lazily
            _check_declared(im, settings, source)
            return _convert(im, settings, source, owned=True, suspect=False)
    except FileNotFoundError:
        raise ImageError(
            "file not found", source=source, fix=f"check the path (relative paths start at {os.getcwd()})"
        ) from None
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}", source=source) from None


def _from_bytes(data: bytes, settings: ImageSettings, source: str) -> PreparedImage:
    if not data:
        raise ImageError("file is empty (0 bytes)", source=source, fix="re-download or re-export the image")
    with _open(io.BytesIO(data), source, data[:512]) as im:
        _check_declared(im, settings, source)
        mime = _passthrough_mime(im, data, settings)
        if mime:
            return _finish(data, mime, im.size, source, passthrough=True)
        return _convert(im, settings, source, owned=True, suspect=not _complete(im.format, data))


def _from_pil(im: Image.Image, settings: ImageSettings, source: str) -> PreparedImage:
    filename = getattr(im, "filename", "")
    if im.format in _MIME and isinstance(filename, str) and filename:
        # Re-read the original file only if it still matches the object (same format, mode, size).
        try:
            if 0 < os.stat(filename).st_size <= settings.passthrough_max_bytes:
                with open(filename, "rb") as fh:
                    data = fh.read()
                with Image.open(io.BytesIO(data)) as disk:
                    same = (disk.format, disk.mode, disk.size) == (im.format, im.mode, im.size)
                    mime = same and _passthrough_mime(disk, data, settings)
                    if mime:
                        return _finish(data, mime, disk.size, source, passthrough=True)
        except Exception:  # fall back to encoding the pixels we were given
            pass
    _check_declared(im, settings, source)
    return _convert(im, settings, source, owned=False, suspect=False)


def _open(fp: str | io.BytesIO, source: str, head: bytes = b"") -> ImageFile.ImageFile:
    try:
        return Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise _bomb(source, str(exc)) from None
    except UnidentifiedImageError:
        if not head and isinstance(fp, str):
            with open(fp, "rb") as fh:
                head = fh.read(512)
        what, fix = _sniff(head)
        raise ImageError(f"not a recognised image: {what}", source=source, fix=fix) from None
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot read the image header: {exc}", source=source) from None


def _sniff(head: bytes) -> tuple[str, str]:
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


def _bomb(source: str, detail: str) -> ImageError:
    found = re.search(r"\((\d+) pixels\)", detail)
    size = f"{found.group(1)} pixels" if found else "a size"
    return ImageError(
        f"declares {size}, above Pillow's decompression-bomb limit; refusing to decode it",
        source=source,
        fix="downscale the image first (or raise PIL.Image.MAX_IMAGE_PIXELS if it is genuine)",
    )


def _check_declared(im: Image.Image, settings: ImageSettings, source: str) -> None:
    w, h = im.size
    if w * h > settings.max_source_pixels:
        raise ImageError(
            f"declared size {w}x{h} ({w * h} pixels) is above max_source_pixels="
            f"{settings.max_source_pixels}; refusing to decode a possible decompression bomb",
            source=source,
            fix="downscale the image first, or raise ImageSettings.max_source_pixels if it is genuine",
        )


def _orientation(im: Image.Image) -> int:
    """EXIF/XMP orientation from the header only (the base method never decodes, unlike PNG's)."""
    try:
        value = Image.Image.getexif(im).get(0x0112, 1)
    except Exception:
        return 0  # unreadable metadata: never pass through; the convert path drops it
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _complete(fmt: str | None, data: bytes) -> bool:
    if fmt == "JPEG":
        return data[-1024:].rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return data.endswith(_PNG_END)
    if fmt == "WEBP":
        return data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") + 8 == len(data)
    return True


def _passthrough_mime(im: Image.Image, data: bytes, settings: ImageSettings) -> str | None:
    w, h = im.size
    if (
        im.format not in _MIME
        or len(data) > settings.passthrough_max_bytes
        or max(w, h) > settings.max_side
        or w * h > settings.max_pixels
        or getattr(im, "is_animated", False)
        or "transparency" in im.info
        or _orientation(im) != 1
        or not _complete(im.format, data)
    ):
        return None
    if im.format == "PNG":
        depth, color = data[24], data[25]  # IHDR: bit depth, colour type
        ok = color == 3 or (depth == 8 and color in (0, 2, 4, 6)) or (color == 0 and depth in (1, 2, 4))
    else:
        ok = im.mode in (("L", "RGB") if im.format == "JPEG" else ("RGB", "RGBA"))
    return _MIME[im.format] if ok else None


def _convert(
    im: Image.Image, settings: ImageSettings, source: str, *, owned: bool, suspect: bool
) -> PreparedImage:
    """Decode the current frame, normalise mode and orientation, downscale, encode JPEG or PNG."""
    fmt = im.format or "image"
    try:
        target = fit(*im.size, settings.max_side, settings.max_pixels)
        if owned and target != im.size and im.format in ("JPEG", "MPO"):
            im.draft(None, target)  # libjpeg DCT scaling: decode at 1/2, 1/4 or 1/8 size, still >= target
        orientation = _orientation(im)
        im.load()
        data, mime, size = encode(im, target, orientation, settings.jpeg_quality)
    except Image.DecompressionBombError as exc:
        raise _bomb(source, str(exc)) from None
    except ImageError:
        raise
    except _DECODE_ERRORS as exc:
        if suspect:
            what = f"{fmt} data is truncated or corrupt (it does not end with its end marker; decoder: {exc})"
        else:
            what = f"cannot decode {fmt} data: {exc}"
        raise ImageError(what, source=source, fix="re-download or re-export the image") from None
    return _finish(data, mime, size, source, passthrough=False)


def _finish(
    data: bytes, mime: str, size: tuple[int, int], source: str, *, passthrough: bool
) -> PreparedImage:
    encoded = binascii.b2a_base64(data, newline=False).decode("ascii")
    return PreparedImage(
        data_url=f"data:{mime};base64,{encoded}",
        mime=mime,
        width=size[0],
        height=size[1],
        sha256=hashlib.sha256(data).hexdigest(),
        nbytes=len(data),
        source=source,
        passthrough=passthrough,
    )
