"""Planting wrong answers, to measure a judge: move the answers of a share of rows to other rows.

`plant_wrong_answers` replaces the answers of `share` of the rows (questions stay) with another row's answers,
pair by pair; a pair is *wrong* when its new answer differs from its old one (a moved answer that happens
to be the same is not counted wrong). `score_rejections` then compares the judge's verdicts with that truth:
precision and recall of rejecting a wrong pair (`correct` = no), and the same for "not verified".

Example:
    >>> import datasets
    >>> ds = datasets.Dataset.from_list([{"qas": [{"question": "Q", "answer": a}]} for a in "abcd"])
    >>> planted, wrong = plant_wrong_answers(ds, 0.5, seed=1)
    >>> sum(map(sum, wrong)), [r["qas"][0]["answer"] for r in planted] != list("abcd")
    (2, True)
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["plant_wrong_answers", "score_rejections"]


def _pairs(row: dict, key: str) -> list[dict] | None:
    value = row.get(key)
    if isinstance(value, dict):
        value = value.get("qas")
    return value if isinstance(value, list) else None


def plant_wrong_answers(ds: Any, share: float = 0.3, *, seed: int = 0) -> tuple[Any, list[list[bool]]]:
    """`share` of the rows (with pairs) get another row's answers; returns the data and, per row and pair,
    whether the pair is now wrong."""
    import datasets

    key = "context_vqa" if "context_vqa" in ds.column_names else "qas"
    rows = ds.to_list()
    rng = random.Random(seed)
    with_pairs = [i for i, row in enumerate(rows) if _pairs(row, key)]
    chosen = rng.sample(with_pairs, round(share * len(with_pairs)))
    wrong = [[False] * len(_pairs(row, key) or []) for row in rows]
    originals = {i: [p["answer"] for p in _pairs(rows[i], key)] for i in with_pairs}
    for i in chosen:
        donor = rng.choice([j for j in with_pairs if j != i])
        for j, pair in enumerate(_pairs(rows[i], key)):
            new = originals[donor][j % len(originals[donor])]
            wrong[i][j] = " ".join(new.split()).lower() != " ".join(pair["answer"].split()).lower()
            pair["answer"] = new
    return datasets.Dataset.from_list(rows, features=ds.features), wrong


def _rates(tp: int, fp: int, fn: int, tn: int) -> dict:
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None}  # fmt: skip


def score_rejections(verdicts: list, wrong: list[list[bool]]) -> dict:
    """Per pair, judge vs planted truth: `{"correct": rates, "verified": rates, "wrong": n, "right": n}`.

    `correct`: rejecting = the judge said the answer is not correct; `verified`: rejecting = not
    (answerable and correct). Pairs without a verdict are counted in `not_judged`.
    """
    counts = {"correct": [0, 0, 0, 0], "verified": [0, 0, 0, 0]}
    not_judged = 0
    for row_verdicts, row_wrong in zip(verdicts, wrong):
        for j, is_wrong in enumerate(row_wrong):
            v = row_verdicts[j] if row_verdicts and j < len(row_verdicts) else None
            if v is None:
                not_judged += 1
                continue
            for name, rejects in (
                ("correct", not v["correct"]),
                ("verified", not (v["correct"] and v["answerable"])),
            ):
                cell = (0 if rejects else 2) + (0 if is_wrong else 1)  # tp, fp, fn, tn
                counts[name][cell] += 1
    return {"wrong": sum(map(sum, wrong)), "right": sum(len(w) - sum(w) for w in wrong), "not_judged": not_judged,
            **{name: _rates(*c) for name, c in counts.items()}}  # fmt: skip
