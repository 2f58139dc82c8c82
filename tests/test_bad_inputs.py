"""Bad inputs never crash the run (issue #6): a bad row keeps its place and says what and why.

Per-row cases go through the real map function, ``ds.map(hf_vqa.prompted_vqa, batched=True, ...)``,
in a batch of three: a good red image, the case under test, a good blue image. The neighbours
must still succeed with the answer for their own image. Whole-input cases go through the real CLI
(exit code 2, one line on stderr, no traceback) and through ``hf_vqa.load_records``.

``pytest -s`` prints ``CASE <name> | <what the user sees>`` for each case.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pytest
from clitools import run_cli
from PIL import Image

import hf_vqa
from hf_vqa.images.columns import undecoded
from hf_vqa.mock.server import MockVLM, parse_tags

ROOT = Path(__file__).resolve().parents[1]
RED, BLUE = (220, 30, 30), (30, 40, 220)
ASK = [{"from": "human", "value": "<image>\nWhat is shown?"}]


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def neighbours(tmp_path: Path) -> tuple[str, str]:
    """Two good images that sit either side of the case under test: red 40x30, blue 50x20."""
    folder = tmp_path / "good"
    folder.mkdir()
    Image.new("RGB", (40, 30), RED).save(folder / "red.png")
    Image.new("RGB", (50, 20), BLUE).save(folder / "blue.png")
    return str(folder / "red.png"), str(folder / "blue.png")


def write_records(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def run_batch(
    tmp_path: Path,
    server: MockVLM,
    neighbours: tuple[str, str],
    images: list[str],
    conversation: list[dict] | None = None,
    *,
    decode: bool = False,
    prompt: str | None = None,
    **vlm_kwargs: Any,
) -> datasets.Dataset:
    """Rows [red, case, blue] in ONE batch through the real map function; returns the output.

    ``decode=False`` is what the CLI does (`run_pipeline` casts image columns with `undecoded`);
    ``decode=True`` is the README's notebook snippet: ``load_records(...)`` then ``map`` directly.
    """
    red, blue = neighbours
    rows = [
        {"image": [red], "conversation": ASK},
        {"image": images, "conversation": ASK if conversation is None else conversation},
        {"image": [blue], "conversation": ASK},
    ]
    records = write_records(tmp_path / "records.json", rows)
    ds = hf_vqa.load_records(records, cache_dir=str(tmp_path / "ds"))
    if not decode:
        ds = undecoded(ds)
    vlm = hf_vqa.VLM(
        model="mock",
        base_url=server.base_url,
        api_key_env="",
        cache_dir=str(tmp_path / "store"),
        **vlm_kwargs,
    )
    return ds.map(
        hf_vqa.prompted_vqa,
        batched=True,
        batch_size=3,
        fn_kwargs={"vlm": vlm, "prompt": prompt},
        load_from_cache_file=False,
    )


def tag(row: dict) -> tuple[int, int, tuple[int, int, int]]:
    """The (width, height, rgb) the mock saw for the row's only image."""
    tags = parse_tags(row["vqa"] or "")
    assert len(tags) >= 1, f"no image tag in the answer: {row['vqa']!r}"
    return tags[0]


def close(rgb: tuple[int, ...], want: tuple[int, ...], tol: int = 6) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, want))


def assert_neighbours_ok(out: datasets.Dataset) -> None:
    """Rows 0 and 2 succeeded, each with the answer for its own image."""
    assert len(out) == 3
    first, last = out[0], out[2]
    assert first["vqa_error"] is None and last["vqa_error"] is None, (first["vqa_error"], last["vqa_error"])
    w, h, rgb = tag(first)
    assert (w, h) == (40, 30) and close(rgb, RED), f"row 0 got {w}x{h} {rgb}"
    w, h, rgb = tag(last)
    assert (w, h) == (50, 20) and close(rgb, BLUE), f"row 2 got {w}x{h} {rgb}"


def assert_row_failed(out: datasets.Dataset, case: str, *needles: str) -> str:
    """Row 1 failed in place: vqa None, an error naming `needles`, and no request was sent."""
    row = out[1]
    error = row["vqa_error"]
    print(f"\nCASE {case} | {error}")
    assert row["vqa"] is None, f"{case}: expected a per-row failure, got an answer {row['vqa'][:80]!r}"
    assert isinstance(error, str) and error, f"{case}: no error recorded"
    assert "\n" not in error and len(error) <= 400, f"{case}: error is not one short line: {error!r}"
    for needle in needles:
        assert needle in error, f"{case}: {needle!r} not in {error!r}"
    assert row["vqa_usage"]["attempts"] == 0, f"{case}: a request was sent for a bad row"
    assert_neighbours_ok(out)
    return error


def assert_row_ok(out: datasets.Dataset, case: str) -> tuple[int, int, tuple[int, int, int]]:
    row = out[1]
    print(f"\nCASE {case} | ok: {row['vqa'] and row['vqa'][:60]!r}")
    assert row["vqa_error"] is None, f"{case}: {row['vqa_error']}"
    assert_neighbours_ok(out)
    return tag(row)


# ---------------------------------------------------------------------------------------------
# files that cannot be used: the row fails, its neighbours succeed


def test_missing_file(tmp_path, mock_vlm, neighbours, bad_images):
    path = str(bad_images["missing"])
    out = run_batch(tmp_path, mock_vlm, neighbours, [path])
    assert_row_failed(out, "missing file", path, "file not found")
    assert mock_vlm.stats()["requests"] == 2


def test_empty_file(tmp_path, mock_vlm, neighbours, bad_images):
    path = str(bad_images["empty"])
    out = run_batch(tmp_path, mock_vlm, neighbours, [path])
    assert_row_failed(out, "0-byte file", path, "empty (0 bytes)")


def test_truncated_jpeg(tmp_path, mock_vlm, neighbours, bad_images):
    path = str(bad_images["truncated_jpeg"])
    out = run_batch(tmp_path, mock_vlm, neighbours, [path])
    assert_row_failed(out, "truncated JPEG", path, "truncated")


def test_text_file_with_an_image_extension(tmp_path, mock_vlm, neighbours, bad_images):
    path = str(bad_images["text_as_jpg"])
    out = run_batch(tmp_path, mock_vlm, neighbours, [path])
    error = assert_row_failed(out, "text file named .jpg", path, "not a recognised image", "text")
    assert "notes" not in error.split(path)[-1], "the file's content must not be quoted"


def test_html_page_saved_as_png(tmp_path, mock_vlm, neighbours, bad_images):
    path = str(bad_images["html_as_png"])
    out = run_batch(tmp_path, mock_vlm, neighbours, [path])
    assert_row_failed(out, "HTML page named .png", path, "HTML")


def test_decompression_bomb(tmp_path, mock_vlm, neighbours, bad_images):
    path = str(bad_images["bomb_png"])
    out = run_batch(tmp_path, mock_vlm, neighbours, [path])
    assert_row_failed(out, "bomb PNG 30000x30000", path, "900000000 pixels", "decompression-bomb")


def test_one_bad_image_fails_its_whole_multi_image_row(tmp_path, mock_vlm, neighbours, bad_images):
    red, _ = neighbours
    missing = str(bad_images["missing"])
    conv = [{"from": "human", "value": "<image><image>\nCompare."}]
    out = run_batch(tmp_path, mock_vlm, neighbours, [red, missing], conv)
    assert_row_failed(out, "multi-image row, one missing", missing, "file not found")


# ---------------------------------------------------------------------------------------------
# unusual but valid images: converted, and the mock sees a valid image of the right size/colour


@pytest.mark.parametrize(
    ("key", "size", "rgb", "tol"),
    [
        ("cmyk_jpeg", (64, 48), (255, 0, 0), 12),  # CMYK (0,255,255,0) is pure red
        ("png16", (256, 8), (127, 127, 127), 3),  # 16-bit grey ramp 0..65535, scaled to 8 bits
        ("palette_png", (64, 48), (125, 35, 125), 3),  # half red, half blue
        ("palette_transparent_png", (64, 48), (125, 35, 125), 3),  # blue half transparent, kept as RGBA
        ("animated_gif", (64, 48), RED, 12),  # first frame only (red; then green, blue)
        ("animated_png", (64, 48), RED, 3),
        ("animated_webp", (64, 48), RED, 12),
        ("tiff", (64, 48), RED, 3),  # formats OpenAI does not accept: re-encoded
        ("bmp", (64, 48), RED, 3),
        ("exif_rotated_jpeg", (32, 64), (125, 35, 125), 12),  # EXIF orientation 6 applied
    ],
)
def test_unusual_valid_images_are_converted(tmp_path, mock_vlm, neighbours, image_files, key, size, rgb, tol):
    out = run_batch(tmp_path, mock_vlm, neighbours, [str(image_files[key])])
    w, h, seen = assert_row_ok(out, f"{key} (converted)")
    assert (w, h) == size, f"{key}: the mock saw {w}x{h}, expected {size}"
    assert close(seen, rgb, tol), f"{key}: the mock saw rgb{seen}, expected about rgb{rgb}"
    assert mock_vlm.stats()["invalid"] == 0  # the mock decoded and accepted every image


def test_huge_valid_image_is_downscaled_to_the_cap(tmp_path, mock_vlm, neighbours, image_files):
    out = run_batch(tmp_path, mock_vlm, neighbours, [str(image_files["huge_jpeg"])])
    w, h, seen = assert_row_ok(out, "huge 6000x4000 JPEG")
    assert (w, h) == (2048, 1365), f"the mock saw {w}x{h}; the cap is max_image_side=2048"
    assert close(seen, BLUE, 6)
    out = run_batch(tmp_path, mock_vlm, neighbours, [str(image_files["huge_jpeg"])], max_image_side=600)
    assert tag(out[1])[:2] == (600, 400)


# ---------------------------------------------------------------------------------------------
# URLs


def test_http_404_url(tmp_path, mock_vlm, neighbours, image_http_server):
    url = image_http_server.url("/missing.jpg")
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True)
    assert_row_failed(out, "HTTP 404 URL", url, "HTTP 404")


def test_url_that_never_answers_times_out(tmp_path, mock_vlm, neighbours, image_http_server):
    url = image_http_server.url("/hang")
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True, url_timeout=0.5)
    assert_row_failed(out, "URL that never answers", url, "0.5 s")


def test_url_that_trickles_hits_the_overall_deadline(tmp_path, mock_vlm, neighbours, image_http_server):
    url = image_http_server.url("/trickle")
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True, url_timeout=0.5)
    assert_row_failed(out, "URL that trickles 1 byte/0.1 s", url, "overall deadline")


@pytest.mark.parametrize(("route", "scheme"), [("/redirect-file", "file"), ("/redirect-ftp", "ftp")])
def test_redirect_to_a_non_http_scheme_is_refused(
    tmp_path, mock_vlm, neighbours, image_http_server, route, scheme
):
    url = image_http_server.url(route)
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True)
    assert_row_failed(out, f"redirect to {scheme}://", url, f"scheme '{scheme}' is not allowed", "redirect")


def test_redirect_loop(tmp_path, mock_vlm, neighbours, image_http_server):
    url = image_http_server.url("/loop")
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True)
    assert_row_failed(out, "redirect loop", url, "redirect loop")


@pytest.mark.parametrize(
    ("route", "needle"), [("/html.jpg", "HTML page"), ("/big", "not in any image format")]
)
def test_url_that_is_not_an_image(tmp_path, mock_vlm, neighbours, image_http_server, route, needle):
    url = image_http_server.url(route)
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True)
    assert_row_failed(out, f"URL {route} (not an image)", url, needle)


def test_url_that_closes_early(tmp_path, mock_vlm, neighbours, image_http_server):
    url = image_http_server.url("/short")
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True)
    assert_row_failed(out, "URL closes after 10 of 1000 bytes", url, "connection closed")


@pytest.mark.parametrize("scheme", ["file", "ftp", "gopher", "ws"])
def test_non_http_schemes_are_refused(tmp_path, mock_vlm, neighbours, scheme):
    red, _ = neighbours
    url = f"file://{red}" if scheme == "file" else f"{scheme}://example.com/cat.jpg"
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True)
    assert_row_failed(out, f"{scheme}:// URL", f"scheme '{scheme}' is not allowed")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_addresses_are_refused_by_default(tmp_path, mock_vlm, neighbours, image_http_server, host):
    url = image_http_server.url("/red.jpg").replace("127.0.0.1", host)
    out = run_batch(tmp_path, mock_vlm, neighbours, [url])
    assert_row_failed(out, f"private address ({host}), default", "non-public address", "allow_private")


def test_private_addresses_are_fetched_with_allow_private_urls(
    tmp_path, mock_vlm, neighbours, image_http_server
):
    url = image_http_server.url("/red.jpg")
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True)
    w, h, seen = assert_row_ok(out, "private address, allow_private_urls=True")
    assert (w, h) == (64, 48) and close(seen, RED, 6)


def test_a_url_with_credentials_is_shown_without_them(tmp_path, mock_vlm, neighbours, image_http_server):
    url = image_http_server.url("/missing.jpg?sig=SECRETSIG").replace("http://", "http://user:PASSWORD@")
    out = run_batch(tmp_path, mock_vlm, neighbours, [url], allow_private_urls=True)
    error = assert_row_failed(out, "404 URL with user:pass and ?sig=", "HTTP 404", "/missing.jpg")
    assert "PASSWORD" not in error and "SECRETSIG" not in error


# ---------------------------------------------------------------------------------------------
# conversations that do not fit their images


def test_conversation_without_a_human_turn_and_no_prompt(tmp_path, mock_vlm, neighbours):
    red, _ = neighbours
    conv = [{"from": "system", "value": "Be brief."}, {"from": "gpt", "value": "An earlier answer."}]
    out = run_batch(tmp_path, mock_vlm, neighbours, [red], conv)
    assert_row_failed(out, "no human turn, no prompt", "no human turn", "prompt")


def test_conversation_without_a_human_turn_uses_the_prompt_when_given(tmp_path, mock_vlm, neighbours):
    red, _ = neighbours
    out = run_batch(tmp_path, mock_vlm, neighbours, [red], [], prompt="Describe the image.")
    assert tag(out[1])[:2] == (40, 30) and out[1]["vqa_error"] is None


def test_more_images_than_placeholders(tmp_path, mock_vlm, neighbours):
    red, blue = neighbours
    out = run_batch(tmp_path, mock_vlm, neighbours, [red, blue], ASK)
    assert_row_failed(out, "2 images, 1 <image>", "1 <image> placeholder(s)", "2 image(s)")


def test_fewer_images_than_placeholders(tmp_path, mock_vlm, neighbours):
    red, _ = neighbours
    conv = [{"from": "human", "value": "<image> and <image>: which is redder?"}]
    out = run_batch(tmp_path, mock_vlm, neighbours, [red], conv)
    assert_row_failed(out, "1 image, 2 <image>", "2 <image> placeholder(s)", "1 image(s)")


def test_placeholder_but_no_image(tmp_path, mock_vlm, neighbours):
    out = run_batch(tmp_path, mock_vlm, neighbours, [], ASK)
    assert_row_failed(out, "0 images, 1 <image>", "1 <image> placeholder(s)", "0 image(s)")


# ---------------------------------------------------------------------------------------------
# the README's notebook snippet: load_records(...) then map, with no cast to Image(decode=False)


def _notebook_case(
    case: str, bad_images: dict[str, Path], server, neighbours: tuple[str, str]
) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    red, _ = neighbours
    if case == "file_url":
        return f"file://{red}", {}, ("scheme 'file' is not allowed",)
    if case == "private_url":
        return server.url("/red.jpg"), {}, ("non-public address",)
    return str(bad_images[case]), {}, (str(bad_images[case]),)


@pytest.mark.parametrize(
    "case", ["missing", "truncated_jpeg", "text_as_jpg", "bomb_png", "file_url", "private_url"]
)
def test_readme_notebook_path_keeps_bad_rows_in_place(
    tmp_path, mock_vlm, neighbours, bad_images, image_http_server, case
):
    """`hf_vqa.load_records(...)` gives `List(Image())` (decode=True). `datasets` then opens every
    image itself before `prompted_vqa` runs: a bad file crashes the whole map, and URLs are fetched
    by `datasets`/fsspec, not by `fetch.py` (no scheme, private-address or timeout checks)."""
    value, kwargs, needles = _notebook_case(case, bad_images, image_http_server, neighbours)
    try:
        out = run_batch(tmp_path, mock_vlm, neighbours, [value], decode=True, **kwargs)
    except Exception as err:
        pytest.fail(
            f"{case}: the README's `load_records(...)` + `ds.map(prompted_vqa)` crashed the whole map "
            f"instead of failing one row: {type(err).__name__}: {str(err)[:200]}"
        )
    assert_row_failed(out, f"notebook path: {case}", *needles)


# ---------------------------------------------------------------------------------------------
# whole inputs that cannot be used: load_records raises InputError; the CLI exits 2 with one line


def run_bad_input_cli(tmp_path: Path, *args: Any) -> subprocess.CompletedProcess:
    # an endpoint that is never reached: the input fails first
    return run_cli("image-vqa", *args, "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "", tmp_path=tmp_path,
                   timeout=120)  # fmt: skip


BAD_INPUTS = {
    "malformed_json": ("records.json", '[{"image": ["a.jpg"], "conversation": [}]', "is not valid JSON"),
    "malformed_jsonl": (
        "records.jsonl",
        '{"image": ["a.jpg"]}\n{"image": ["b.jpg"],\n',
        "records.jsonl:2 is not valid JSON",
    ),
    "missing_image_field": (
        "records.json",
        json.dumps([{"image": ["a.jpg"]}, {"conversation": [{"from": "human", "value": "hi"}]}]),
        "record 1 in",
    ),
    "image_not_a_string": ("records.json", json.dumps([{"image": [42]}]), "'image' must be a path/URL"),
    "not_a_list": ("records.json", json.dumps("just a string"), "must hold a list of records"),
    "no_records": ("records.json", "[]", "holds no records"),
    "conversation_not_a_list": (
        "records.json",
        json.dumps([{"image": ["a.jpg"], "conversation": "hi"}]),
        "'conversation' must be a list",
    ),
}


@pytest.fixture(params=sorted(BAD_INPUTS))
def bad_input(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    name, text, needle = BAD_INPUTS[request.param]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    yield request.param, path, needle


def test_load_records_rejects_unusable_input(tmp_path, bad_input):
    case, path, needle = bad_input
    with pytest.raises(hf_vqa.InputError) as info:
        hf_vqa.load_records(path, cache_dir=str(tmp_path / "ds"))
    print(f"\nCASE load_records {case} | {info.value}")
    assert needle in str(info.value)
    assert "Fix:" in str(info.value)


@pytest.mark.slow
def test_cli_exits_2_with_one_line_on_unusable_input(tmp_path, bad_input):
    case, path, needle = bad_input
    res = run_bad_input_cli(tmp_path, "--input", path, "--output", tmp_path / "out.json")
    print(f"\nCASE CLI {case} | exit {res.returncode} | {res.stderr.strip()}")
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{res.stderr[-2000:]}"
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert not (tmp_path / "out.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("what", ["missing_file", "empty_folder", "unknown_file_type"])
def test_cli_exits_2_when_the_input_does_not_exist_or_has_no_images(tmp_path, what):
    if what == "missing_file":
        target, needle = tmp_path / "nope.json", "not found"
    elif what == "empty_folder":
        target, needle = tmp_path / "empty", "no image files"
        target.mkdir()
        (target / "notes.txt").write_text("no pictures here")
    else:
        target, needle = tmp_path / "data.csv", "don't know how to read"
        target.write_text("image\na.jpg\n")
    res = run_bad_input_cli(tmp_path, "--input", target, "--output", tmp_path / "out.json")
    print(f"\nCASE CLI {what} | exit {res.returncode} | {res.stderr.strip()}")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# the CLI writes every row, bad ones included, to a JSON file and to a folder (parquet + card)


@pytest.mark.slow
@pytest.mark.parametrize("output", ["out.json", "out_dir"])
@pytest.mark.parametrize("bad", ["missing_file", "corrupt_file", "url_404"])
def test_cli_writes_every_row_when_some_images_are_bad(
    tmp_path, mock_vlm, neighbours, bad_images, image_http_server, bad, output
):
    """A finished run with a few bad images must write its output; nothing finished is lost."""
    red, blue = neighbours
    value = {
        "missing_file": str(bad_images["missing"]),
        "corrupt_file": str(bad_images["text_as_jpg"]),
        "url_404": image_http_server.url("/missing.jpg"),
    }[bad]
    rows = [{"image": [v], "conversation": ASK} for v in (red, value, blue)]
    records = write_records(tmp_path / "records.json", rows)
    res = run_cli("image-vqa", "--input", records, "--output", tmp_path / output, "--base-url", mock_vlm.base_url,
                  "--api-key-env", "", "--allow-private-urls", tmp_path=tmp_path)  # fmt: skip
    print(f"\nCASE CLI {bad} -> {output} | exit {res.returncode} | {res.stdout.strip().splitlines()[-1:]}")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "rows=3 succeeded=2 failed=1" in res.stdout
    if output.endswith(".json"):
        written = json.loads((tmp_path / output).read_text())
    else:
        written = datasets.load_dataset(
            str(tmp_path / output), split="train", cache_dir=str(tmp_path / "load")
        )
        written = [written.select_columns(["vqa", "vqa_error"])[i] for i in range(len(written))]
    assert [r["vqa"] is None for r in written] == [False, True, False]
    assert "/missing.jpg" in written[1]["vqa_error"] or Path(value).name in written[1]["vqa_error"]
