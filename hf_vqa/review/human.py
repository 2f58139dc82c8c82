"""People's verdicts, back in the data: the `qa_human` column, `--filter human-approved`, `--apply-fixes`.

`qa_human` is aligned one to one with the row's pairs (`qas`, or `context_vqa.qas`); each element is
`{correct, needs_image, fixed_answer, annotators, votes: {correct, incorrect}}` (the majority where several
people answered; `correct` is None on a tie), or None where nobody answered that pair. The whole list is
None for a row nobody reviewed. Annotations are matched to rows by the task's `hf_vqa_id` (never by order);
a task whose row has changed since the export is left out and counted as stale.

Example:
    >>> result = [{"from_name": "pair_0", "type": "choices", "value": {"choices": ["incorrect"]}},
    ...           {"from_name": "fix_0", "type": "textarea", "value": {"text": ["blue"]}}]
    >>> answers = [pair_answers(result), pair_answers(result), {0: {"correct": True}}]
    >>> combine([a.get(0) for a in answers])
    {'correct': False, 'needs_image': None, 'fixed_answer': 'blue', 'annotators': 3, 'votes': {'correct': 1, 'incorrect': 2}}
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from hf_vqa.quality.pairs import FIXES as FIXES_COLUMN  # per row: [{pair, before, after}] (--apply-fixes)
from hf_vqa.quality.pairs import (
    PAIR_COLUMNS,  # qa_checks, qa_verdicts, qa_blind, qa_human: aligned with the pairs
)
from hf_vqa.review.export import CORRECT, DOES_NOT, INCORRECT, NEEDS_IMAGE

__all__ = [
    "HUMAN_COLUMN",
    "ImportReport",
    "combine",
    "human_column",
    "human_feature",
    "pair_answers",
]

HUMAN_COLUMN = "qa_human"
_CONTROL = re.compile(r"^(pair|needs_image|fix)_(\d+)$")


def human_feature() -> Any:
    """The Arrow type of `qa_human` (the same struct for every element; nulls inside)."""
    from datasets import List, Value

    votes = {"correct": Value("int64"), "incorrect": Value("int64")}
    return List({"correct": Value("bool"), "needs_image": Value("bool"), "fixed_answer": Value("string"),
                 "annotators": Value("int64"), "votes": votes})  # fmt: skip


def pair_answers(result: list[dict]) -> dict[int, dict]:
    """One person's answers in one annotation, by pair index: `{k: {correct?, needs_image?, fix?}}`."""
    out: dict[int, dict] = {}
    for item in result or []:
        found = _CONTROL.match(str(item.get("from_name", ""))) if isinstance(item, dict) else None
        value = item.get("value") if found else None
        if not isinstance(value, dict):
            continue
        kind, k = found.group(1), int(found.group(2))
        if kind == "fix":
            texts = [t.strip() for t in value.get("text") or [] if isinstance(t, str) and t.strip()]
            if texts:
                out.setdefault(k, {})["fix"] = texts[-1]
            continue
        choices = value.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], str) else None
        yes, no = (CORRECT, INCORRECT) if kind == "pair" else (NEEDS_IMAGE, DOES_NOT)
        if choice in (yes, no):
            out.setdefault(k, {})["correct" if kind == "pair" else "needs_image"] = choice == yes
    return out


def _majority(values: list[bool]) -> bool | None:
    yes, no = values.count(True), values.count(False)
    return None if yes == no else yes > no


def combine(answers: list[dict | None]) -> dict | None:
    """Several people's answers about one pair as one `qa_human` element (None when nobody answered)."""
    given = [a for a in answers if a]
    if not given:
        return None
    correct = [a["correct"] for a in given if "correct" in a]
    needs = [a["needs_image"] for a in given if "needs_image" in a]
    fixes = Counter(a["fix"] for a in given if a.get("fix"))
    return {
        "correct": _majority(correct),
        "needs_image": _majority(needs),
        "fixed_answer": fixes.most_common(1)[0][0] if fixes else None,  # ties: the first one given
        "annotators": len(given),
        "votes": {"correct": correct.count(True), "incorrect": correct.count(False)},
    }


@dataclass
class ImportReport:
    """What an import found: tasks, annotations, and the pairs people judged."""

    tasks: int = 0
    annotated_tasks: int = 0
    annotations: int = 0
    stale_tasks: int = 0  # their row changed (or is gone) since the export: left out
    rows_reviewed: int = 0
    pairs: int = 0  # every pair of the output
    pairs_reviewed: int = 0
    approved: int = 0
    rejected: int = 0
    undecided: int = 0  # people tied, or answered only needs-the-image / a correction
    with_fix: int = 0
    needs_image: int = 0
    fixes_applied: int = 0
    filter: dict = field(default_factory=dict)  # --filter human-approved: pairs/rows dropped, unreviewed kept
    agreement: str | None = (
        None  # the verify pass's judge against these people, when the data has qa_verdicts
    )

    def line(self) -> str:
        """The summary line the CLI prints."""
        text = (f"imported {self.annotations} annotation(s) on {self.annotated_tasks} of {self.tasks} task(s): "
                f"{self.pairs_reviewed} of {self.pairs} pair(s) reviewed in {self.rows_reviewed} row(s), "
                f"{self.approved} correct, {self.rejected} incorrect, {self.undecided} undecided, "
                f"{self.with_fix} with a corrected answer")  # fmt: skip
        if self.stale_tasks:
            text += f"; {self.stale_tasks} stale task(s) left out (their row changed since the export)"
        return text

    def to_dict(self) -> dict:
        """Plain data (for the card)."""
        return asdict(self)


def human_column(ids: list[str], n_pairs: list[int], tasks: list[dict]) -> tuple[list, ImportReport]:
    """`qa_human` for rows whose review ids are `ids` (`n_pairs[i]` pairs in row i), from exported tasks.

    A task is matched by `data.hf_vqa_id`, and its `data.row` must agree; cancelled (skipped)
    annotations do not count. Pair indices beyond the row's pairs are ignored.
    """
    where = {row_id: i for i, row_id in enumerate(ids)}
    report = ImportReport(tasks=len(tasks), pairs=sum(n_pairs))
    answers: dict[int, list[dict[int, dict]]] = {}
    for task in tasks:
        data = task.get("data") if isinstance(task, dict) else None
        data = data if isinstance(data, dict) else {}
        row = where.get(str(data.get("hf_vqa_id")))
        if row is None or data.get("row") != row:
            report.stale_tasks += 1
            continue
        done = [
            a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        done.sort(key=lambda a: (str(a.get("created_at") or ""), a.get("id") or 0))
        report.annotations += len(done)
        report.annotated_tasks += bool(done)
        answers.setdefault(row, []).extend(pair_answers(a.get("result") or []) for a in done)
    column: list = [None] * len(ids)
    for row, given in answers.items():
        items = [combine([a.get(k) for a in given]) for k in range(n_pairs[row])]
        if not any(items):
            continue
        column[row] = items
        report.rows_reviewed += 1
        for item in filter(None, items):
            report.pairs_reviewed += 1
            report.approved += item["correct"] is True
            report.rejected += item["correct"] is False
            report.undecided += item["correct"] is None
            report.with_fix += item["fixed_answer"] is not None
            report.needs_image += item["needs_image"] is True
    return column, report


# --- what the people's verdicts do to the data --------------------------------------------------------


def _set_pairs(value: Any, qas_key: str, pairs: list[dict]) -> Any:
    return {**value, "qas": pairs} if "." in qas_key else pairs


def _recheck(value: dict, pairs: list[dict]) -> dict:
    """The check columns of a context-vqa row after its answers changed."""
    from hf_vqa.parse.reply import QA, WikiQA
    from hf_vqa.quality.checks import check_columns, check_wiki_qa

    wiki = WikiQA(value.get("context") or "", tuple(QA(p["question"], p["answer"]) for p in pairs))
    return check_columns(check_wiki_qa(wiki))


def _fix_batch(batch: dict[str, list], *, qas_key: str) -> dict[str, list]:
    from hf_vqa.review.export import pairs_at

    top = qas_key.split(".")[0]
    out: dict[str, list] = {top: [], FIXES_COLUMN: []}
    checks = [c for c in ("qa_checks", "all_grounded", "has_duplicate", "has_leak") if c in batch]
    out |= {c: [] for c in checks}
    for i, value in enumerate(batch[top]):
        pairs, human = pairs_at({top: value}, qas_key), batch[HUMAN_COLUMN][i] or []
        fixes = []
        if pairs:
            pairs = [dict(p) for p in pairs]
            for k, item in enumerate(human[: len(pairs)]):
                after = (item or {}).get("fixed_answer")
                if after and after != pairs[k]["answer"]:
                    fixes.append({"pair": k, "before": pairs[k]["answer"], "after": after})
                    pairs[k]["answer"] = after
        out[top].append(_set_pairs(value, qas_key, pairs) if fixes else value)
        out[FIXES_COLUMN].append(fixes)
        redone = _recheck(value, pairs) if fixes and "." in qas_key and "qa_checks" in batch else {}
        for c in checks:
            out[c].append(redone[c] if c in redone else batch[c][i])
    return out


def apply_fixes(ds: Any, qas_key: str) -> tuple[Any, int]:
    """Replace answers with people's corrections (`qa_human[k].fixed_answer`); (data, answers replaced).

    Each replaced answer is recorded in `qa_human_fixes` (`{pair, before, after}`); a context-vqa row's
    checks are run again on its new answers.

    Example:
        >>> ds, replaced = apply_fixes(reviewed, "context_vqa.qas")  # doctest: +SKIP
    """
    from datasets import Features, List, Value

    features = Features({**ds.features, FIXES_COLUMN: List({"pair": Value("int64"), "before": Value("string"),
                                                             "after": Value("string")})})  # fmt: skip
    out = ds.map(_fix_batch, batched=True, fn_kwargs={"qas_key": qas_key}, features=features,
                 desc="Applying people's corrections")  # fmt: skip
    return out, sum(len(f) for f in out[FIXES_COLUMN])


def _approved_batch(batch: dict[str, list], *, qas_key: str) -> dict[str, list]:
    from hf_vqa.review.export import pairs_at

    top = qas_key.split(".")[0]
    columns = [c for c in PAIR_COLUMNS if c in batch]
    out: dict[str, list] = {top: [], "_dropped": [], "_unreviewed": [], **{c: [] for c in columns}}
    out |= {c: [] for c in (FIXES_COLUMN, "all_grounded", "has_duplicate", "has_leak") if c in batch}
    for i, value in enumerate(batch[top]):
        pairs, human = pairs_at({top: value}, qas_key), batch[HUMAN_COLUMN][i] or []
        fixed = {f["pair"] for f in (batch.get(FIXES_COLUMN) or [[]] * (i + 1))[i] or []}
        n = len(pairs or [])
        verdict = [(human[k] or {}).get("correct") if k < len(human) else None for k in range(n)]
        keep = [k for k in range(n) if verdict[k] is not False or k in fixed]
        out[top].append(_set_pairs(value, qas_key, [pairs[k] for k in keep]) if pairs else value)
        out["_dropped"].append(n - len(keep))
        out["_unreviewed"].append(sum(verdict[k] is None for k in keep))
        for c in columns:
            items = batch[c][i]
            out[c].append(items if items is None or not pairs else [items[k] for k in keep if k < len(items)])
        if FIXES_COLUMN in batch:
            new = {k: j for j, k in enumerate(keep)}
            out[FIXES_COLUMN].append([{**f, "pair": new[f["pair"]]} for f in batch[FIXES_COLUMN][i] or []
                                      if f["pair"] in new])  # fmt: skip
        checks = out["qa_checks"][-1] if "qa_checks" in out else None
        flags = {"all_grounded": bool(checks) and all(c["grounded"] for c in checks),
                 "has_duplicate": any(c["duplicate"] for c in checks or []),
                 "has_leak": any(c["leak"] for c in checks or [])}  # fmt: skip
        for name, flag in flags.items():
            if name in batch:
                out[name].append(flag if checks is not None and len(keep) != n else batch[name][i])
    return out


def keep_approved(ds: Any, qas_key: str) -> tuple[Any, dict]:
    """`--filter human-approved`: drop the pairs people marked incorrect (unless their answer was replaced
    by a correction), keep unreviewed and tied pairs (counted), drop rows left with no pair.

    Example:
        >>> ds, counts = keep_approved(reviewed, "context_vqa.qas")  # doctest: +SKIP
        >>> counts  # doctest: +SKIP
        {'pairs_dropped': 10, 'rows_dropped': 0, 'unreviewed_kept': 760}
    """
    from datasets import Features, Value

    from hf_vqa.review.export import pairs_at

    features = Features({**ds.features, "_dropped": Value("int64"), "_unreviewed": Value("int64")})
    out = ds.map(_approved_batch, batched=True, fn_kwargs={"qas_key": qas_key}, features=features,
                 desc="Keeping the pairs people approved")  # fmt: skip
    top = qas_key.split(".")[0]
    dropped, unreviewed = out["_dropped"], out["_unreviewed"]
    emptied = {i for i, (d, v) in enumerate(zip(dropped, out[top])) if d and not pairs_at({top: v}, qas_key)}
    out = out.remove_columns(["_dropped", "_unreviewed"])
    if emptied:
        out = out.select([i for i in range(len(out)) if i not in emptied])
    kept_unreviewed = sum(u for i, u in enumerate(unreviewed) if i not in emptied)
    return out, {
        "pairs_dropped": sum(dropped),
        "rows_dropped": len(emptied),
        "unreviewed_kept": kept_unreviewed,
    }
