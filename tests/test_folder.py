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
