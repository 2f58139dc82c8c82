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
import hashlib
import io
import os
import re
import stat
from typing import Any

from PIL import Image

from hf_vqa.errors import ImageError
from hf_vqa.images.convert import encode, fit
from hf_vqa.images.fetch import display_url, fetch_bytes
from hf_vqa.images.header import (
    MIME,
    bomb_error,
    check_declared,
    complete,
    open_image,
    orientation,
    passthrough_mime,
)
from hf_vqa.images.settings import ImageSettings, PreparedImage

__all__ = ["b64encode", "image_source", "prepare_image"]

try:  # the optional `fast` extra (pip install 'hf_vqa[fast]'): the same bytes, ~50x faster (SIMD)
    from pybase64 import b64encode as _simd_b64encode
except ImportError:  # pragma: no cover - depends on the environment
    _simd_b64encode = None

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
        data = _read_small(path, settings.passthrough_max_bytes, source)
        if data is not None:
            return _from_bytes(data, settings, source)
        with open_image(path, source) as im:  # too big to pass through: let Pillow read it lazily
            check_declared(im, settings, source)
            return _convert(im, settings, source, owned=True, suspect=False)
    except FileNotFoundError:
        raise ImageError(
            "file not found", source=source, fix=f"check the path (relative paths start at {os.getcwd()})"
        ) from None
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}", source=source) from None


def _read_small(path: str, limit: int, source: str) -> bytes | None:
    """The whole file when it holds at most `limit` bytes (or is not a regular file of known size),
    else None. Four syscalls (open, fstat, read, close) where ``os.stat`` + ``open().read()`` made
    ten: each lets the GIL go, so each was a chance for another thread to take it (`runner/lookahead.py`
    reads every row's image while the engine's event loop runs)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except (IsADirectoryError, PermissionError):
        if os.path.isdir(path):  # Windows refuses to open a directory
            raise ImageError(
                "is a directory, not an image file", source=source, fix="pass the image file path"
            ) from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError(
                "is a directory, not an image file", source=source, fix="pass the image file path"
            )
        size = st.st_size
        if size > limit:
            return None
        data = os.read(fd, size + 1) if size and stat.S_ISREG(st.st_mode) else b""
        if len(data) == size and size:  # all of it: a regular file ends where fstat said
            return data
        with os.fdopen(os.dup(fd), "rb") as fh:  # it changed size, or it is a pipe or a /proc file
            return data + fh.read()
    finally:
        os.close(fd)


def _from_bytes(data: bytes, settings: ImageSettings, source: str) -> PreparedImage:
    if not data:
        raise ImageError("file is empty (0 bytes)", source=source, fix="re-download or re-export the image")
    with open_image(io.BytesIO(data), source, data[:512]) as im:
        check_declared(im, settings, source)
        mime = passthrough_mime(im, data, settings)
        if mime:
            return _finish(data, mime, im.size, source, passthrough=True)
        return _convert(im, settings, source, owned=True, suspect=not complete(im.format, data))


def _from_pil(im: Image.Image, settings: ImageSettings, source: str) -> PreparedImage:
    filename = getattr(im, "filename", "")
    if im.format in MIME and isinstance(filename, str) and filename:
        # Re-read the original file only if it still matches the object (same format, mode, size).
        try:
            if 0 < os.stat(filename).st_size <= settings.passthrough_max_bytes:
                with open(filename, "rb") as fh:
                    data = fh.read()
                with Image.open(io.BytesIO(data)) as disk:
                    same = (disk.format, disk.mode, disk.size) == (im.format, im.mode, im.size)
                    mime = same and passthrough_mime(disk, data, settings)
                    if mime:
                        return _finish(data, mime, disk.size, source, passthrough=True)
        except Exception:  # fall back to encoding the pixels we were given
            pass
    check_declared(im, settings, source)
    return _convert(im, settings, source, owned=False, suspect=False)


def _convert(
    im: Image.Image, settings: ImageSettings, source: str, *, owned: bool, suspect: bool
) -> PreparedImage:
    """Decode the current frame, normalise mode and orientation, downscale, encode JPEG or PNG."""
    fmt = im.format or "image"
    try:
        target = fit(*im.size, settings.max_side, settings.max_pixels)
        if owned and target != im.size and im.format in ("JPEG", "MPO"):
            im.draft(None, target)  # libjpeg DCT scaling: decode at 1/2, 1/4 or 1/8 size, still >= target
        turn = orientation(im)
        im.load()
        data, mime, size = encode(im, target, turn, settings.jpeg_quality)
    except Image.DecompressionBombError as exc:
        raise bomb_error(source, str(exc)) from None
    except ImageError:
        raise
    except _DECODE_ERRORS as exc:
        if suspect:
            what = f"{fmt} data is truncated or corrupt (it does not end with its end marker; decoder: {exc})"
        else:
            what = f"cannot decode {fmt} data: {exc}"
        raise ImageError(what, source=source, fix="re-download or re-export the image") from None
    return _finish(data, mime, size, source, passthrough=False)


def b64encode(data: bytes) -> bytes:
    """Standard base64 (no newline): pybase64's when the `fast` extra is installed, else binascii's.

    Example:
        >>> b64encode(b"hf")
        b'aGY='
    """
    if _simd_b64encode is not None:
        return _simd_b64encode(data)
    return binascii.b2a_base64(data, newline=False)


def _finish(
    data: bytes, mime: str, size: tuple[int, int], source: str, *, passthrough: bool
) -> PreparedImage:
    return PreparedImage(
        b64=b64encode(data),  # the image's base64 is most of a row's CPU without the extra
        mime=mime,
        width=size[0],
        height=size[1],
        sha256=hashlib.sha256(data).hexdigest(),
        nbytes=len(data),
        source=source,
        passthrough=passthrough,
    )
