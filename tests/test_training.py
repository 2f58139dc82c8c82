"""TRL and LLaVA exports, checked through their own shapes (no processor needed)."""

from __future__ import annotations

import json
import os
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
    export_llava_onevision,
    export_trl,
    export_trl_prompt_completion,
    qa_pairs,
    write_llava,
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
    first = row["messages"][0]["content"][-1]["text"]  # the article the answers come from, then the question
    assert first == "Context:\nArticle 1. thing 1.0 thing 1.1\n\nQuestion: What is in image 1, part 0?"
    assert row["messages"][2]["content"] == [{"type": "text", "text": "What is in image 1, part 1?"}]
    assert len(row["images"]) == 2


def test_every_training_export_of_context_vqa_puts_the_article_in_the_user_turn(tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img", pipeline="context-vqa")
    article = "Context:\nArticle 3. thing 3.0 thing 3.1\n\nQuestion: What is in image 3, part 1?"
    pairs = export_trl(ds)  # one pair per row: every row carries the article
    assert all(r["messages"][0]["content"][-1]["text"].startswith("Context:\nArticle ") for r in pairs)
    assert pairs[5]["messages"][0]["content"][-1]["text"] == article
    prompt = export_trl_prompt_completion(ds)[5]
    assert prompt["prompt"][0]["content"][-1]["text"] == article and check_trl_row(prompt) == []
    records = json.loads(export_llava_onevision(ds, tmp_path / "ov").read_text())
    assert records[2]["conversations"][0]["value"] == "<image>\n<image>\nContext:\nArticle 3. thing 3.0 thing 3.1" \
        "\n\nQuestion: What is in image 3, part 0?"  # fmt: skip
    assert all(check_llava_record(r, tmp_path / "ov", loader="llava-onevision") == [] for r in records)


def test_sharegpt_writes_conversations_with_relative_image_paths(tmp_path: Path) -> None:
    from hf_vqa.publish.exports import run_export

    ds = make_vqa_dataset(tmp_path / "img", pipeline="context-vqa")
    line = run_export("sharegpt", ds, tmp_path / "sg")
    records = json.loads((tmp_path / "sg" / "sharegpt.json").read_text())
    assert "5 conversations" in line and len(records) == len(OK_ROWS)
    first = records[1]  # image row 1: two images, two pairs
    assert [t["from"] for t in first["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert first["conversations"][0]["value"].startswith("<image>\n<image>\nContext:\nArticle 1.")
    assert first["conversations"][1]["value"] == "thing 1.0"
    assert all(not os.path.isabs(p) for r in records for p in r["images"])
    assert all((tmp_path / "sg" / p).is_file() for r in records for p in r["images"])
    assert len(first["images"]) == 2 and "vqa" not in first and "qas" not in first


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


def test_llava_original_loader_gets_one_image_per_record(tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img")  # rows 1, 3 and 5 hold two images each
    path = export_llava(ds, tmp_path / "llava")
    records = json.loads(path.read_text())
    assert path == tmp_path / "llava" / "llava.json" and [r["id"] for r in records] == ["000000", "000004"]
    for record in records:
        assert isinstance(record["image"], str)
        assert check_llava_record(record, path.parent) == []
        assert _original_llava_open(path.parent, record).mode == "RGB"  # the loader opens it
    one = records[0]
    assert one["image"] == "images/000000_0.png"
    assert one["conversations"][0] == {"from": "human", "value": "<image>\nWhat is in image 0, part 0?"}
    assert [t["from"] for t in one["conversations"]] == ["human", "gpt", "human", "gpt"]
    line = write_llava(ds, tmp_path / "llava2")
    assert "(2 records); skipped 3 row(s) with several images" in line and "llava-onevision" in line

    per_pair = json.loads(export_llava(ds, tmp_path / "pairs", multi_turn=False).read_text())
    assert len(per_pair) == 4 and per_pair[1]["id"] == "000000_1"
    assert all(check_llava_record(r, tmp_path / "pairs") == [] for r in per_pair)


def test_llava_onevision_keeps_several_images_as_a_list(tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img")
    path = export_llava_onevision(ds, tmp_path / "ov")
    records = json.loads(path.read_text())
    assert len(records) == len(OK_ROWS)
    two = records[1]
    assert two["image"] == ["images/000001_0.png", "images/000001_1.png"]
    assert two["conversations"][0]["value"].startswith("<image>\n<image>\nWhat")
    with Image.open(path.parent / two["image"][1]) as im:
        assert im.size == (21, 10) and im.getpixel((0, 0)) == (10, 40, 200)
    assert all(check_llava_record(r, path.parent, loader="llava-onevision") == [] for r in records)
    # the original loader cannot open that record: the check says so
    problems = check_llava_record(two, path.parent)
    assert problems[0].startswith("image is a list of 2; the original LLaVA loader opens one path")
    assert "turn 0 has 2 <image> token(s), expected 1" in problems
    assert check_llava_record({**two, "image": two["image"][:1]}, path.parent)[0].startswith(
        "image is a list of 1"
    )
    # what the original loader does with `image` (LLaVA's LazySupervisedDataset.__getitem__)
    with pytest.raises(TypeError):
        _original_llava_open(path.parent, two)


def _original_llava_open(image_folder: Path, record: dict) -> Image.Image:
    """The two lines of the original LLaVA loader that read a record's image."""
    image_file = record["image"]
    return Image.open(os.path.join(image_folder, image_file)).convert("RGB")


def test_trl_prompt_completion_trains_on_answers_only(tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img")
    rows = export_trl_prompt_completion(ds)
    assert rows.column_names == ["prompt", "completion", "images"] and len(rows) == 10
    for row in rows:
        assert check_trl_row(row) == []
        assert [m["role"] for m in row["prompt"]] == ["user"] and [m["role"] for m in row["completion"]] == [
            "assistant"
        ]
        assert row["completion"][0]["content"][0]["text"].startswith("thing ")
    bad = {**rows[0], "completion": [*rows[0]["completion"], rows[0]["prompt"][0]]}
    assert "the completion is not assistant turns only" in check_trl_row(bad)


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
    records = json.loads(export_llava_onevision(ds, tmp_path / "llava").read_text())
    assert [r["id"] for r in records] == ["000000", "000001", "000003", "000005"]
    assert sorted(p.name for p in (tmp_path / "llava" / "images").iterdir()) == [
        "000000_0.png", "000001_0.png", "000001_1.png", "000003_0.png", "000003_1.png", "000005_0.png", "000005_1.png"
    ]  # fmt: skip
    (tmp_path / "img" / "img0_0.png").unlink()
    rows = export_trl(ds)
    assert len(rows) == 6 and [r["messages"][0]["content"][-1]["text"][17] for r in rows] == list("113355")


def test_trl_own_format_checks_accept_every_trl_export(tmp_path: Path) -> None:
    """TRL's own functions, where TRL is installed: `is_conversational` (which SFTTrainer uses to pick the
    conversational path) and `prepare_multimodal_messages` (what its vision collator runs on every example,
    raising when image placeholders and images disagree)."""
    data_utils = pytest.importorskip("trl.data_utils", reason="TRL is not installed (pip install trl)")
    ds = make_vqa_dataset(tmp_path / "img")
    exports = {
        "messages": export_trl(ds),
        "multi-turn": export_trl(ds, multi_turn=True),
        "prompt-completion": export_trl_prompt_completion(ds),
    }
    for name, rows in exports.items():
        for row in rows:
            assert data_utils.is_conversational(row), name
            if "messages" in row:
                filled = data_utils.prepare_multimodal_messages(row["messages"], images=row["images"])
            else:
                filled = data_utils.prepare_multimodal_messages(row["prompt"], images=row["images"])
                data_utils.prepare_multimodal_messages(row["completion"])
            parts = [p for m in filled for p in m["content"] if p["type"] == "image"]
            assert len(parts) == len(row["images"]) and all("image" in p for p in parts), name
    # SFTTrainer turns on completion-only loss when a sample has both columns (trl/trainer/sft_trainer.py)
    sample = exports["prompt-completion"][0]
    assert "prompt" in sample and "completion" in sample and "messages" not in sample
    # and a row whose image parts and images disagree is refused by TRL too, as by check_trl_row
    row = exports["messages"][0]
    with pytest.raises(ValueError, match="does not match"):
        data_utils.prepare_multimodal_messages(row["messages"], images=[*row["images"], row["images"][0]])
    assert "1 image part(s) but 2 image(s)" in check_trl_row(
        {**row, "images": [*row["images"], row["images"][0]]}
    )


@pytest.mark.slow
def test_trl_trains_two_steps_and_prompt_completion_learns_only_the_answers(tmp_path: Path) -> None:
    """A tiny LLaVA built offline (tests/tiny_vlm.py) through TRL's SFTTrainer and its vision collator.

    With `messages`, the labels cover the questions too; with prompt-completion, only the answers."""
    pytest.importorskip("trl", reason="TRL is not installed (pip install trl)")
    from tiny_vlm import tiny_llava
    from trl import SFTConfig, SFTTrainer

    ds = make_vqa_dataset(tmp_path / "img")
    model, processor = tiny_llava()
    trained_on = {}
    for name, rows in (("messages", export_trl(ds)), ("prompt-completion", export_trl_prompt_completion(ds))):
        args = SFTConfig(output_dir=str(tmp_path / name), max_steps=2, per_device_train_batch_size=2,
                         max_length=None, report_to=[], save_strategy="no", use_cpu=True)  # fmt: skip
        trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=processor)
        batch = trainer.data_collator([rows[0], rows[1]])
        kept = [int(t) for t, label in zip(batch["input_ids"][0], batch["labels"][0]) if label != -100]
        trained_on[name] = processor.tokenizer.decode(kept).replace(" ", "")
        assert trainer.train().global_step == 2
    answer = rows[0]["completion"][0]["content"][0]["text"].replace(" ", "")
    question = rows[0]["prompt"][0]["content"][-1]["text"].replace(" ", "")
    assert trained_on["prompt-completion"] == answer + "</s>"
    assert question in trained_on["messages"] and answer in trained_on["messages"]
