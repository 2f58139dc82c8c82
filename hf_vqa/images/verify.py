"""Is this an image? The gate every image passes before its bytes enter a dataset.

Only bytes that decode as an image are embedded in an output: a text file named `.png`, a symlink to a
private key, a truncated photo are left out (the value becomes null and the row says why), so the
output always loads and iterates, and nothing private is published. Plain complete JPEG/PNG files are
checked from their markers alone (`images.wellformed`); other complete JPEG/PNG/WEBP files from Pillow's
header and their end marker (no pixel decode); anything else is decoded once.

Example:
    >>> image_problem(b"x\\n")
    'not a recognised image'
    >>> import io; from PIL import Image; buf = io.BytesIO(); Image.new("RGB", (2, 2)).save(buf, "PNG")
    >>> image_problem(buf.getvalue()) is None
    True
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from hf_vqa.images.wellformed import plain_image

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["drop_non_images", "image_problem"]

_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def image_problem(data: bytes | memoryview | pa.Buffer) -> str | None:
    """None when `data` decodes as an image; else a short reason (never quoting the content).

    Example:
        >>> image_problem(b"")
        'empty file'
    """
    if not data:
        return "empty file"
    if not isinstance(data, bytes):  # a memoryview or a pyarrow Buffer: its bytes as unsigned
        data = memoryview(data).cast("B")
    if plain_image(data):  # a complete, plain JPEG/PNG: its markers say so, no Pillow needed
        return None
    data = bytes(data)  # a memoryview (a slice of a batch's buffer): Pillow and the end check want bytes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if _complete(im.format, data):
                return None
            im.load()  # other formats, and JPEG/PNG without their end marker: decode to be sure
        return None
    except UnidentifiedImageError:
        return "not a recognised image"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "declares a size above Pillow's decompression-bomb limit"
    except Exception as exc:  # truncated or damaged data: Pillow raises many kinds
        return f"cannot be decoded ({type(exc).__name__})"


def _complete(fmt: str | None, data: bytes) -> bool:
    if fmt == "JPEG":
        return data[-1024:].rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return data.endswith(_PNG_END)
    if fmt == "WEBP":
        return data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") + 8 == len(data)
    return False


def drop_non_images(
    batch: dict[str, list], *, columns: list[str], error_column: str, version: int = 1
) -> dict:
    """Batched map function: in failed rows, an image that is a local file (or bytes) that does not decode
    as an image becomes None, so a plain `push_to_hub(embed_external_files=True)` can never publish it
    (a symlink to a key, a text file named .png). Rows that succeeded and URL images are left as they are.

    Example:
        >>> drop_non_images({"image": [{"bytes": b"x", "path": None}], "vqa_error": ["image x: bad"]},
        ...                 columns=["image"], error_column="vqa_error")["image"]
        [None]
    """
    out: dict[str, list] = {}
    for name in columns:
        values = []
        for value, error in zip(batch[name], batch[error_column]):
            if error:
                value = [_checked(v) for v in value] if isinstance(value, list) else _checked(value)
            values.append(value)
        out[name] = values
    return out


def _checked(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    data, path = value.get("bytes"), value.get("path")
    if data is None and isinstance(path, str) and path and "://" not in path:
        try:
            data = Path(path).read_bytes()
        except OSError:
            return None
    if data is None:
        return value  # a URL: the folder writer fetches and checks it
    return value if image_problem(data) is None else None
