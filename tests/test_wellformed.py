"""plain_image: a plain complete JPEG/PNG read from its markers; yes only where Pillow opens it the same way."""

from __future__ import annotations

import io
import random
import warnings

import pytest
from fixtures_data import photo_like
from PIL import Image

from hf_vqa.images import verify
from hf_vqa.images.header import complete
from hf_vqa.images.verify import image_problem
from hf_vqa.images.wellformed import plain_image


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


BASE = photo_like((48, 32))
PLAIN = [
    _encode(BASE, "JPEG", quality=80),
    _encode(BASE.convert("L"), "JPEG"),
    _encode(BASE, "JPEG", progressive=True),
    _encode(BASE, "PNG"),
    _encode(BASE.convert("P"), "PNG"),
    _encode(BASE.convert("RGBA"), "PNG"),
    _encode(BASE.convert("1"), "PNG"),
    _encode(BASE, "PNG", dpi=(72, 72)),
]


def _pillow_accepts(data: bytes) -> bool:
    """What image_problem asked Pillow before the fast path: the header opens, the end marker is there."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            return complete(im.format, data) if im.format in ("JPEG", "PNG") else False
    except Exception:
        return False


@pytest.mark.parametrize("data", PLAIN, ids=range(len(PLAIN)))
def test_plain_files_are_read_from_their_markers(data):
    assert plain_image(data) and plain_image(memoryview(data))
    assert not plain_image(data[:-2])  # no end marker: Pillow decides (and refuses)


def test_what_it_does_not_know_goes_to_pillow():
    exif = Image.Exif()
    exif[0x0112] = 6
    others = [
        _encode(BASE, "JPEG", exif=exif.tobytes()),  # EXIF: Pillow reads it at open
        _encode(BASE, "JPEG", icc_profile=b"\0" * 64),
        _encode(BASE.convert("CMYK"), "JPEG"),  # an Adobe segment
        _encode(BASE.convert("P"), "PNG", transparency=0),
        _encode(BASE, "WEBP"),
        _encode(BASE, "GIF"),
        b"\x89PNG\r\n\x1a\n" + b"x" * 40,
        b"Q: what?\nA: a cat\n",
        b"",
    ]
    assert not any(plain_image(data) for data in others)
    png = bytearray(PLAIN[4])
    png[29] ^= 1  # IHDR's CRC no longer matches
    assert not plain_image(bytes(png))


def test_a_size_above_the_bomb_limit_goes_to_pillow(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 48 * 32 - 1)
    assert not any(plain_image(data) for data in PLAIN)
    assert image_problem(PLAIN[0]) == "declares a size above Pillow's decompression-bomb limit"


def test_yes_only_where_pillow_opens_it_the_same_way():
    rng = random.Random(26)
    accepted = 0
    for seed in PLAIN:
        for _ in range(150):
            data = bytearray(seed)
            kind = rng.random()
            at = rng.randrange(min(len(data), 400))
            if kind < 0.3:
                data = data[: rng.randrange(len(data))]
            elif kind < 0.6:
                data[at] = rng.randrange(256)
            elif kind < 0.8:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            else:
                del data[at : at + rng.randint(1, 8)]
            if plain_image(bytes(data)):
                accepted += 1
                assert _pillow_accepts(bytes(data)), bytes(data[:64])
    assert accepted > 100  # the mutants it says yes to are many (bytes inside tables and scans)


def test_image_problem_needs_no_pillow_for_a_plain_photo(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Pillow was asked")

    monkeypatch.setattr(verify.Image, "open", refuse)
    assert image_problem(PLAIN[0]) is None and image_problem(memoryview(PLAIN[4])) is None
    monkeypatch.undo()
    assert image_problem(PLAIN[0][:300]).startswith("cannot be")  # truncated: still refused
    assert image_problem(memoryview(b"x\n")) == "not a recognised image"
