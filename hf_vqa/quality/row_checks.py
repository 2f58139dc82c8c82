"""The row checks' names and columns (`ROW_CHECKS`, `PAIR_CHECKS`), apart from the checks themselves
(`checks.py`, which loads the parsers): the CLI's parser, the pipeline specs and the output schema need
only the names, so a warm start sends its first requests before the parsers load.

Example:
    >>> [check.filter for check in ROW_CHECKS]
    ['grounded', 'no-duplicate', 'no-leak']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAIR_CHECKS", "ROW_CHECKS", "RowCheck"]


@dataclass(frozen=True)
class RowCheck:
    """One check as it shows in the data: the per-pair key, the row flag column, its `--filter`.

    `passing` is the flag's value on a row that passes (True for "grounded", False for "has_duplicate").
    """

    name: str
    column: str
    filter: str
    passing: bool
    meaning: str


# The one list of checks: refine_wiki_qa writes these columns, the summary counts them, the card
# explains them and `--filter` keeps rows by them.
ROW_CHECKS: tuple[RowCheck, ...] = (
    RowCheck("grounded", "all_grounded", "grounded", True, "every answer appears in the article"),
    RowCheck(
        "duplicate", "has_duplicate", "no-duplicate", False, "a question repeats another of the same row"
    ),
    RowCheck(
        "leak", "has_leak", "no-leak", False, "a question quotes 8+ consecutive words of the article verbatim"
    ),
)
PAIR_CHECKS = "qa_checks"  # the per-pair column: [{grounded, duplicate, leak, grounded_by}]
