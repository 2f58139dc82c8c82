"""What the loopback mock VLM "sees" in an image (`hf_vqa.mock.answers`): size, mean colour, format.

Each image gets a tag ``"<W>x<H> rgb(<R>,<G>,<B>)"``, and `parse_tags` finds those tags again in any
answer. `decode_data_url` checks and fully decodes an ``image_url`` data URL; it is memoized by the
exact URL string (`ImageMemo`), so an image sent again is not decoded again.

Example:
    >>> from PIL import Image
    >>> image_tag(Image.new("RGB", (64, 48), (12, 200, 33)))
    '64x48 rgb(12,200,33)'
    >>> parse_tags("A1: 64x48 rgb(12,200,33)")
    [(64, 48, (12, 200, 33))]
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import io
import re
import sys
import threading

from PIL import Image, ImageFile, ImageStat

TAG_RE = re.compile(r"(\d+)x(\d+) rgb\((\d+),\s*(\d+),\s*(\d+)\)")
DRAFT_MIN_PIXELS = 256 * 256  # JPEGs at least this big decode at half scale (see `_decoded_info`)
OPENAI_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # what OpenAI's vision models accept
_STRICT_B64 = sys.version_info >= (3, 11)  # binascii strict mode: validates and is ~2x faster
_DATA_URL_RE = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,", re.ASCII)
_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}


class ImageRejected(ValueError):
    """An ``image_url`` part the mock refuses; the server turns it into an HTTP 400."""


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What the mock "sees" in one image: size, mean RGB colour and the PIL format."""

    width: int
    height: int
    rgb: tuple[int, int, int]
    format: str

    @property
    def tag(self) -> str:
        r, g, b = self.rgb
        return f"{self.width}x{self.height} rgb({r},{g},{b})"


def image_info(img: Image.Image) -> ImageInfo:
    """Size and rounded mean RGB colour of `img`. Example: ``image_info(Image.new("L", (2, 2))).tag``."""
    mean = ImageStat.Stat(img if img.mode == "RGB" else img.convert("RGB")).mean
    r, g, b = (round(c) for c in mean[:3])
    return ImageInfo(img.width, img.height, (r, g, b), img.format or "")


def _decoded_info(img: ImageFile.ImageFile) -> ImageInfo:
    """Decode `img` fully and describe it (size, mean colour, format).

    JPEGs of at least `DRAFT_MIN_PIXELS` decode at half scale (libjpeg DCT scaling, ``draft``):
    every block is still entropy-decoded, so corrupt or truncated data still fails, but the smaller
    inverse DCT, colour conversion and histogram cost ~40% less. Each output pixel is the mean of a
    2x2 block, so the mean colour moves by at most ~2 levels (clamping and rounding) from full size.
    """
    width, height, fmt = img.width, img.height, img.format or ""
    if fmt == "JPEG" and width * height >= DRAFT_MIN_PIXELS:
        img.draft(None, (-(-width // 2), -(-height // 2)))
    img.load()
    info = image_info(img)
    return dataclasses.replace(info, width=width, height=height, format=fmt)


def image_tag(img: Image.Image) -> str:
    """The tag the mock writes for `img`: ``image_tag(Image.new("RGB", (4, 2)))`` → ``'4x2 rgb(0,0,0)'``."""
    return image_info(img).tag


def parse_tags(text: str) -> list[tuple[int, int, tuple[int, int, int]]]:
    """All image tags in `text`, in order: ``parse_tags("1x2 rgb(3,4,5)")`` → ``[(1, 2, (3, 4, 5))]``."""
    return [(int(w), int(h), (int(r), int(g), int(b))) for w, h, r, g, b in TAG_RE.findall(text)]


def analyze_data_url(url: str) -> ImageInfo:
    """Decode a ``data:image/<type>;base64,...`` URL fully with PIL, or raise `ImageRejected` (no memo).

    Example: ``analyze_data_url("data:image/png;base64," + b64_png).tag``.
    """
    match = _DATA_URL_RE.match(url)
    if match is None:
        if url.startswith(("http://", "https://")):
            raise ImageRejected(f"mock server does not fetch URLs (received: {url[:100]}); send a data: URL")
        raise ImageRejected(f"image_url must be data:image/<type>;base64,... (received: {url[:60]!r})")
    data = url[match.end() :]
    try:
        raw = binascii.a2b_base64(data, strict_mode=True) if _STRICT_B64 else base64.b64decode(data, True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected(f"image_url data is not valid base64: {exc}") from None
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format not in OPENAI_FORMATS:
                raise ImageRejected(
                    f"like OpenAI, the mock accepts {OPENAI_FORMATS} images, not {img.format}"
                )
            info = _decoded_info(img)
    except ImageRejected:
        raise
    except Exception as exc:
        raise ImageRejected(f"image_url data is not a readable image: {exc}") from None
    declared = _MIME_ALIASES.get(match.group(1).lower(), match.group(1).lower())
    actual = Image.MIME.get(info.format, f"image/{info.format.lower()}")
    if declared != actual:
        raise ImageRejected(f"data URL says {declared} but the bytes are {info.format} ({actual})")
    return info


class ImageMemo:
    """A bounded LRU memo of the pure function `analyze_data_url`, keyed by the exact URL string.

    A URL seen before gives the same `ImageInfo`, or the same `ImageRejected` message, without decoding
    again; every distinct URL is still fully decoded and checked once (and again after eviction).
    Lookups compare the whole string (dict hash, then equality), so only an identical URL hits. At most
    `max_entries` URLs of at most `max_chars` characters in total are kept; a longer URL is not kept.
    Thread-safe. Example: ``ImageMemo(max_entries=4)(url).tag``.
    """

    def __init__(self, max_entries: int = 256, max_chars: int = 64 << 20) -> None:
        self.max_entries, self.max_chars = max_entries, max_chars
        self._entries: collections.OrderedDict[str, ImageInfo | str] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.chars = self.hits = self.misses = 0

    def __call__(self, url: str) -> ImageInfo:
        with self._lock:
            result = self._entries.get(url)
            if result is not None:
                self._entries.move_to_end(url)
                self.hits += 1
        if result is None:
            try:
                result = analyze_data_url(url)
            except ImageRejected as exc:
                result = str(exc)
            self._store(url, result)
        if isinstance(result, str):
            raise ImageRejected(result)
        return result

    def _store(self, url: str, result: ImageInfo | str) -> None:
        with self._lock:
            self.misses += 1
            if len(url) > self.max_chars or url in self._entries:
                return
            self._entries[url] = result
            self.chars += len(url)
            while len(self._entries) > self.max_entries or self.chars > self.max_chars:
                old, _ = self._entries.popitem(last=False)
                self.chars -= len(old)

    def info(self) -> dict[str, int]:
        """Counters: ``{"hits", "misses" (= decodes), "entries", "chars"}``."""
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "entries": len(self._entries),
                "chars": self.chars,
            }

    def clear(self) -> None:
        """Forget every entry and zero the counters."""
        with self._lock:
            self._entries.clear()
            self.chars = self.hits = self.misses = 0


IMAGE_MEMO = ImageMemo()


def decode_data_url(url: str) -> ImageInfo:
    """`analyze_data_url` through the shared memo `IMAGE_MEMO`: same result or same `ImageRejected`.

    Example: ``decode_data_url("data:image/png;base64," + b64_png).tag``.
    """
    return IMAGE_MEMO(url)


__all__ = [
    "DRAFT_MIN_PIXELS",
    "IMAGE_MEMO",
    "OPENAI_FORMATS",
    "TAG_RE",
    "ImageInfo",
    "ImageMemo",
    "ImageRejected",
    "analyze_data_url",
    "decode_data_url",
    "image_info",
    "image_tag",
    "parse_tags",
]
