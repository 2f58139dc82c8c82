"""Quality checks for parsed ContextVQA records. Pure functions, no I/O.

- `is_grounded`: the answer (or each item of a listed answer) appears in the article, read the way a person
  reads: numbers, dates, plurals and compounds may be written another way (`hf_vqa.quality.grounding`); each pair
  records the rule it needed (`grounded_by`: exact, number, date, inflection).
- `duplicate_questions`: questions that repeat an earlier one.
- `leaks_context`: a question quoting a long stretch of the article verbatim (answerable without the image).
- `check_wiki_qa`: all of the above for one `WikiQA`, as a `QAChecks` value.

Comparison is modulo case, punctuation and whitespace (`normalize`). Latin-script matches must sit on word
boundaries ("art" is not found in "start"); CJK text has no spaces, so it is matched as plain characters.
Grounding is explained in `hf_vqa.quality.grounding`.

Example:
    >>> from hf_vqa.parse.reply import QA, WikiQA
    >>> wiki = WikiQA("The bridge, painted International Orange, opened in 1937.",
    ...               (QA("What color is it?", "international orange"), QA("What color is it?", "Red")))
    >>> checks = check_wiki_qa(wiki)
    >>> checks.grounded, checks.duplicates, checks.ok, checks.reasons
    ([True, False], [1], False, ['exact', ''])
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hf_vqa.parse.reply import QA, WikiQA
from hf_vqa.quality.grounding import Grounder
from hf_vqa.quality.row_checks import PAIR_CHECKS, ROW_CHECKS

__all__ = ["QAChecks", "check_wiki_qa", "duplicate_questions", "is_grounded", "leaks_context", "normalize"]

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def normalize(text: str) -> str:
    """Casefold, turn punctuation into spaces, collapse whitespace (NFKC first, so full-width forms fold).

    Example:
        >>> normalize("  The  “Golden Gate”—Bridge!  ")
        'the golden gate bridge'
        >>> normalize("长城，1987年。")
        '长城 1987年'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    chars = [" " if unicodedata.category(ch)[0] in "PZC" else ch for ch in text]
    return " ".join("".join(chars).split())


def is_grounded(answer: str, context: str) -> bool:
    """True when the answer appears in the context, as a whole or item by item (see `hf_vqa.quality.grounding`).

    A listed answer ("San Francisco, Marin County"; "小熊猫、黑颈鹤"; "red and white") is grounded when
    the whole string appears, or else when every item does; one missing item makes it ungrounded. A
    leading "the"/"a"/"an" may be missing from the context. An empty answer is never grounded.
    Numbers, dates, plurals and compounds written another way still count ("2,737" = "2737").

    Example:
        >>> ctx = "It links San Francisco to Marin County and opened in 1937."
        >>> is_grounded("san francisco, MARIN county", ctx), is_grounded("San Francisco, Oakland", ctx)
        (True, False)
    """
    return Grounder(context).ground(answer).grounded


def _question_text(qa: QA | Mapping[str, Any] | str) -> str:
    if isinstance(qa, QA):
        return qa.question
    if isinstance(qa, Mapping):
        return str(qa.get("question", ""))
    return str(qa)


def duplicate_questions(qas: Iterable[QA | Mapping[str, Any] | str]) -> list[int]:
    """Indices of questions that repeat an earlier one after normalization (the first copy is kept).

    Accepts `QA` objects, `{"question": ...}` dicts or plain strings.

    Example:
        >>> duplicate_questions(["Who built it?", "When?", "who BUILT it"])
        [2]
    """
    seen: set[str] = set()
    duplicates = []
    for i, qa in enumerate(qas):
        key = normalize(_question_text(qa))
        if key in seen:
            duplicates.append(i)
        seen.add(key)
    return duplicates


def _leak_checker(context: str, min_words: int, min_chars: int) -> Callable[[str], bool]:
    """A predicate telling whether a question quotes the context; the context is indexed once."""
    ctx = normalize(context)
    words = ctx.split()
    grams = {tuple(words[i : i + min_words]) for i in range(len(words) - min_words + 1)}
    ctx_chars = ctx.replace(" ", "")

    def leaks(question: str) -> bool:
        q = normalize(question)
        if _CJK.search(q):
            chars = q.replace(" ", "")
            return any(chars[i : i + min_chars] in ctx_chars for i in range(len(chars) - min_chars + 1))
        qw = q.split()
        return any(tuple(qw[i : i + min_words]) in grams for i in range(len(qw) - min_words + 1))

    return leaks


def leaks_context(question: str, context: str, min_words: int = 8, min_chars: int = 15) -> bool:
    """True when the question quotes at least `min_words` consecutive words of the context (after
    normalization); for questions in CJK script, at least `min_chars` consecutive characters.

    Example:
        >>> ctx = "The bridge was designed by engineer Joseph Strauss with help from Leon Moisseiff."
        >>> leaks_context("Is it true the bridge was designed by engineer Joseph Strauss?", ctx)
        True
        >>> leaks_context("Who designed this bridge?", ctx)
        False
    """
    return _leak_checker(context, min_words, min_chars)(question)


@dataclass(frozen=True)
class QAChecks:
    """Per-pair check results for one `WikiQA` (lists are indexed like `wiki.qas`)."""

    grounded: list[bool]
    duplicates: list[int]
    leaks: list[bool]
    empty: list[int] = field(default_factory=list)  # indices of pairs whose answer is ""
    reasons: list[str] = field(default_factory=list)  # per pair: exact | number | date | inflection | ""

    @property
    def all_grounded(self) -> bool:
        return all(self.grounded)

    @property
    def has_duplicates(self) -> bool:
        return bool(self.duplicates)

    @property
    def has_leak(self) -> bool:
        return any(self.leaks)

    @property
    def has_empty(self) -> bool:
        return bool(self.empty)

    @property
    def ok(self) -> bool:
        """Every answer grounded (so none empty), no duplicate question, no leak."""
        return self.all_grounded and not self.has_duplicates and not self.has_leak


def check_wiki_qa(wiki: WikiQA, *, min_words: int = 8, min_chars: int = 15, language: str = "en") -> QAChecks:
    """Run every check on one ContextVQA record (see the module docstring for an example); `language`
    is the reply's language for the grounded check (number words, case endings)."""
    leaks = _leak_checker(wiki.context, min_words, min_chars)
    grounder = Grounder(wiki.context, language)
    groundings = [grounder.ground(qa.answer) for qa in wiki.qas]
    return QAChecks(
        grounded=[g.grounded for g in groundings],
        reasons=[g.reason for g in groundings],
        duplicates=duplicate_questions(wiki.qas),
        leaks=[leaks(qa.question) for qa in wiki.qas],
        empty=[i for i, qa in enumerate(wiki.qas) if not qa.answer.strip()],
    )


def check_columns(checks: QAChecks | None) -> dict[str, Any]:
    """The check columns of one row: per-pair results and the row flags (all False with no checks).

    Example:
        >>> check_columns(QAChecks(grounded=[True], duplicates=[], leaks=[False]))
        {'qa_checks': [{'grounded': True, 'duplicate': False, 'leak': False, 'grounded_by': ''}], 'all_grounded': True, 'has_duplicate': False, 'has_leak': False}
    """
    if checks is None:
        return {PAIR_CHECKS: [], **{check.column: False for check in ROW_CHECKS}}
    dup = set(checks.duplicates)
    reasons = checks.reasons or [""] * len(checks.grounded)
    per_pair = [
        {"grounded": bool(g), "duplicate": i in dup, "leak": bool(leak), "grounded_by": reason}
        for i, (g, leak, reason) in enumerate(zip(checks.grounded, checks.leaks, reasons))
    ]
    flags = {
        "all_grounded": bool(per_pair) and checks.all_grounded,
        "has_duplicate": checks.has_duplicates,
        "has_leak": checks.has_leak,
    }
    return {PAIR_CHECKS: per_pair, **flags}
