"""Refiners: map functions that turn raw VLM text into structured data, plus trust checks.

Each works batched or not (`ds.map(fn)` or `ds.map(fn, batched=True)`), never raises on bad text,
and passes rows that failed upstream (input is None) through untouched: output None, error None.

Example:
    >>> refine_qa_pairs({"vqa": "Q: What colour is the car?\\nA: Red"})["qas"]
    [{'question': 'What colour is the car?', 'answer': 'Red'}]
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from hf_vqa.errors import HfVqaError, one_line
from hf_vqa.parse.reply import WikiQA, parse_qa_pairs, parse_wiki_qa
from hf_vqa.quality.checks import check_columns, check_wiki_qa
from hf_vqa.schema import declares, qa_pairs_columns, string_column, wiki_qa_columns

__all__ = ["refine_qa_pairs", "refine_wiki_qa", "remembering"]

STEP_VERSION = "3"  # 2: grounding reads numbers, dates and plurals; 3: labels of 17 languages, units, forms

# Rows refined while `remembering()` (the CLI's output spool, as replies arrive), kept until the refine
# map asks for the same row: (refiner, output key, language, text, cut off) -> the refined row. A pure
# function of that key, so the map's output is the same whether a row comes from here or is parsed again.
_MEMO: dict[tuple, list] = {}  # key -> [the refined row, how many rows still to take it]
MEMO_ROWS = 10_000  # distinct replies kept at most (~1-2 KB each: <= ~20 MB); past that, parsed again
_REMEMBER = threading.local()


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    """Within it (in this thread), each refined row is also kept for the refine map to take; `forget()`
    drops what was not taken.

    Example:
        >>> with remembering():
        ...     _ = refine_qa_pairs({"vqa": ["Q: Colour?\\nA: Red"]})
        >>> refine_qa_pairs({"vqa": ["Q: Colour?\\nA: Red"]})["qas"]  # taken from the memo, not parsed
        [[{'question': 'Colour?', 'answer': 'Red'}]]
        >>> forget()
    """
    _REMEMBER.on = True
    try:
        yield
    finally:
        _REMEMBER.on = False


def forget() -> None:
    """Drop every remembered row (the CLI calls it when its run ends)."""
    _MEMO.clear()


@declares(qa_pairs_columns)
def refine_qa_pairs(
    example: dict[str, Any],
    *,
    input_key: str = "vqa",
    output_key: str = "qas",
    version: str = STEP_VERSION,
    language: str = "en",
) -> dict[str, Any]:
    """Parse raw Image-VQA text into `<output_key>: [{question, answer}]` and `<output_key>_error`.

    Labels of every language in `hf_vqa.parse.labels` are read whatever `language` says."""
    del version, language

    def one(text: str, truncated: bool) -> dict[str, Any]:
        pairs = parse_qa_pairs(text, truncated=truncated)
        return {output_key: [{"question": p.question, "answer": p.answer} for p in pairs]}

    return _apply(example, input_key, output_key, one, empty={output_key: None}, kind=("qa", output_key))


@declares(wiki_qa_columns)
def refine_wiki_qa(
    example: dict[str, Any],
    *,
    input_key: str = "vqa",
    output_key: str = "context_vqa",
    version: str = STEP_VERSION,
    language: str = "en",
) -> dict[str, Any]:
    """Parse ContextVQA text into `<output_key>: {context, qas}` and record per-row checks; `language`
    is the replies' language for the grounded check (number words, case endings).

    Adds `qa_checks` (per pair: grounded, duplicate, leak, grounded_by) and the row flags `all_grounded`,
    `has_duplicate`, `has_leak` (False when there is nothing to check).
    """
    del version

    def one(text: str, truncated: bool) -> dict[str, Any]:
        wiki: WikiQA = parse_wiki_qa(text, truncated=truncated)
        return {
            output_key: {
                "context": wiki.context,
                "qas": [{"question": q.question, "answer": q.answer} for q in wiki.qas],
            },
            **check_columns(check_wiki_qa(wiki, language=language)),
        }

    empty = {output_key: None, **check_columns(None)}
    return _apply(example, input_key, output_key, one, empty=empty, kind=("wiki", output_key, language))


def _apply(
    example: dict[str, Any],
    input_key: str,
    output_key: str,
    one: Callable[[str, bool], dict[str, Any]],
    *,
    empty: dict[str, Any],
    kind: tuple,
) -> dict[str, Any]:
    if input_key not in example:
        raise HfVqaError(
            f"no column {input_key!r} to refine",
            received=sorted(example),
            fix="run prompted_vqa first, or pass input_key=<the raw text column>",
        )
    value = example[input_key]
    batched = not isinstance(value, str) and value is not None
    texts = list(value) if batched else [value]
    usage = example.get(f"{input_key}_usage")
    usages = (list(usage) if batched else [usage]) if usage is not None else [None] * len(texts)
    truncated = [bool(u) and u.get("finish_reason") == "length" for u in usages]
    remember = getattr(_REMEMBER, "on", False)  # the spool's thread: keep each row for the refine map
    rows = []
    for text, cut in zip(texts, truncated):
        key = (*kind, text, cut)
        row = _recall(key) if _MEMO and not remember else None
        if row is None:
            row = _refine_one(text, cut, one, empty, output_key)
            if remember and text is not None:
                _remember(key, row)
        rows.append(row)
    if not batched:
        return rows[0]
    out: dict[str, Any] = {key: [row[key] for row in rows] for key in rows[0]} if rows else {}
    if rows:
        out[f"{output_key}_error"] = string_column(out[f"{output_key}_error"])
    return out


def _remember(key: tuple, row: dict[str, Any]) -> None:
    entry = _MEMO.get(key)
    if entry is not None:
        entry[1] += 1  # the same reply again (it is taken once per row)
    elif len(_MEMO) < MEMO_ROWS:
        _MEMO[key] = [row, 1]


def _recall(key: tuple) -> dict[str, Any] | None:
    entry = _MEMO.get(key)
    if entry is None:
        return None
    entry[1] -= 1
    if entry[1] <= 0:
        _MEMO.pop(key, None)
    return entry[0]


def _refine_one(
    text: str | None, truncated: bool, one: Callable, empty: dict[str, Any], output_key: str
) -> dict[str, Any]:
    if text is None:
        return {**empty, f"{output_key}_error": None}
    try:
        return {**one(text, truncated), f"{output_key}_error": None}
    except HfVqaError as err:
        return {**empty, f"{output_key}_error": one_line(str(err))}
    except Exception as err:  # the parser never takes the map down
        return {**empty, f"{output_key}_error": one_line(f"{type(err).__name__}: {err}")}
