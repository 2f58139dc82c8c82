"""`judge_agreement`: the judge against human labels (JSONL, list, qa_human), and how the card shows it."""

from __future__ import annotations

import json

import datasets
import pytest

import hf_vqa
from hf_vqa.publish.card import RunInfo, build_card
from hf_vqa.quality.agreement import agreement_of, read_labels

V = {"answerable": True, "reason": "", "judge": "m", "votes": ""}


def _verified(judge_correct: list[list[bool]]) -> datasets.Dataset:
    return datasets.Dataset.from_list(
        [{"qa_verdicts": [{**V, "correct": c} for c in row]} for row in judge_correct]
    )


def test_agreement_counts_precision_recall_and_kappa_of_rejecting():
    # judge rejects 3 pairs, people 3; they agree on 2 rejections and 5 passes, disagree on 2
    judge = [[False, False, True], [True, True, False], [True, True, True]]
    people = [[False, False, True], [False, True, True], [True, True, True]]
    labels = [{"row": r, "pair": p, "correct": people[r][p]} for r in range(3) for p in range(3)]
    a = hf_vqa.judge_agreement(_verified(judge), labels)
    assert (a.n, a.tp, a.fp, a.fn, a.tn) == (9, 2, 1, 1, 5)
    assert (a.accuracy, a.precision, a.recall) == (round(7 / 9, 4), round(2 / 3, 4), round(2 / 3, 4))
    chance = (3 * 3 + 6 * 6) / 81  # both reject 3 of 9
    assert a.kappa == round((7 / 9 - chance) / (1 - chance), 4)


def test_labels_from_jsonl_from_qa_human_and_pairs_without_a_verdict_left_out(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [{"row": 0, "pair": 0, "correct": False},
                                                      {"row": 0, "pair": 1, "correct": True},
                                                      {"row": 1, "pair": 0, "correct": False}]) + "\n")  # fmt: skip
    verified = datasets.Dataset.from_list(
        [{"qa_verdicts": [{**V, "correct": False}, None]}, {"qa_verdicts": None}]
    )
    a = hf_vqa.judge_agreement(verified, str(path))
    assert (a.n, a.tp) == (1, 1)  # pair (0, 1) has no verdict, row 1 no verdicts at all
    human = datasets.Dataset.from_list(
        [{"qa_human": [{"correct": False}, {"correct": None}]}, {"qa_human": None}]
    )
    assert read_labels(human) == [{"row": 0, "pair": 0, "correct": False}]
    (tmp_path / "bad.jsonl").write_text('{"row": 1}\n')
    with pytest.raises(hf_vqa.InputError, match="lacks row, pair or correct"):
        read_labels(str(tmp_path / "bad.jsonl"))


def test_kappa_is_none_when_it_is_undefined():
    assert agreement_of([[{"correct": True}]], [{"row": 0, "pair": 0, "correct": True}]).kappa is None


def test_the_card_has_a_verification_section_that_survives_a_reread():
    record = {"judge_model": "gpt-judge", "judge_host": "api.example.com", "votes": 3, "prompt": "You check pairs.",
              "blind_model": "gpt-judge", "labels": "labels.jsonl",
              "counts": {"pairs": 20, "verified": 11, "rejected": 9, "failed": 0, "guessable": 4,
                         "blind_checked": 20, "rows_failed": 0},
              "filters": {"filters": ["verified"], "pairs_dropped": 9, "rows_dropped": 1},
              "agreement": agreement_of([[{"correct": False}, {"correct": True}]],
                                        [{"row": 0, "pair": 0, "correct": False},
                                         {"row": 0, "pair": 1, "correct": True}]).to_dict()}  # fmt: skip
    info = RunInfo("image-vqa", "m", "h", rows=6, failed=0, verification=record)
    text = str(build_card(info))
    section = text[text.index("## Verification") :]
    for expected in ("`gpt-judge` at `api.example.com`, 3 votes", "verified (answerable and correct): 11 (55.0%) of 20",
                     "4 (20.0%) of 20 pairs guessable", "`--filter verified` dropped 9 pair(s) and 1 row(s)",
                     "n=2 pairs: accuracy 1.00; rejecting a wrong pair: precision 1.00, recall 1.00",
                     "### Judge prompt", "You check pairs."):  # fmt: skip
        assert expected in section
    again = RunInfo.from_card(text)
    assert again.verification["counts"]["verified"] == 11 and "## Verification" in str(build_card(again))
