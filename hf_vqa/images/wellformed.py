"""Is this a plain, complete JPEG or PNG? Read from its markers and chunks alone, without Pillow.

`plain_image` walks a JPEG's segments up to its first scan (SOI, APPn, DQT, DHT, DRI, COM, one 8-bit
SOF0/1/2 of 1, 3 or 4 components, SOS) or a PNG's chunks up to its first IDAT (IHDR first, every CRC
checked), and checks the end marker. It only ever says yes to a file Pillow opens the same way: anything
it does not know (EXIF, ICC profiles, MPO, Photoshop blocks, text chunks, WEBP, a size above Pillow's
decompression-bomb limit, a stray byte) gets False, and the caller asks Pillow (`images.verify`). That
is ~20x cheaper than `PIL.Image.open` for the common photo, and the output writer checks every image.

Example:
    >>> import io; from PIL import Image; buf = io.BytesIO(); Image.new("RGB", (2, 2)).save(buf, "PNG")
    >>> plain_image(buf.getvalue()), plain_image(buf.getvalue()[:-1]), plain_image(b"GIF89a...")
    (True, False, False)
"""

from __future__ import annotations

import zlib

from PIL import Image

from hf_vqa.images.header import complete

__all__ = ["plain_image"]

_SOF = (0xC0, 0xC1, 0xC2)  # baseline, extended sequential, progressive
_SKIPPED = (0xC4, 0xDD, 0xFE)  # DHT, DRI, COM: Pillow only reads past them
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}  # Pillow's _MODES
_PNG_CHUNKS = {b"sRGB": 1, b"gAMA": 4, b"pHYs": 9}  # the lengths Pillow's handlers read whole


def plain_image(data: bytes | memoryview) -> bool:
    """True when `data` is a complete JPEG or PNG that Pillow opens without surprises (see the module)."""
    head = bytes(data[:8])
    if head[:3] == b"\xff\xd8\xff":
        size = _jpeg_size(data)
        fmt = "JPEG"
    elif head == _PNG_SIGNATURE:
        size = _png_size(data)
        fmt = "PNG"
    else:
        return False
    if size is None or not _within_bomb_limit(*size):
        return False
    return complete(fmt, bytes(data[-1024:]) if fmt == "JPEG" else bytes(data[-12:]))


def _within_bomb_limit(width: int, height: int) -> bool:
    limit = Image.MAX_IMAGE_PIXELS
    return width > 0 and height > 0 and (limit is None or width * height <= limit)


def _jpeg_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) from the one SOF segment, when every segment before the first scan is plain."""
    at, end, size = 2, len(data), None
    while at + 4 <= end:
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        length = (data[at + 2] << 8) | data[at + 3]
        body = at + 4
        if length < 2 or body + length - 2 > end:
            return None
        segment = bytes(data[body : body + length - 2]) if marker != 0xDA else b""
        if marker == 0xDA:  # start of scan: the header is over
            return size
        if 0xE0 <= marker <= 0xEF:
            if not _plain_app(marker, segment):
                return None
        elif marker == 0xDB:
            if not _plain_dqt(segment):
                return None
        elif marker in _SOF:
            if size is not None or len(segment) < 6 or segment[0] != 8 or segment[5] not in (1, 3, 4):
                return None
            size = ((segment[3] << 8) | segment[4], (segment[1] << 8) | segment[2])
        elif marker not in _SKIPPED:
            return None
        at = body + length - 2
    return None


def _plain_app(marker: int, segment: bytes) -> bool:
    """APPn segments Pillow stores without parsing anything that could fail."""
    if marker == 0xE0 and segment.startswith(b"JFIF"):
        return len(segment) >= 14
    if marker == 0xE1 and segment.startswith(b"Exif\0\0"):
        return False  # Pillow reads the resolution from EXIF at open: let it
    if marker == 0xE2 and segment.startswith((b"MPF\0", b"ICC_PROFILE\0")):
        return False  # MPO frames, ICC fragments
    return marker not in (0xED, 0xEE)  # Photoshop blocks, Adobe transform


def _plain_dqt(segment: bytes) -> bool:
    """Whole quantization tables, as Pillow's DQT handler requires."""
    at = 0
    while at < len(segment):
        at += 1 + (64 if segment[at] < 16 else 128)
    return at == len(segment) and bool(segment)


def _png_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) from IHDR, when every chunk before the first IDAT is plain and its CRC is right."""
    at, end, size = 8, len(data), None
    while at + 12 <= end:
        length = int.from_bytes(data[at : at + 4], "big")
        kind = bytes(data[at + 4 : at + 8])
        if at + 12 + length > end:
            return None
        if kind == b"IDAT":
            return size
        chunk = bytes(data[at + 4 : at + 8 + length])
        if zlib.crc32(chunk) != int.from_bytes(data[at + 8 + length : at + 12 + length], "big"):
            return None
        if kind == b"IHDR":
            if size is not None or length != 13:
                return None
            depth, color, compression, filtering, interlace = chunk[12:17]
            if depth not in _PNG_DEPTHS.get(color, ()) or compression or filtering or interlace > 1:
                return None
            size = (int.from_bytes(chunk[4:8], "big"), int.from_bytes(chunk[8:12], "big"))
        elif size is None:
            return None
        elif kind == b"PLTE":
            if not length or length % 3 or length > 768:
                return None
        elif _PNG_CHUNKS.get(kind) != length:
            return None
        at += 12 + length
    return None
