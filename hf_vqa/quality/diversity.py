"""How varied and how shaped the data is: unique questions, question types, pairs per image, answer length,
the most repeated questions; and `dedupe_questions`, which drops near-identical questions across a dataset.

Two questions are *near-identical* when they are equal after `question_key`: case, punctuation, spacing,
articles and filler about the picture ("in this image", "shown in the photo") ignored, plural nouns read
as singular ("are" as "is"). "What colour is the car in the image?" and "what colour are the cars" share a key.

Example:
    >>> stats = question_stats([["What colour is the car?", "Is it raining?"], ["What colour is this car"]])
    >>> stats.pairs, stats.unique_exact, stats.unique_normalised, stats.types
    (3, 3, 2, {'what': 2, 'yes-no': 1})
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from hf_vqa.quality.canonical import CJK, canonical

__all__ = [
    "QuestionStats",
    "as_shown",
    "dataset_stats",
    "question_key",
    "question_stats",
    "question_type",
    "read_pairs",
]

_FILLER = frozenset([
    "the", "a", "an", "this", "that", "these", "those", "in", "on", "of",
    "image", "picture", "photo", "photograph", "shown", "depicted", "visible", "seen", "here",
])  # fmt: skip
_AGREE = {"are": "is", "were": "was"}
_YES_NO = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "has",
        "have",
        "had",
        "should",
        "may",
        "might",
        "must",
        "am",
    ]
)
_WH = ("how many", "how much", "what", "which", "who", "whom", "whose", "when", "where", "why", "how")
# Chinese question words, longest first, mapped to the English type names
_ZH = (
    ("什么时候", "when"), ("哪一年", "when"), ("哪年", "when"), ("何时", "when"), ("为什么", "why"),
    ("哪里", "where"), ("哪儿", "where"), ("在哪", "where"), ("多少", "how many"), ("几", "how many"),
    ("谁", "who"), ("哪", "which"), ("什么", "what"), ("怎么", "how"), ("如何", "how"),
    ("吗", "yes-no"), ("是否", "yes-no"), ("有没有", "yes-no"), ("是不是", "yes-no"),
)  # fmt: skip
TYPES = ("what", "which", "who", "when", "where", "why", "how many", "how much", "how", "yes-no", "other")


def question_key(question: str) -> str:
    """The near-identical key of a question (see the module docstring).

    Example:
        >>> question_key("What colours are the cars in the picture?") == question_key("what colour is this car")
        True
        >>> question_key("What colour is the car?") == question_key("What colour was the car?")
        False
    """
    tokens = canonical(question, "inflection")  # plurals read as singular, so "are"/"were" agree with them
    return " ".join(_AGREE.get(t, t) for t in tokens if t not in _FILLER)


def question_type(question: str) -> str:
    """One of `TYPES`: the first question word in the first five words (English or Chinese), "yes-no" for
    a question opening with an auxiliary verb ("Is", "Does", "Can"...), else "other".

    Example:
        >>> [question_type(q) for q in ("In which year did it open?", "How many arches?", "Is it red?", "这是什么？")]
        ['which', 'how many', 'yes-no', 'what']
    """
    if CJK.search(question):
        return next((kind for word, kind in _ZH if word in question), "other")
    words = canonical(question, "number")[:6]
    text = " ".join(words)
    if words and words[0] in _YES_NO:
        return "yes-no"
    hits = [(f" {text} ".find(f" {wh} "), -len(wh), wh) for wh in _WH if f" {wh} " in f" {text} "]
    if not hits:
        return "other"
    wh = min(hits)[2]
    return {"whom": "who", "whose": "who"}.get(wh, wh)


def _answer_words(answer: str) -> int:
    cjk = len(CJK.findall(answer))
    return len(answer.split()) if not cjk else max(1, round(cjk / 2) + len(CJK.sub(" ", answer).split()))


@dataclass
class QuestionStats:
    """Diversity and shape of the pairs of a dataset (plain data; `to_dict()` for JSON/YAML)."""

    rows: int = 0  # rows with parsed pairs
    pairs: int = 0
    unique_exact: int = 0
    unique_normalised: int = 0
    types: dict[str, int] = field(default_factory=dict)
    pairs_per_image: dict[int, int] = field(default_factory=dict)  # pairs in a row -> rows
    answer_words: dict[str, float] = field(default_factory=dict)  # min, median, mean, max
    top_repeated: list[tuple[str, int]] = field(default_factory=list)
    grounded_by: dict[str, int] = field(default_factory=dict)  # context-vqa: why answers were grounded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """A few lines for the end-of-run summary."""
        if not self.pairs:
            return ["questions: none parsed"]
        share = self.unique_normalised / self.pairs
        types = ", ".join(f"{k} {v}" for k, v in sorted(self.types.items(), key=lambda kv: -kv[1]))
        per = ", ".join(f"{k}:{v}" for k, v in sorted(self.pairs_per_image.items()))
        a = self.answer_words
        out = [
            f"questions: {self.pairs} pairs, {self.unique_exact} unique exact, "
            f"{self.unique_normalised} unique normalised ({share:.0%})",
            f"question types: {types}",
            f"pairs per image (pairs:rows): {per}",
            f"answer words: min {a['min']:g}, median {a['median']:g}, mean {a['mean']:.1f}, max {a['max']:g}",
        ]
        if self.grounded_by:
            out.append("grounded by: " + _reasons(self.grounded_by))
        if self.top_repeated:
            out.append("most repeated: " + "; ".join(f"{q!r} x{n}" for q, n in self.top_repeated[:3]))
        return out

    def markdown(self) -> str:
        """The card's "Diversity and shape" section body."""
        if not self.pairs:
            return "No question-answer pairs were parsed."
        a = self.answer_words
        lines = [
            f"- Pairs: {self.pairs} over {self.rows} images",
            f"- Unique questions: {self.unique_exact} exact ({self.unique_exact / self.pairs:.0%}), "
            f"{self.unique_normalised} normalised ({self.unique_normalised / self.pairs:.0%}; case, "
            "punctuation, articles, plurals and 'in the image' filler ignored)",
            f"- Answer length in words: min {a['min']:g}, median {a['median']:g}, mean {a['mean']:.1f}, "
            f"max {a['max']:g}",
            *([f"- Answers grounded by: {_reasons(self.grounded_by)}"] if self.grounded_by else []),
            "",
            "| question type | pairs | share |",
            "|---|---|---|",
        ]
        for kind, n in sorted(self.types.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"| {kind} | {n} | {n / self.pairs:.0%} |")
        lines += ["", "| pairs per image | images |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(self.pairs_per_image.items())]
        if self.top_repeated:
            lines += ["", "Most repeated questions (normalised):", ""]
            lines += [f"- {n}× {q}" for q, n in self.top_repeated]
        return "\n".join(lines)


def _reasons(counts: dict[str, int]) -> str:
    order = ("exact", "number", "date", "inflection", "")
    items = sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    return ", ".join(f"{k or 'not grounded'} {v}" for k, v in items)


def question_stats(rows: Iterable[list[str]], answers: Iterable[list[str]] | None = None) -> QuestionStats:
    """Stats from the questions of each row (and, if given, the answers of each row)."""
    s = QuestionStats()
    exact: set[str] = set()
    keys: Counter[str] = Counter()
    first: dict[str, str] = {}
    types: Counter[str] = Counter()
    per: Counter[int] = Counter()
    known: dict[str, tuple[str, str]] = {}  # an exact repeat of a question is keyed and typed once
    for questions in rows:
        s.rows += 1
        per[len(questions)] += 1
        for q in questions:
            s.pairs += 1
            exact.add(q)
            if q not in known:
                known[q] = (question_key(q), question_type(q))
            key, kind = known[q]
            keys[key] += 1
            first.setdefault(key, q)
            types[kind] += 1
    s.answer_words = _length_summary([_answer_words(a) for row in answers or [] for a in row])
    s.unique_exact, s.unique_normalised = len(exact), len(keys)
    s.types, s.pairs_per_image = dict(types), dict(per)
    s.top_repeated = [(first[k], n) for k, n in keys.most_common(5) if n > 1]
    return s


def read_pairs(value: Any, qas_key: str, *, as_text: bool = True) -> list[dict] | None:
    """The pair list of one row's column value (`qas_key` may be dotted: `context_vqa.qas`), or None.

    With `as_text` (the default), every pair is a dict whose question and answer are text: a value of
    another type (a number, a list, from a hand-edited or foreign parquet) is shown as its JSON, so
    stats and the report never fail on it. The list keeps its length (pair indices stay valid).

    Example:
        >>> read_pairs({"qas": [{"question": "Year?", "answer": 1937}]}, "context_vqa.qas")
        [{'question': 'Year?', 'answer': '1937'}]
    """
    for part in qas_key.split(".")[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, list):
        return None
    if not as_text:
        return value
    out = []
    for pair in value:
        pair = pair if isinstance(pair, dict) else {"question": pair}
        out.append(
            {**pair, "question": as_shown(pair.get("question")), "answer": as_shown(pair.get("answer"))}
        )
    return out


def as_shown(value: Any) -> str:
    """`value` as text: itself when it is a string, "" for None, else its JSON (what a person should see).

    Example:
        >>> as_shown("a"), as_shown(None), as_shown(42), as_shown(["x"])
        ('a', '', '42', '["x"]')
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        return str(value)


def _length_summary(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {"min": 0, "median": 0, "mean": 0.0, "max": 0}
    return {"min": min(lengths), "median": statistics.median(lengths), "mean": statistics.fmean(lengths),
            "max": max(lengths)}  # fmt: skip


def dataset_stats(ds: Any, qas_key: str) -> QuestionStats:
    """`question_stats` over a `datasets.Dataset`'s parsed rows (failed rows are skipped), in one pass
    that keeps only the counts and each answer's length, not every row's text (memory flat in rows).

    Example:
        >>> dataset_stats(ds, "context_vqa.qas").lines()  # doctest: +SKIP
    """
    top = qas_key.split(".")[0]
    checked = "qa_checks" in ds.column_names
    lengths: list[int] = []
    reasons: Counter[str] = Counter()

    def questions() -> Iterator[list[str]]:
        for batch in ds.select_columns([top, *(["qa_checks"] if checked else [])]).iter(batch_size=1000):
            for k, value in enumerate(batch[top]):
                pairs = read_pairs(value, qas_key)
                if pairs is not None:
                    lengths.extend(_answer_words(p.get("answer") or "") for p in pairs)
                    yield [p.get("question") or "" for p in pairs]
                for check in (batch["qa_checks"][k] or []) if checked else []:
                    reasons[(check.get("grounded_by") or "") if check.get("grounded") else ""] += 1

    stats = question_stats(questions())
    stats.answer_words = _length_summary(lengths)
    stats.grounded_by = dict(reasons)
    return stats
