import datasets
import pytest

import hf_vqa
from hf_vqa.refine import refine_qa_pairs, refine_wiki_qa

WIKI = """## Wikipedia Article
The Harbour Lighthouse stands on a granite headland. It was built in 1874 by the engineer Ada Brown.
Its lamp was fuelled by paraffin and later converted to electricity. Ships from Bergen and Hull
relied on it for a century.

## Question-Answer Pairs
1. **Question:** When was the tower in the picture built? **Answer:** 1874
2. **Question:** Which ports' ships relied on this structure? **Answer:** Bergen, Hull
3. **Question:** Who built the structure shown? **Answer:** Isambard Kingdom Brunel
4. **Question:** When was the tower in the picture built? **Answer:** 1874
"""


def test_qa_pairs_unbatched_and_batched_agree():
    text = "Q1: What colour is the car?\nA1: Red\nQ2: How many wheels?\nA2: Four"
    one = refine_qa_pairs({"vqa": text})
    many = refine_qa_pairs({"vqa": [text, None, "no pairs here at all"]})
    assert one["qas"] == [{"question": "What colour is the car?", "answer": "Red"},
                          {"question": "How many wheels?", "answer": "Four"}]  # fmt: skip
    assert many["qas"][0] == one["qas"] and one["qas_error"] is None
    assert many["qas"][1] is None and many["qas_error"][1] is None  # upstream failure: passed through
    assert (many["qas"][2] is None and "no question" in many["qas_error"][2].lower()) or many["qas_error"][2]


def test_wiki_qa_records_checks_per_pair_and_per_row():
    out = refine_wiki_qa({"vqa": WIKI})
    ctx = out["context_vqa"]
    assert ctx["context"].startswith("The Harbour Lighthouse") and "##" not in ctx["context"]
    assert [c["grounded"] for c in out["qa_checks"]] == [True, True, False, True]
    assert [c["duplicate"] for c in out["qa_checks"]] == [False, False, False, True]
    assert out["all_grounded"] is False and out["has_duplicate"] is True and out["has_leak"] is False
    assert out["context_vqa_error"] is None


def test_wiki_qa_never_raises_and_explains():
    out = refine_wiki_qa({"vqa": ["", "just one sentence without pairs", None]})
    assert out["context_vqa"] == [None, None, None]
    assert out["context_vqa_error"][0] and out["context_vqa_error"][1]
    assert out["context_vqa_error"][2] is None


def test_truncated_output_drops_the_cut_pair():
    text = "Q1: What is it?\nA1: A red ball\nQ2: Where is it?\nA2: On the gra"
    usage = {
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "attempts": 1,
        "finish_reason": "length",
        "cached": False,
    }
    cut = refine_qa_pairs({"vqa": text, "vqa_usage": usage})
    whole = refine_qa_pairs({"vqa": text, "vqa_usage": {**usage, "finish_reason": "stop"}})
    assert len(whole["qas"]) == 2 and len(cut["qas"]) == 1


def test_missing_input_column_is_a_clear_error():
    with pytest.raises(hf_vqa.HfVqaError, match="no column 'vqa'"):
        refine_qa_pairs({"text": "x"})


def test_features_after_keeps_types_when_the_first_batch_is_all_failed():
    ds = datasets.Dataset.from_dict({"vqa": [None] * 4 + ["Q: a?\nA: b"] * 4})
    out = ds.map(
        refine_qa_pairs, batched=True, batch_size=4, features=hf_vqa.features_after(ds, refine_qa_pairs)
    )
    assert out.features["qas"] == datasets.List(
        {"question": datasets.Value("string"), "answer": datasets.Value("string")}
    )
    assert out["qas"][5] == [{"question": "a?", "answer": "b"}]
    ctx = datasets.Dataset.from_dict({"vqa": [None] * 2 + [WIKI] * 2})
    out = ctx.map(
        refine_wiki_qa, batched=True, batch_size=2, features=hf_vqa.features_after(ctx, refine_wiki_qa)
    )
    assert out[3]["context_vqa"]["qas"][0]["answer"] == "1874"


def test_rows_refined_while_remembering_are_taken_by_the_next_refine_with_the_same_result(monkeypatch):
    from hf_vqa import refine as refiners

    def lists(out):
        return {key: list(values) for key, values in out.items()}

    texts = [
        "Q: What colour?\nA: Red",
        "Q: How many?\nA: Two",
        "no pairs here",
        None,
        "Q: What colour?\nA: Red",
    ]
    usage = [None, {"finish_reason": "length"}, None, None, None]
    expected = lists(refiners.refine_qa_pairs({"vqa": texts, "vqa_usage": usage}))
    wiki_expected = lists(refiners.refine_wiki_qa({"vqa": texts[:2]}, language="de"))
    try:
        with refiners.remembering():
            assert lists(refiners.refine_qa_pairs({"vqa": texts, "vqa_usage": usage})) == expected
            refiners.refine_wiki_qa({"vqa": texts[:2]}, language="de")
        assert len(refiners._MEMO) == 3 + 2  # None rows are not kept; the same reply twice is one entry
        parsed = []
        monkeypatch.setattr(refiners, "parse_qa_pairs", lambda *a, **k: parsed.append(a) or [])
        assert (
            lists(refiners.refine_qa_pairs({"vqa": texts, "vqa_usage": usage})) == expected
        )  # not parsed again
        assert parsed == []
        assert refiners.refine_qa_pairs({"vqa": texts[:1]}, output_key="other")["other"] == [
            []
        ]  # another key
        assert len(parsed) == 1
        assert refiners._MEMO.keys() == {("wiki", "context_vqa", "de", t, False) for t in texts[:2]}
        monkeypatch.setattr(refiners, "parse_wiki_qa", lambda *a, **k: parsed.append(a) or 1 / 0)
        assert lists(refiners.refine_wiki_qa({"vqa": texts[:2]}, language="de")) == wiki_expected
        assert refiners._MEMO == {} and len(parsed) == 1  # each remembered row is taken once
        failed = refiners.refine_wiki_qa({"vqa": texts[:1]}, language="de")  # taken: parsed (and fails) now
        assert len(parsed) == 2 and "ZeroDivisionError" in failed["context_vqa_error"][0]
    finally:
        refiners.forget()
