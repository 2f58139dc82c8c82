"""The card's "Human review" section, written from a review import (`hf_vqa review import`).

Example:
    >>> with_human_review("# Mine\\n", {"pairs": 2}, source="r.json", rows=1).startswith("# Mine")
    True
"""

from __future__ import annotations

from hf_vqa.publish.card_secrets import redact, scrub_urls

HUMAN_REVIEW = ("<!-- hf_vqa:human-review -->", "<!-- /hf_vqa:human-review -->")


def human_review_section(report: dict, *, source: str, rows: int) -> str:
    """The card's "Human review" section: reviewed / approved / fixed counts from a review import.

    Example:
        >>> print(human_review_section({"rows_reviewed": 2, "pairs_reviewed": 4, "approved": 3, "rejected": 1,
        ...       "with_fix": 1, "pairs": 10}, source="review.json", rows=5).splitlines()[3])
        People reviewed 4 of 10 pairs in 2 of 5 rows (source: review.json).
    """
    r = {k: report.get(k) or 0 for k in ("rows_reviewed", "pairs_reviewed", "pairs", "approved", "rejected",
                                         "undecided", "with_fix", "needs_image", "fixes_applied", "annotations",
                                         "annotated_tasks", "stale_tasks")}  # fmt: skip
    lines = ["## Human review", "",
             f"People reviewed {r['pairs_reviewed']} of {r['pairs']} pairs in {r['rows_reviewed']} of {rows} rows "
             f"(source: {scrub_urls(redact(source))}).", "",
             "| reviewed | approved (correct) | incorrect | undecided | with a corrected answer | needs the image |",
             "|---|---|---|---|---|---|",
             f"| {r['pairs_reviewed']} | {r['approved']} | {r['rejected']} | {r['undecided']} | {r['with_fix']} "
             f"| {r['needs_image']} |", "",
             f"- Annotations: {r['annotations']} on {r['annotated_tasks']} task(s); several people on one pair: "
             f"majority vote (`qa_human[k].votes`); stale tasks left out: {r['stale_tasks']}",
             "- Per pair: the `qa_human` column (`correct`, `needs_image`, `fixed_answer`, `annotators`, `votes`; "
             "null where nobody answered)"]  # fmt: skip
    if r["fixes_applied"]:
        lines.append(f"- Fixed: {r['fixes_applied']} answer(s) replaced by people's corrections "
                     "(`--apply-fixes`; the old answers are in `qa_human_fixes`)")  # fmt: skip
    kept = report.get("filter") or {}
    if kept:
        lines.append(f"- `--filter human-approved`: {kept.get('pairs_dropped', 0)} pair(s) people marked incorrect "
                     f"dropped, {kept.get('rows_dropped', 0)} row(s) left without pairs dropped; "
                     f"{kept.get('unreviewed_kept', 0)} unreviewed or undecided pair(s) kept")  # fmt: skip
    if report.get("agreement"):
        lines.append(f"- The verify pass's {report['agreement']}")
    return "\n".join([HUMAN_REVIEW[0], *lines, HUMAN_REVIEW[1]])


def with_human_review(text: str, report: dict, *, source: str, rows: int) -> str:
    """`text` (a card) with its "Human review" section replaced, or added at the end."""
    block = human_review_section(report, source=source, rows=rows)
    start, end = text.find(HUMAN_REVIEW[0]), text.find(HUMAN_REVIEW[1])
    if start != -1 and end > start:
        return text[:start] + block + text[end + len(HUMAN_REVIEW[1]) :]
    return (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
