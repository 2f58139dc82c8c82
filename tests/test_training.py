"""TRL and LLaVA exports, checked through their own shapes (no processor needed)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from PIL import Image
from test_hub import make_vqa_dataset

from hf_vqa.errors import InputError
from hf_vqa.publish.folder import save_folder
from hf_vqa.publish.training import (
    TRL_FEATURES,
    check_llava_record,
    check_trl_row,
    export_llava,
    export_trl,
    qa_pairs,
)

OK_ROWS = [0, 1, 3, 4, 5]  # make_vqa_dataset fails row 2


def test_trl_one_row_per_pair(tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img")
    rows = export_trl(ds)
    assert rows.features == TRL_FEATURES and len(rows) == 2 * len(OK_ROWS)
    for k, row in enumerate(rows):
        i = OK_ROWS[k // 2]
        assert check_trl_row(row) == []
        user, assistant = row["messages"]
        assert [p["type"] for p in user["content"]] == ["image"] * (i % 2 + 1) + ["text"]
        assert user["content"][-1]["text"] == f"What is in image {i}, part {k % 2}?"
        assert assistant == {"role": "assistant", "content": [{"type": "text", "text": f"thing {i}.{k % 2}"}]}
        assert [im.size for im in row["images"]] == [(20 + i, 10)] * (i % 2 + 1)
        assert all(isinstance(im, Image.Image) for im in row["images"])


def test_trl_multi_turn_and_context_vqa(tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img", pipeline="context-vqa")
    rows = export_trl(ds, multi_turn=True)
    assert len(rows) == len(OK_ROWS)
    row = rows[1]  # image row 1: two images
    assert check_trl_row(row) == []
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [p["type"] for p in row["messages"][0]["content"]] == ["image", "image", "text"]
    assert row["messages"][2]["content"] == [{"type": "text", "text": "What is in image 1, part 1?"}]
    assert len(row["images"]) == 2


def test_trl_export_saves_and_loads(tmp_path: Path) -> None:
    save_folder(export_trl(make_vqa_dataset(tmp_path / "img")), tmp_path / "trl")
    for png in (tmp_path / "img").glob("*.png"):
        png.unlink()
    loaded = datasets.load_dataset(str(tmp_path / "trl"), split="train", cache_dir=str(tmp_path / "c"))
    assert len(loaded) == 10 and all(check_trl_row(r) == [] for r in loaded)
    assert loaded[9]["images"][0].size == (25, 10)


@pytest.mark.parametrize(
    "change,problem",
    [
        (lambda r: r["images"].pop(), "1 image part(s) but 0 image(s)"),
        (lambda r: r["messages"].pop(), "the last message is from user, not assistant"),
        (lambda r: r["messages"][1].update(role="user"), "message 1 has role 'user', expected 'assistant'"),
        (
            lambda r: r["messages"][0]["content"].append({"type": "video"}),
            "message 0 has a part of type 'video'",
        ),
        (lambda r: r["messages"][1]["content"][0].update(text=" "), "message 1 has an empty text part"),
        (lambda r: r.update(messages=[]), "no messages"),
    ],
)
def test_check_trl_row_finds_problems(change, problem: str) -> None:
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "Q?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A"}]},
        ],
        "images": [object()],
    }
    assert check_trl_row(row) == []
    change(row)
    assert problem in check_trl_row(row)


def test_llava(tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img")
    path = export_llava(ds, tmp_path / "llava")
    records = json.loads(path.read_text())
    assert path == tmp_path / "llava" / "llava.json" and len(records) == len(OK_ROWS)
    for record in records:
        assert check_llava_record(record, path.parent) == []
    one, two = records[0], records[1]
    assert one["id"] == "000000" and one["image"] == "images/000000_0.png"
    assert one["conversations"][0] == {"from": "human", "value": "<image>\nWhat is in image 0, part 0?"}
    assert [t["from"] for t in one["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert two["image"] == ["images/000001_0.png", "images/000001_1.png"]
    assert two["conversations"][0]["value"].startswith("<image>\n<image>\nWhat")
    with Image.open(path.parent / two["image"][1]) as im:
        assert im.size == (21, 10) and im.getpixel((0, 0)) == (10, 40, 200)

    per_pair = json.loads(export_llava(ds, tmp_path / "pairs", multi_turn=False).read_text())
    assert len(per_pair) == 10 and per_pair[1]["id"] == "000000_1"
    assert all(check_llava_record(r, tmp_path / "pairs") == [] for r in per_pair)


def test_check_llava_record_finds_problems(tmp_path: Path) -> None:
    record = {"id": "1", "image": "images/x.png", "conversations": [{"from": "human", "value": "Q?"}]}
    problems = check_llava_record(record, tmp_path)
    assert "image file images/x.png does not exist" in problems
    assert "1 turns; expected human/gpt pairs" in problems
    assert "turn 0 has 0 <image> token(s), expected 1" in problems


def test_qa_pairs_and_missing_column(tmp_path: Path) -> None:
    assert qa_pairs(
        {"qas": [{"question": " Q ", "answer": ""}, {"question": "Q2", "answer": "A2"}]}, "qas"
    ) == [("Q2", "A2")]
    assert qa_pairs({"qas": None}, "qas") == []
    with pytest.raises(InputError, match="no 'qas' column"):
        export_trl(datasets.Dataset.from_dict({"image": [None], "vqa": ["x"]}))


def test_llava_skips_rows_whose_images_are_gone(tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img")
    (tmp_path / "img" / "img2_0.png").unlink()  # the failed row's image
    (tmp_path / "img" / "img4_0.png").unlink()  # a good row whose image vanished since
    records = json.loads(export_llava(ds, tmp_path / "llava").read_text())
    assert [r["id"] for r in records] == ["000000", "000001", "000003", "000005"]
    assert sorted(p.name for p in (tmp_path / "llava" / "images").iterdir()) == [
        "000000_0.png", "000001_0.png", "000001_1.png", "000003_0.png", "000003_1.png", "000005_0.png", "000005_1.png"
    ]  # fmt: skip
    (tmp_path / "img" / "img0_0.png").unlink()
    rows = export_trl(ds)
    assert len(rows) == 6 and [r["messages"][0]["content"][-1]["text"][17] for r in rows] == list("113355")
