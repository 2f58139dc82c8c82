"""`--dedupe`: drop near-identical questions across the whole dataset, keeping the first copy.

Near-identical means the same `hf_vqa.quality.diversity.question_key` (case, punctuation, articles, plurals and
"in the image" filler ignored). A first pass reads the questions in row order and plans which pairs go;
a `Dataset.map` step then drops them, with their per-pair checks, and recomputes the row flags. Rows
whose every pair went keep an empty pair list (they are not removed, so row counts still add up).

Example:
    >>> ds = datasets.Dataset.from_dict({"qas": [[{"question": "What is it?", "answer": "A cat"}],
    ...                                          [{"question": "what is it", "answer": "A dog"}]]})  # doctest: +SKIP
    >>> deduped, report = dedupe_questions(ds, "qas")  # doctest: +SKIP
    >>> report.removed, deduped[1]["qas"]  # doctest: +SKIP
    (1, [])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hf_vqa.quality.checks import PAIR_CHECKS
from hf_vqa.quality.diversity import question_key, read_pairs

__all__ = ["RULE", "DedupeReport", "dedupe_questions", "drop_pairs", "plan_dedupe"]

RULE = "same question after ignoring case, punctuation, articles, plurals and 'in the image' filler"


@dataclass(frozen=True)
class DedupeReport:
    """What `--dedupe` did; recorded in the card."""

    removed: int
    rows_touched: int
    rows_emptied: int
    rule: str = RULE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_dedupe(ds: Any, qas_key: str) -> dict[int, list[int]]:
    """Row index -> indices of the pairs to drop (every repeat of a question key seen earlier)."""
    top = qas_key.split(".")[0]
    seen: set[str] = set()
    plan: dict[int, list[int]] = {}
    index = 0
    for batch in ds.select_columns([top]).iter(batch_size=1000):
        for value in batch[top]:
            for j, pair in enumerate(read_pairs(value, qas_key) or []):
                key = question_key(pair.get("question") or "")
                if key in seen:
                    plan.setdefault(index, []).append(j)
                seen.add(key)
            index += 1
    return plan


def _keep(items: list | None, drop: set[int]) -> list | None:
    return None if items is None else [x for j, x in enumerate(items) if j not in drop]


def drop_pairs(
    batch: dict[str, list], indices: list[int], *, plan: dict[int, list[int]], qas_key: str
) -> dict[str, list]:
    """Batched map function: drop the planned pairs of each row (and their `qa_checks`), recompute the
    row flags from the checks that remain."""
    top, *rest = qas_key.split(".")
    checked = PAIR_CHECKS in batch
    out: dict[str, list] = {top: []}
    if checked:
        out |= {PAIR_CHECKS: [], "all_grounded": [], "has_duplicate": [], "has_leak": []}
    for k, index in enumerate(indices):
        drop = set(plan.get(index, ()))
        value = batch[top][k]
        if rest and value is not None:  # context_vqa.qas: the pairs sit inside a struct
            value = {**value, rest[0]: _keep(value[rest[0]], drop)}
        elif not rest:
            value = _keep(value, drop)
        out[top].append(value)
        if checked:
            checks = _keep(batch[PAIR_CHECKS][k], drop) or []
            out[PAIR_CHECKS].append(checks)
            flags = (bool(checks) and all(c["grounded"] for c in checks), any(c["duplicate"] for c in checks),
                     any(c["leak"] for c in checks))  # fmt: skip
            for name, flag in zip(("all_grounded", "has_duplicate", "has_leak"), flags):
                out[name].append(flag if drop else batch[name][k])
    return out


def dedupe_questions(ds: Any, qas_key: str) -> tuple[Any, DedupeReport]:
    """Drop near-identical questions across `ds` (first copy kept); return the data and a report."""
    plan = plan_dedupe(ds, qas_key)
    removed = sum(len(v) for v in plan.values())
    if not plan:
        return ds, DedupeReport(0, 0, 0)
    out = ds.map(
        drop_pairs,
        batched=True,
        with_indices=True,
        fn_kwargs={"plan": plan, "qas_key": qas_key},
        features=ds.features,
        desc="Dropping near-identical questions",
    )
    column = out.select_columns([qas_key.split(".")[0]])
    emptied = sum(1 for i in plan if not read_pairs(column[i][qas_key.split(".")[0]], qas_key))
    return out, DedupeReport(removed=removed, rows_touched=len(plan), rows_emptied=emptied)
