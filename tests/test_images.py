"""hf_vqa.images.prepare: passthrough vs conversion, every odd mode, every failure, and every input type."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fixtures_data import (
    BLUE,
    RED,
    SAMPLE_COLORS,
    bomb_png_bytes,
    closest_sample_color,
    decode_data_url,
    mean_color,
)
from PIL import Image, ImageFile

from hf_vqa.errors import ConfigError, ImageError
from hf_vqa.images.fetch import FetchSettings
from hf_vqa.images.prepare import image_source, prepare_image
from hf_vqa.images.settings import ImageSettings, PreparedImage

MIME_OF = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def payload(img: PreparedImage) -> bytes:
    return base64.b64decode(img.data_url.split(",", 1)[1])


def check_consistent(img: PreparedImage) -> Image.Image:
    """The data URL's MIME, size, hash and byte count all describe the bytes actually inside it."""
    data = payload(img)
    assert img.data_url.startswith(f"data:{img.mime};base64,")
    assert img.sha256 == hashlib.sha256(data).hexdigest()
    assert img.nbytes == len(data)
    im = decode_data_url(img.data_url)
    assert MIME_OF[im.format] == img.mime
    assert im.size == (img.width, img.height)
    return im


def close(rgb, expected, tol=12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, expected))


def no_decode(monkeypatch):
    def refuse(self):
        raise AssertionError("pixels were decoded on the passthrough path")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- passthrough --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["photo_jpeg", "small_png", "small_webp", "palette_png", "opaque_rgba_png"])
def test_small_jpeg_png_webp_pass_through_untouched_without_decoding(image_files, key, monkeypatch):
    path = image_files[key]
    no_decode(monkeypatch)
    img = prepare_image(path)
    monkeypatch.undo()
    assert img.passthrough is True
    assert payload(img) == path.read_bytes()
    assert img.source == str(path)
    check_consistent(img)


def test_sample_images_keep_their_colours(sample_images):
    for path, name in zip(sample_images, SAMPLE_COLORS):
        img = prepare_image(path)
        assert img.passthrough and closest_sample_color(img.data_url) == name
        assert close(mean_color(check_consistent(img)), SAMPLE_COLORS[name], tol=4)


def test_jpeg_padding_after_end_marker_still_passes_through(image_files):
    data = image_files["photo_jpeg"].read_bytes() + b"\x00" * 100
    img = prepare_image(data)
    assert img.passthrough and payload(img) == data and img.source == f"<bytes {len(data)}>"


def test_jpeg_with_trailing_garbage_is_reencoded_not_refused(image_files):
    img = prepare_image(image_files["photo_jpeg"].read_bytes() + b"TRAILER-DATA")
    assert not img.passthrough and img.mime == "image/jpeg"
    check_consistent(img)


def test_passthrough_max_bytes_zero_forces_reencoding(image_files):
    img = prepare_image(image_files["photo_jpeg"], ImageSettings(passthrough_max_bytes=0))
    assert not img.passthrough and img.mime == "image/jpeg" and (img.width, img.height) == (640, 480)


def test_file_above_passthrough_cap_is_read_lazily_and_reencoded(image_files):
    img = prepare_image(image_files["photo_jpeg"], ImageSettings(passthrough_max_bytes=1000))
    assert not img.passthrough
    check_consistent(img)


# --- conversions --------------------------------------------------------------------------------


def test_huge_image_is_downscaled_to_max_side(image_files):
    img = prepare_image(image_files["huge_jpeg"])
    assert (img.width, img.height) == (2048, 1365) and not img.passthrough and img.mime == "image/jpeg"
    assert close(mean_color(check_consistent(img)), BLUE, tol=4)


def test_downscale_respects_max_pixels_and_max_side(image_files):
    img = prepare_image(image_files["photo_jpeg"], ImageSettings(max_pixels=100 * 100))
    assert img.width * img.height <= 100 * 100 and abs(img.width / img.height - 4 / 3) < 0.05
    img = prepare_image(image_files["photo_jpeg"], ImageSettings(max_side=320))
    assert (img.width, img.height) == (320, 240)
    check_consistent(img)


def test_exif_orientation_is_applied_and_dropped(image_files):
    img = prepare_image(image_files["exif_rotated_jpeg"])  # stored 64x32, orientation 6
    im = check_consistent(img)
    assert not img.passthrough and (img.width, img.height) == (32, 64)
    assert close(im.getpixel((16, 8)), RED) and close(im.getpixel((16, 56)), BLUE)
    assert 0x0112 not in im.getexif()


def test_exif_orientation_applied_after_downscale_keeps_aspect(image_files):
    img = prepare_image(image_files["exif_rotated_jpeg"], ImageSettings(max_side=32))
    assert (img.width, img.height) == (16, 32)


def test_cmyk_jpeg_becomes_rgb_jpeg(image_files):
    img = prepare_image(image_files["cmyk_jpeg"])
    im = check_consistent(img)
    assert not img.passthrough and img.mime == "image/jpeg" and im.mode == "RGB"
    assert close(mean_color(im), (255, 0, 0), tol=10)


def test_16bit_png_is_scaled_not_clipped(image_files):
    img = prepare_image(image_files["png16"])
    im = check_consistent(img)
    assert not img.passthrough and im.mode == "L" and img.mime == "image/jpeg"
    left, mid, right = (im.getpixel((x, 4)) for x in (2, 128, 253))
    assert left < 8 and 118 < mid < 138 and right > 247


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("I;16", 65535, 255), ("I;16", 257 * 100, 100), ("F", 0.5, 128), ("I", 100, 100), ("I", 70000, 255)],
)
def test_high_bit_depth_constant_images(mode, value, expected):
    im = check_consistent(prepare_image(Image.new(mode, (16, 16), value)))
    assert im.mode == "L" and abs(im.getpixel((8, 8)) - expected) <= 2


def test_wide_range_int_image_is_stretched():
    im = Image.new("I", (64, 8), -1000)
    im.paste(1000, (32, 0, 64, 8))
    out = check_consistent(prepare_image(im))
    assert out.getpixel((4, 4)) <= 3 and out.getpixel((60, 4)) >= 252


def test_palette_png_with_transparency_becomes_rgba_png(image_files):
    img = prepare_image(image_files["palette_transparent_png"])
    im = check_consistent(img)
    assert not img.passthrough and img.mime == "image/png" and im.mode == "RGBA"
    assert im.getpixel((8, 8)) == (*RED, 255) and im.getpixel((56, 8))[3] == 0


def test_real_alpha_kept_as_png_and_opaque_alpha_dropped_to_jpeg(image_files):
    img = prepare_image(Image.open(image_files["rgba_png"]).copy())
    assert img.mime == "image/png" and check_consistent(img).mode == "RGBA"
    img = prepare_image(Image.new("RGBA", (20, 20), (*RED, 255)))
    assert img.mime == "image/jpeg" and check_consistent(img).mode == "RGB"
    img = prepare_image(Image.new("LA", (20, 20), (90, 255)))
    assert img.mime == "image/jpeg" and check_consistent(img).mode == "L"
    img = prepare_image(Image.new("LA", (20, 20), (90, 10)))
    assert img.mime == "image/png" and check_consistent(img).getpixel((1, 1)) == (90, 90, 90, 10)


@pytest.mark.parametrize("key", ["animated_gif", "animated_png", "animated_webp"])
def test_animated_images_use_the_first_frame(image_files, key):
    img = prepare_image(image_files[key])
    im = check_consistent(img)
    assert not img.passthrough and img.mime == "image/jpeg" and not getattr(im, "is_animated", False)
    assert close(mean_color(im), RED)


@pytest.mark.parametrize("key", ["tiff", "bmp"])
def test_other_formats_are_reencoded(image_files, key):
    img = prepare_image(image_files[key])
    assert not img.passthrough and img.mime == "image/jpeg"
    assert close(mean_color(check_consistent(img)), RED, tol=4)


@pytest.mark.parametrize(
    ("mode", "color"),
    [("1", 1), ("P", 3), ("YCbCr", (120, 100, 150)), ("RGBX", (1, 2, 3, 4)), ("HSV", (10, 200, 200))],
)
def test_odd_modes_become_l_or_rgb_jpeg(mode, color):
    img = prepare_image(Image.new(mode, (16, 16), color))
    assert img.mime == "image/jpeg" and check_consistent(img).mode in ("L", "RGB")


def test_pil_image_from_unchanged_file_passes_through(image_files):
    with Image.open(image_files["photo_jpeg"]) as im:
        img = prepare_image(im)
        assert img.passthrough and payload(img) == image_files["photo_jpeg"].read_bytes()
        assert img.source == "<PIL RGB 640x480>"
        img = prepare_image(im.resize((64, 48)))  # a new image: must encode these pixels
        assert not img.passthrough and (img.width, img.height) == (64, 48)


def test_input_pil_image_is_not_modified(image_files):
    with Image.open(image_files["huge_jpeg"]) as im:
        prepare_image(im, ImageSettings(max_side=64))
        assert im.size == (6000, 4000)


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        ("missing", "file not found"),
        ("empty", r"empty \(0 bytes\)"),
        ("text_as_jpg", "not a recognised image: the content is text"),
        ("html_as_png", "HTML page"),
        ("svg", "SVG"),
        ("truncated_jpeg", "JPEG data is truncated or corrupt"),
        ("truncated_png", "PNG data is truncated or corrupt"),
        ("bomb_png", "decompression-bomb"),
    ],
)
def test_bad_images_raise_image_error_naming_file_and_cause(bad_images, key, pattern):
    path = bad_images[key]
    with pytest.raises(ImageError, match=pattern) as info:
        prepare_image(path)
    err = info.value
    assert err.source == str(path) and str(err).startswith(f"image {path}: ")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def test_bad_bytes_fail_the_same_way(bad_images):
    with pytest.raises(ImageError, match="JPEG data is truncated") as info:
        prepare_image(bad_images["truncated_jpeg"].read_bytes())
    assert info.value.source.startswith("<bytes ")


def test_bomb_is_refused_from_the_header_and_global_limit_untouched(monkeypatch):
    limit_before = Image.MAX_IMAGE_PIXELS
    no_decode(monkeypatch)
    with pytest.raises(ImageError, match="900000000 pixels"):
        prepare_image(bomb_png_bytes(30000, 30000))
    # below Pillow's own limit, our max_source_pixels check refuses it from the header too
    with pytest.raises(ImageError, match=r"declared size 5000x5000 .*max_source_pixels=1000000"):
        prepare_image(bomb_png_bytes(5000, 5000), ImageSettings(max_source_pixels=1_000_000))
    assert limit_before == Image.MAX_IMAGE_PIXELS


def test_directory_is_refused(tmp_path):
    with pytest.raises(ImageError, match="is a directory"):
        prepare_image(tmp_path)


def test_a_file_is_read_with_one_open_and_one_read(tmp_path, monkeypatch):
    # os.stat + open().read() made ten syscalls per image, each letting the GIL go while the engine's
    # loop waited for it; now open, fstat, one read of the size fstat gave, close.
    import builtins
    import os

    path = tmp_path / "a.jpg"
    Image.new("RGB", (40, 30), "red").save(path, quality=90)
    calls, real = [], (os.stat, builtins.open, os.read)
    monkeypatch.setattr(os, "stat", lambda *a, **k: calls.append("stat") or real[0](*a, **k))
    monkeypatch.setattr(builtins, "open", lambda *a, **k: calls.append("open") or real[1](*a, **k))
    monkeypatch.setattr(os, "read", lambda fd, n: calls.append(n) or real[2](fd, n))
    img = prepare_image(str(path))
    monkeypatch.undo()
    assert img.passthrough and calls == [path.stat().st_size + 1]
    assert base64.b64decode(img.data_url.split(",", 1)[1]) == path.read_bytes()


def test_a_file_that_grows_or_has_no_size_is_still_read_whole(tmp_path, monkeypatch):
    import os

    from hf_vqa.images import prepare

    path = tmp_path / "a.jpg"
    Image.new("RGB", (40, 30), "red").save(path, quality=90)
    whole = path.read_bytes()
    real_fstat = os.fstat
    for told in (len(whole) - 100, 0):  # fstat said less than there is (it grew), or 0 (a /proc-like file)
        monkeypatch.setattr(os, "fstat", lambda fd, told=told: _with_size(real_fstat(fd), told))
        assert prepare._read_small(str(path), 10**7, "a.jpg") == whole


def _with_size(st, size):
    import os

    fields = list(st)
    fields[6] = size  # st_size
    return os.stat_result(fields)


@pytest.mark.parametrize("value", [None, 42, ["a.jpg"], object()])
def test_unsupported_value_types(value):
    with pytest.raises(ImageError, match=f"unsupported image value of type {type(value).__name__}") as info:
        prepare_image(value)
    assert "PIL.Image.Image" in str(info.value)


def test_data_url_string_is_refused_with_a_hint():
    with pytest.raises(ImageError, match="data: URLs are not accepted") as info:
        prepare_image("data:image/png;base64," + "A" * 5000)
    assert len(str(info.value)) < 200


# --- datasets dicts and URLs --------------------------------------------------------------------


def test_datasets_dict_with_bytes_and_with_path(sample_images):
    path = sample_images[1]
    from_bytes = prepare_image({"bytes": path.read_bytes(), "path": path.name})
    from_path = prepare_image({"bytes": None, "path": str(path)})
    assert from_bytes.sha256 == from_path.sha256 and from_bytes.passthrough
    assert from_bytes.source == path.name and from_path.source == str(path)
    with pytest.raises(ImageError, match="neither 'bytes' nor 'path'"):
        prepare_image({"bytes": None, "path": None})


def test_url_and_dict_with_url_path(image_http_server):
    settings = ImageSettings(url=FetchSettings(timeout=0.5, allow_private=True))
    url = image_http_server.url("/photo.jpg?sig=secret")
    img = prepare_image(url, settings)
    assert img.passthrough and payload(img) == image_http_server.photo_jpeg
    assert img.source == image_http_server.url("/photo.jpg")
    assert prepare_image({"bytes": None, "path": url}, settings).sha256 == img.sha256


def test_url_errors_are_image_errors(image_http_server):
    settings = ImageSettings(url=FetchSettings(timeout=0.5, allow_private=True))
    with pytest.raises(ImageError, match="HTTP 404"):
        prepare_image(image_http_server.url("/missing.jpg"), settings)
    with pytest.raises(ImageError, match="HTML page") as info:
        prepare_image(image_http_server.url("/html.jpg"), settings)
    assert info.value.source == image_http_server.url("/html.jpg")
    with pytest.raises(ImageError, match="non-public address"):
        prepare_image(image_http_server.url("/red.jpg"))  # default settings refuse loopback
    with pytest.raises(ImageError, match="only http and https"):
        prepare_image("ftp://example.com/a.jpg")


# --- settings, descriptions, concurrency ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_side", 0), ("max_pixels", -1), ("max_source_pixels", 0), ("jpeg_quality", 101),
     ("jpeg_quality", 0), ("passthrough_max_bytes", -1), ("max_side", True), ("max_side", 2.5), ("url", {})],
)  # fmt: skip
def test_settings_validation_names_the_field(field, value):
    with pytest.raises(ConfigError, match=f"ImageSettings.{field}"):
        ImageSettings(**{field: value})


def test_image_source_describes_without_loading(tmp_path):
    assert image_source(Path("/no/such/file.jpg")) == "/no/such/file.jpg"
    assert image_source(b"12345") == "<bytes 5>"
    assert image_source(Image.new("RGB", (64, 48))) == "<PIL RGB 64x48>"
    assert image_source({"bytes": b"123", "path": None}) == "<bytes 3>"
    assert image_source("https://user:pw@host.org/a.jpg?token=t") == "https://host.org/a.jpg"
    assert len(image_source("x" * 5000)) <= 200
    assert image_source(3.5) == "<float>"


def test_thread_pool_gives_the_same_results(sample_images, image_files):
    values = [*sample_images, image_files["cmyk_jpeg"], image_files["exif_rotated_jpeg"]] * 4
    expected = [prepare_image(v).sha256 for v in values]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda v: prepare_image(v).sha256, values)) == expected


def test_datasets_map_with_num_proc(sample_images):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"image": [str(p) for p in sample_images]})
    ds = ds.cast_column("image", datasets.Image(decode=False))

    def add_url(row):
        img = prepare_image(row["image"])
        return {"color": closest_sample_color(img.data_url), "mime": img.mime}

    out = ds.map(add_url, num_proc=2)
    assert out["color"] == list(SAMPLE_COLORS)
    assert out["mime"] == ["image/png", "image/jpeg"] * 3


def test_png_ihdr_bit_depth_gate():
    ramp = b"".join(struct.pack(">H", x * 257) for x in range(16))
    buf = io.BytesIO()
    Image.frombytes("I;16B", (16, 1), ramp).save(buf, "PNG")
    assert buf.getvalue()[24] == 16  # 16-bit grey: not passed through even though it is a PNG
    assert not prepare_image(buf.getvalue()).passthrough


def test_the_fast_base64_gives_the_standard_librarys_bytes(tmp_path, monkeypatch):
    pytest.importorskip("pybase64", reason="the `fast` extra: pip install 'hf_vqa[fast]'")
    from hf_vqa.images import prepare

    assert prepare._simd_b64encode is not None
    blobs = [b"", b"a", b"ab", b"abc", bytes(range(256)) * 7, b"\xff" * 100_003]
    for blob in blobs:
        assert prepare.b64encode(blob) == base64.b64encode(blob)
    photo = tmp_path / "p.jpg"
    Image.effect_noise((320, 240), 60).convert("RGB").save(photo, quality=90)
    fast = prepare_image(str(photo))
    monkeypatch.setattr(prepare, "_simd_b64encode", None)  # the standard library's path
    assert prepare_image(str(photo)) == fast
    assert fast.data_url == "data:image/jpeg;base64," + base64.b64encode(photo.read_bytes()).decode()


def test_switching_decoding_keeps_the_arrow_table_and_equals_datasets_own_cast(tmp_path):
    """`decoded`/`undecoded` of a `List(Image())` column: no "Casting the dataset" map (same cache files),
    the features, data and schema metadata `cast_column` gives, and the same fingerprint on a rerun."""
    import datasets
    from datasets import Image, List

    from hf_vqa.images.columns import decoded, undecoded

    rows = {
        "image": [[{"bytes": b"\xff\xd8" + bytes([i]), "path": None}] for i in range(4)],
        "t": list("abcd"),
    }
    features = datasets.Features({"image": List(Image(decode=False)), "t": datasets.Value("string")})
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(tmp_path / "ds")
    ds = datasets.load_from_disk(tmp_path / "ds")
    on = decoded(ds)
    assert on.cache_files == ds.cache_files  # the same Arrow file: nothing was rewritten
    want = ds.cast_column("image", List(Image()))
    assert on.features == want.features and on.data.to_pydict() == want.data.to_pydict()
    info = [json.loads(d.data.schema.metadata[b"huggingface"])["info"] for d in (on, want)]
    assert info[0] == info[1]  # the features stored in the Arrow schema, as cast_column writes them
    off = undecoded(on)
    assert off.cache_files == ds.cache_files and off.features == ds.features
    assert off.data.to_pydict() == ds.data.to_pydict()
    assert (
        decoded(datasets.load_from_disk(tmp_path / "ds"))._fingerprint == on._fingerprint != ds._fingerprint
    )
    assert undecoded(on)._fingerprint == off._fingerprint
