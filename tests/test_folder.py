"""save_folder: only bytes that decode as an image enter the output; the folder always loads and iterates."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from fixtures_data import solid_image_bytes

from hf_vqa.images.verify import image_problem
from hf_vqa.publish.folder import save_folder

SECRET = (
    b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAB\n-----END OPENSSH PRIVATE KEY-----\n"
)


def _rows(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(solid_image_bytes((200, 10, 10)))
    fake = tmp_path / "fake.png"
    fake.write_text("x\n")
    key = tmp_path / "id_ed25519"
    key.write_bytes(SECRET)
    link = tmp_path / "link.png"
    os.symlink(key, link)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(solid_image_bytes((1, 2, 3), size=(300, 200))[:200])
    paths = [good, fake, link, tmp_path / "missing.png", truncated]
    features = datasets.Features({
        "image": datasets.List(datasets.Image(decode=False)),
        "vqa_error": datasets.Value("string"),
    })  # fmt: skip
    ds = datasets.Dataset.from_dict(
        {"image": [[{"bytes": None, "path": str(p)}] for p in paths],
         "vqa_error": [None, "image fake.png: not a recognised image", None, None, None]},
        features=features,
    )  # fmt: skip
    return ds


def test_unreadable_images_are_null_with_the_reason_and_the_folder_loads(tmp_path):
    out = save_folder(_rows(tmp_path), tmp_path / "out")
    raw = b"".join(Path(f).read_bytes() for f in glob.glob(str(out / "data" / "*.parquet")))
    assert b"PRIVATE KEY" not in raw and b"b3BlbnNzaC1rZXkt" not in raw  # the key never enters the output
    table = pq.read_table(glob.glob(str(out / "data" / "*.parquet"))[0]).to_pylist()
    assert [row["image"][0] is None for row in table] == [False, True, True, True, True]
    errors = [row["vqa_error"] for row in table]
    assert errors[0] is None
    assert errors[1] == "image fake.png: not a recognised image"  # a row's own reason is kept
    assert "link.png: not a recognised image" in errors[2]
    assert "missing.png: cannot be read" in errors[3]
    assert "cut.png" in errors[4]
    loaded = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "fresh"))
    images = [row["image"][0] for row in loaded]  # iterating decodes every image: nothing raises
    assert images[0].size == (64, 48) and images[1:] == [None] * 4


def test_image_problem_names_what_is_wrong_without_the_content():
    assert image_problem(solid_image_bytes((0, 0, 0), "JPEG")) is None
    assert image_problem(SECRET) == "not a recognised image"
    assert image_problem(b"") == "empty file"
    assert image_problem(solid_image_bytes((0, 0, 0), "JPEG", size=(400, 300))[:300]).startswith("cannot be")


def _photo_rows(tmp_path, fmt: str) -> tuple[datasets.Dataset, list[bytes]]:
    files = []
    for i in range(3):
        path = tmp_path / f"p{i}.{fmt.lower()}"
        path.write_bytes(solid_image_bytes((i, 2 * i, 3), fmt))
        files.append(path)
    files.append(files[0])  # the same file in two rows: read (and embedded) twice
    features = datasets.Features({"image": datasets.List(datasets.Image(decode=False)),
                                  "vqa": datasets.Value("string")})  # fmt: skip
    ds = datasets.Dataset.from_dict(
        {"image": [[{"bytes": None, "path": str(p)}] for p in files], "vqa": ["Q: a?\nA: b"] * len(files)},
        features=features,
    )
    return ds, [p.read_bytes() for p in files]


def test_photo_bytes_are_written_as_they_are_and_read_back_the_same(tmp_path):
    ds, expected = _photo_rows(tmp_path, "JPEG")
    out = save_folder(ds, tmp_path / "out")
    path = glob.glob(str(out / "data" / "*.parquet"))[0]
    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunks = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    photo = chunks["image.list.element.bytes"]
    assert photo.compression == "UNCOMPRESSED" and not photo.is_stats_set  # JPEG does not compress
    assert chunks["vqa"].compression == "SNAPPY" and chunks["vqa"].is_stats_set  # the rest as before
    assert [row["image"][0]["bytes"] for row in pq.read_table(path).to_pylist()] == expected
    loaded = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "fresh"))
    assert loaded.features["image"] == datasets.List(datasets.Image())
    assert [row["image"][0].size for row in loaded] == [(64, 48)] * 4


def test_images_that_compress_keep_the_compression(tmp_path):
    ds, expected = _photo_rows(tmp_path, "BMP")
    out = save_folder(ds, tmp_path / "out")
    path = glob.glob(str(out / "data" / "*.parquet"))[0]
    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunks = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    assert chunks["image.list.element.bytes"].compression == "SNAPPY"
    assert [row["image"][0]["bytes"] for row in pq.read_table(path).to_pylist()] == expected


def test_a_card_function_is_built_while_writing_and_its_error_leaves_the_old_output(tmp_path):
    ds, _ = _photo_rows(tmp_path, "JPEG")
    out = save_folder(ds, tmp_path / "out", card=lambda: "# first card\n")
    assert (out / "README.md").read_text() == "# first card\n"
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*"))

    def broken_card() -> str:
        raise RuntimeError("the card could not be built")

    try:
        save_folder(ds.select(range(2)), out, card=broken_card)
    except RuntimeError as err:
        assert "could not be built" in str(err)
    else:
        raise AssertionError("the card's error was swallowed")
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*")) == before  # untouched
    assert len(datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "fresh"))) == 4
