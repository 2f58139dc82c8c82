"""Fixtures: small images made on the fly, and a loopback HTTP server that serves (and misbehaves).

Fixtures (reuse them from any test module; treat the files as read-only):

- ``sample_images`` -> list[Path]: solid-colour images, alternating PNG/JPEG, in `SAMPLE_COLORS`
  order, so a row's identity can be checked from the image that was sent (`closest_sample_color`).
- ``image_files`` -> dict[str, Path] (session): valid but unusual images: ``photo_jpeg`` (640x480
  noisy, ~130 KB), ``small_png``, ``small_webp``, ``cmyk_jpeg``, ``png16``, ``palette_png``,
  ``palette_transparent_png``, ``rgba_png``, ``opaque_rgba_png``, ``animated_gif``, ``animated_png``,
  ``animated_webp``, ``exif_rotated_jpeg``, ``huge_jpeg`` (6000x4000), ``tiff``, ``bmp``.
- ``bad_images`` -> dict[str, Path]: ``missing``, ``empty``, ``text_as_jpg``, ``html_as_png``,
  ``svg``, ``truncated_jpeg``, ``truncated_png``, ``bomb_png`` (declares 30000x30000, ~100 bytes).
- ``image_http_server`` -> `ImageServer` (session): loopback HTTP; see `ImageServer.ROUTES`.

Helpers: `solid_image_bytes`, `photo_like_jpeg`, `decode_data_url`, `mean_color`,
`closest_sample_color`.
"""

from __future__ import annotations

import base64
import contextlib
import io
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image, ImageStat

SAMPLE_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 30),
    "magenta": (210, 40, 210),
    "cyan": (30, 210, 220),
}
RED, BLUE = (220, 30, 30), (30, 40, 220)


def solid_image_bytes(color, fmt: str = "PNG", size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    """Encode a solid-colour image. Example: ``solid_image_bytes((255, 0, 0), "JPEG")``."""
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def photo_like(size: tuple[int, int] = (640, 480), sigma: float = 20) -> Image.Image:
    """Gradients plus noise, so JPEG cannot compress it trivially (like a photo)."""
    w, h = size
    grad = Image.linear_gradient("L").resize((w, h))
    return Image.merge(
        "RGB", (grad, Image.effect_noise((w, h), sigma), grad.transpose(Image.Transpose.ROTATE_180))
    )


def photo_like_jpeg(size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    """A ~130 KB 640x480 photo-like JPEG by default."""
    buf = io.BytesIO()
    photo_like(size).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decode_data_url(url: str) -> Image.Image:
    """Re-open the image inside a ``data:<mime>;base64,...`` URL (fully loaded)."""
    header, _, payload = url.partition(",")
    assert header.startswith("data:image/") and header.endswith(";base64"), header[:40]
    im = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    im.load()
    return im


def mean_color(im: Image.Image) -> tuple[int, ...]:
    """Mean RGB(A) of an image, rounded."""
    return tuple(
        round(v) for v in ImageStat.Stat(im if im.mode in ("RGB", "RGBA") else im.convert("RGB")).mean
    )


def closest_sample_color(im_or_url: Image.Image | str) -> str:
    """The `SAMPLE_COLORS` name nearest to the image's mean colour."""
    im = decode_data_url(im_or_url) if isinstance(im_or_url, str) else im_or_url
    rgb = mean_color(im.convert("RGB"))
    return min(SAMPLE_COLORS, key=lambda n: sum((a - b) ** 2 for a, b in zip(SAMPLE_COLORS[n], rgb)))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png_bytes(width: int = 30000, height: int = 30000) -> bytes:
    """A valid-looking PNG header declaring `width` x `height` RGB, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _save(path: Path, im: Image.Image, fmt: str, **kw) -> Path:
    im.save(path, fmt, **kw)
    return path


@pytest.fixture
def sample_images(tmp_path: Path) -> list[Path]:
    """One solid-colour image per `SAMPLE_COLORS` entry (even index PNG, odd JPEG), in that order."""
    folder = tmp_path / "samples"
    folder.mkdir()
    paths = []
    for i, (name, rgb) in enumerate(SAMPLE_COLORS.items()):
        ext = "png" if i % 2 == 0 else "jpg"
        path = folder / f"{i:02d}_{name}.{ext}"
        path.write_bytes(solid_image_bytes(rgb, "PNG" if ext == "png" else "JPEG"))
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Valid but unusual images (see the module docstring). Read-only: shared by the session."""
    d = tmp_path_factory.mktemp("image_files")
    files: dict[str, Path] = {}
    files["photo_jpeg"] = d / "photo.jpg"
    files["photo_jpeg"].write_bytes(photo_like_jpeg())
    files["small_png"] = _save(d / "small.png", Image.new("RGB", (64, 48), RED), "PNG")
    files["small_webp"] = _save(d / "small.webp", Image.new("RGB", (64, 48), RED), "WEBP", quality=90)
    files["cmyk_jpeg"] = _save(
        d / "cmyk.jpg", Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG", quality=95
    )
    ramp = b"".join(struct.pack(">H", x * 65535 // 255) for _ in range(8) for x in range(256))
    files["png16"] = _save(d / "gray16.png", Image.frombytes("I;16B", (256, 8), ramp), "PNG")
    pal = Image.new("P", (64, 48), 0)
    pal.putpalette([*RED, *BLUE] + [0] * 762)
    pal.paste(1, (32, 0, 64, 48))
    files["palette_png"] = _save(d / "palette.png", pal, "PNG")
    files["palette_transparent_png"] = _save(d / "palette_trns.png", pal, "PNG", transparency=1)
    rgba = Image.new("RGBA", (64, 48), (*RED, 255))
    rgba.paste((*BLUE, 0), (32, 0, 64, 48))
    files["rgba_png"] = _save(d / "rgba.png", rgba, "PNG")
    files["opaque_rgba_png"] = _save(d / "opaque_rgba.png", Image.new("RGBA", (64, 48), (*RED, 255)), "PNG")
    frames = [Image.new("RGB", (64, 48), c) for c in (RED, (30, 200, 40), BLUE)]
    for key, name, fmt in (
        ("animated_gif", "anim.gif", "GIF"),
        ("animated_png", "anim.png", "PNG"),
        ("animated_webp", "anim.webp", "WEBP"),
    ):
        files[key] = _save(
            d / name, frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0
        )
    raw = Image.new("RGB", (64, 32), RED)  # stored sideways: left half red, right half blue
    raw.paste(BLUE, (32, 0, 64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display: the stored left edge becomes the top
    files["exif_rotated_jpeg"] = _save(d / "rotated.jpg", raw, "JPEG", quality=95, exif=exif.tobytes())
    files["huge_jpeg"] = _save(d / "huge.jpg", Image.new("RGB", (6000, 4000), BLUE), "JPEG", quality=90)
    files["tiff"] = _save(d / "image.tiff", Image.new("RGB", (64, 48), RED), "TIFF")
    files["bmp"] = _save(d / "image.bmp", Image.new("RGB", (64, 48), RED), "BMP")
    return files


@pytest.fixture
def bad_images(tmp_path: Path) -> dict[str, Path]:
    """Files that must each fail with a clear `ImageError` (``missing`` does not exist)."""
    d = tmp_path / "bad"
    d.mkdir()
    photo = photo_like_jpeg((320, 240))
    buf = io.BytesIO()
    photo_like((320, 240)).save(buf, "PNG")
    files = {
        "missing": d / "does_not_exist.jpg",
        "empty": d / "empty.jpg",
        "text_as_jpg": d / "notes.jpg",
        "html_as_png": d / "error_page.png",
        "svg": d / "vector.svg",
        "truncated_jpeg": d / "truncated.jpg",
        "truncated_png": d / "truncated.png",
        "bomb_png": d / "bomb.png",
    }
    files["empty"].write_bytes(b"")
    files["text_as_jpg"].write_text("these are my notes, not a picture\n" * 3)
    files["html_as_png"].write_text("<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    files["svg"].write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>')
    files["truncated_jpeg"].write_bytes(photo[: len(photo) * 6 // 10])
    files["truncated_png"].write_bytes(buf.getvalue()[: len(buf.getvalue()) * 6 // 10])
    files["bomb_png"].write_bytes(bomb_png_bytes())
    return files


# ---------------------------------------------------------------------------------------------
# Loopback HTTP server


@dataclass
class ImageServer:
    """A stdlib HTTP server on 127.0.0.1 in a background thread. ``url("/red.jpg")`` -> full URL.

    ``requests`` records ``(path, headers)`` for every request received.
    """

    ROUTES = (
        "/red.jpg (200 JPEG)",
        "/photo.jpg (200 photo-like JPEG)",
        "/html.jpg (200 text/html)",
        "/missing.jpg (404)",
        "/hang (accepts, never answers)",
        "/trickle (headers, then 1 body byte per 0.1 s forever)",
        "/trickle-headers (1 header byte per 0.1 s forever)",
        "/short (Content-Length 1000, sends 10 bytes, closes)",
        "/big (2 MB with Content-Length)",
        "/big-chunked (2 MB chunked, no Content-Length)",
        "/redirect-file (302 -> file:///etc/passwd)",
        "/redirect-ftp (302 -> ftp://x/y.jpg)",
        "/redirect-image (302 -> /red.jpg)",
        "/loop (302 -> /loop2 -> /loop)",
        "/chain/N (302 -> /chain/N-1 ... /chain/0 = red JPEG)",
    )
    host: str
    port: int
    red_jpeg: bytes
    photo_jpeg: bytes
    requests: list = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


def _make_handler(server: ImageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", ctype: str = "image/jpeg", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, location: str) -> None:
            self._send(302, b"", "text/plain", Location=location)

        def do_GET(self) -> None:
            self.close_connection = True
            path = self.path.split("?")[0]
            server.requests.append((self.path, dict(self.headers)))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._route(path)

        def _route(self, path: str) -> None:
            if path == "/red.jpg":
                self._send(200, server.red_jpeg)
            elif path == "/photo.jpg":
                self._send(200, server.photo_jpeg)
            elif path == "/html.jpg":
                self._send(200, b"<!DOCTYPE html><html><body>Please log in</body></html>", "text/html")
            elif path == "/hang":
                server.stop.wait(30)
            elif path == "/trickle":
                self.send_response(200)
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                while not server.stop.wait(0.1):
                    self.wfile.write(b"x")
                    self.wfile.flush()
            elif path == "/trickle-headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while not server.stop.wait(0.1):
                    self.wfile.write(b"X")
                    self.wfile.flush()
            elif path == "/short":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"0123456789")
            elif path == "/big":
                self._send(200, b"\0" * (2 * 1024 * 1024))
            elif path == "/big-chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = b"\0" * 65536
                for _ in range(32):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                self.wfile.write(b"0\r\n\r\n")
            elif path == "/redirect-file":
                self._redirect("file:///etc/passwd")
            elif path == "/redirect-ftp":
                self._redirect("ftp://x/y.jpg")
            elif path == "/redirect-image":
                self._redirect("/red.jpg")
            elif path == "/loop":
                self._redirect("/loop2")
            elif path == "/loop2":
                self._redirect("/loop")
            elif path.startswith("/chain/"):
                n = int(path.rsplit("/", 1)[1])
                self._redirect(f"/chain/{n - 1}") if n > 0 else self._send(200, server.red_jpeg)
            else:
                self._send(404, b"not found", "text/plain")

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


@pytest.fixture(scope="session")
def image_http_server():
    """Yield a running `ImageServer` on 127.0.0.1 (a private address: pass allow_private=True)."""
    state = ImageServer("127.0.0.1", 0, solid_image_bytes(RED, "JPEG"), photo_like_jpeg())
    httpd = _QuietServer(("127.0.0.1", 0), _make_handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        time.sleep(0.05)
