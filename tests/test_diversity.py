"""Diversity and shape of the pairs (`hf_vqa.quality.diversity`), `--dedupe` (`hf_vqa.quality.dedupe`) and the card section."""

from __future__ import annotations

import datasets
import pytest

from hf_vqa.publish.card import RunInfo, build_card, update_card
from hf_vqa.quality.checks import PAIR_CHECKS
from hf_vqa.quality.dedupe import dedupe_questions, plan_dedupe
from hf_vqa.quality.diversity import dataset_stats, question_key, question_stats, question_type


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What colour is the bus?", "what"),
        ("In which year did it open?", "which"),
        ("Who designed this bridge?", "who"),
        ("Whose portrait hangs here?", "who"),
        ("When was it built?", "when"),
        ("Where is this tower?", "where"),
        ("Why is the sky orange?", "why"),
        ("How many arches does it have?", "how many"),
        ("How much did it cost?", "how much"),
        ("How was it built?", "how"),
        ("Is the door open?", "yes-no"),
        ("Does it have a roof?", "yes-no"),
        ("Name the river below the bridge.", "other"),
        ("这座桥是什么颜色？", "what"),
        ("这座桥是哪一年建成的？", "when"),
        ("图中有几只猫？", "how many"),
        ("门是开着的吗？", "yes-no"),
    ],
)
def test_question_type(question, kind):
    assert question_type(question) == kind


def test_near_identical_questions_share_a_key_and_different_ones_do_not():
    same = ["What colour is the car?", "what colour is the car in the image", "What colour are the cars?",
            "WHAT COLOUR IS THIS CAR", "What colour is the car shown in the photo?"]  # fmt: skip
    assert len({question_key(q) for q in same}) == 1
    different = ["What colour is the car?", "What colour is the bus?", "What colour was the car?"]
    assert len({question_key(q) for q in different}) == 3


def test_question_stats_counts_everything():
    stats = question_stats(
        [["What is it?", "Is it red?", "what is it"], ["What is it?"], []],
        [["A cat", "Yes", "A cat"], ["A small grey cat"], []],
    )
    assert (stats.rows, stats.pairs, stats.unique_exact, stats.unique_normalised) == (3, 4, 3, 2)
    assert stats.types == {"what": 3, "yes-no": 1}
    assert stats.pairs_per_image == {3: 1, 1: 1, 0: 1}
    assert stats.answer_words == {"min": 1, "median": 2.0, "mean": 2.25, "max": 4}
    assert stats.top_repeated == [("What is it?", 3)]
    text = "\n".join(stats.lines())
    assert "4 pairs, 3 unique exact, 2 unique normalised (50%)" in text and "'What is it?' x3" in text
    md = stats.markdown()
    assert "| what | 3 | 75% |" in md and "| 3 | 1 |" in md and "- 3× What is it?" in md


def _pairs(*questions: str) -> list[dict]:
    return [{"question": q, "answer": "x"} for q in questions]


def _check(dup: bool = False, leak: bool = False, grounded: bool = True) -> dict:
    return {"grounded": grounded, "duplicate": dup, "leak": leak, "grounded_by": "exact" if grounded else ""}


def test_dedupe_drops_repeats_across_rows_with_their_checks():
    ds = datasets.Dataset.from_list(
        [
            {
                "context_vqa": {"context": "c0", "qas": _pairs("What is it?", "Who made it?")},
                PAIR_CHECKS: [_check(), _check()],
                "all_grounded": True,
                "has_duplicate": False,
                "has_leak": False,
            },
            {
                "context_vqa": {"context": "c1", "qas": _pairs("what is it", "When?", "When")},
                PAIR_CHECKS: [_check(leak=True), _check(grounded=False), _check(dup=True)],
                "all_grounded": False,
                "has_duplicate": True,
                "has_leak": True,
            },
            {
                "context_vqa": None,
                PAIR_CHECKS: [],
                "all_grounded": False,
                "has_duplicate": False,
                "has_leak": False,
            },
            {
                "context_vqa": {"context": "c3", "qas": _pairs("Who made it?")},
                PAIR_CHECKS: [_check()],
                "all_grounded": True,
                "has_duplicate": False,
                "has_leak": False,
            },
        ]
    )
    assert plan_dedupe(ds, "context_vqa.qas") == {1: [0, 2], 3: [0]}
    out, report = dedupe_questions(ds, "context_vqa.qas")
    assert (report.removed, report.rows_touched, report.rows_emptied) == (3, 2, 1)
    assert [q["question"] for q in out[1]["context_vqa"]["qas"]] == ["When?"]
    assert out[1][PAIR_CHECKS] == [_check(grounded=False)]
    assert (out[1]["all_grounded"], out[1]["has_duplicate"], out[1]["has_leak"]) == (False, False, False)
    assert out[0] == ds[0] and out[2] == ds[2]  # untouched rows keep everything, a failed row stays failed
    assert out[3]["context_vqa"] == {"context": "c3", "qas": []} and out[3]["all_grounded"] is False
    assert dataset_stats(out, "context_vqa.qas").unique_exact == 3


def test_dedupe_on_image_vqa_rows_and_nothing_to_do():
    ds = datasets.Dataset.from_dict({"qas": [_pairs("What is it?"), _pairs("What is it?", "Why?"), None]})
    out, report = dedupe_questions(ds, "qas")
    assert report.removed == 1 and out["qas"][1] == _pairs("Why?") and out["qas"][2] is None
    same, report = dedupe_questions(out, "qas")
    assert report.removed == 0 and same is out


def test_card_has_the_diversity_section_and_keeps_it_on_a_push_without_it():
    section = question_stats([["What is it?", "what is it"]], [["A", "A"]]).markdown()
    info = RunInfo("image-vqa", "m", "h", rows=1, failed=0, diversity=section + "\n\n`--dedupe` dropped 0")
    card = build_card(info)
    assert "## Diversity and shape" in card.text and "| what | 2 | 100% |" in card.text
    assert RunInfo.from_card(card).diversity == info.diversity
    again = update_card(str(card), RunInfo("image-vqa", "m", "h", rows=1, failed=0))
    assert "| what | 2 | 100% |" in again.text and "`--dedupe` dropped 0" in again.text


def test_dataset_stats_counts_why_answers_were_grounded():
    check = {"grounded": True, "duplicate": False, "leak": False}
    ds = datasets.Dataset.from_list(
        [
            {
                "context_vqa": {"context": "c", "qas": _pairs("When?", "How many?", "Who?")},
                PAIR_CHECKS: [
                    {**check, "grounded_by": "date"},
                    {**check, "grounded_by": "number"},
                    {**check, "grounded": False, "grounded_by": ""},
                ],
            },
            {"context_vqa": None, PAIR_CHECKS: []},
        ]
    )
    stats = dataset_stats(ds, "context_vqa.qas")
    assert stats.grounded_by == {"date": 1, "number": 1, "": 1}
    assert "grounded by: number 1, date 1, not grounded 1" in stats.lines()
    assert "- Answers grounded by: number 1, date 1, not grounded 1" in stats.markdown()


def test_dataset_stats_keeps_counts_not_every_rows_text():
    import tracemalloc

    n = 10_000  # 30,000 pairs, 30 distinct questions, every answer its own
    rows = [{"vqa": {"qas": [{"question": f"What is part {k} of thing {i % 10}?", "answer": f"It is {k} of {i}."}
                             for k in range(3)]}} for i in range(n)]  # fmt: skip
    ds = datasets.Dataset.from_list(rows)
    expected = question_stats([[p["question"] for p in r["vqa"]["qas"]] for r in rows],
                              [[p["answer"] for p in r["vqa"]["qas"]] for r in rows])  # fmt: skip
    del rows
    tracemalloc.start()
    try:
        stats = dataset_stats(ds, "vqa.qas")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats == expected
    assert peak < 5_000_000, f"peak {peak / 1e6:.1f} MB: every row's questions and answers were kept"
