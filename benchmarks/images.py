"""Time `prepare_image` on a 640x480 photo-like JPEG (~130 KB): passthrough vs convert path.

Run: ``.venv/bin/python benchmarks/images.py [--n 300]``. Prints µs per image (best of 5 rounds),
plus the cost of the two steps every path pays (base64 and SHA-256 of the bytes sent).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from hf_vqa.images.prepare import prepare_image
from hf_vqa.images.settings import ImageSettings


def photo_like_jpeg(size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    """Gradients plus noise so the JPEG does not compress trivially (like a real photo)."""
    w, h = size
    grad = Image.linear_gradient("L").resize((w, h))
    im = Image.merge(
        "RGB", (grad, Image.effect_noise((w, h), 20), grad.transpose(Image.Transpose.ROTATE_180))
    )
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def best_us(fn: Callable[[], object], n: int, rounds: int = 5) -> float:
    """Best mean time per call over `rounds` rounds of `n` calls, in microseconds."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="calls per round (convert path uses n/10)")
    args = parser.parse_args()
    data = photo_like_jpeg()
    convert = ImageSettings(passthrough_max_bytes=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        path.write_bytes(data)
        assert prepare_image(data).passthrough and not prepare_image(data, convert).passthrough
        rows = [
            ("base64 only (floor)", best_us(lambda: base64.b64encode(data), args.n)),
            ("sha256 only (floor)", best_us(lambda: hashlib.sha256(data).hexdigest(), args.n)),
            ("passthrough, bytes", best_us(lambda: prepare_image(data), args.n)),
            ("passthrough, path", best_us(lambda: prepare_image(path), args.n)),
            (
                "convert (decode+JPEG q90)",
                best_us(lambda: prepare_image(data, convert), max(1, args.n // 10)),
            ),
        ]
    print(f"640x480 photo-like JPEG, {len(data) / 1024:.0f} KB")
    for label, us in rows:
        print(f"  {label:28s} {us:9.0f} µs/image")


if __name__ == "__main__":
    main()
