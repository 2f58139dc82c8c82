"""The QA pairs of an output row, as every training export reads them (TRL and LLaVA alike).

Pairs live in `qas` (image-vqa) or `context_vqa.qas` (context-vqa); a pair with an empty question or
answer is not a pair. Both `training` and `llava` read them from here, so neither imports the other
for it. A context-vqa pair is answered from the row's article (`context_vqa.context`): every export puts
it in the first user turn (`user_text`), so a model learns to answer from it, not to invent knowledge.

Example:
    >>> qa_pairs({"context_vqa": {"qas": [{"question": "Q?", "answer": "A"}]}}, "context_vqa.qas")
    [('Q?', 'A')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hf_vqa.errors import InputError

if TYPE_CHECKING:
    import datasets

__all__ = ["article_of", "qa_pairs", "resolve_qas_key", "user_text"]


def qa_pairs(row: dict[str, Any], qas_key: str) -> list[tuple[str, str]]:
    """The non-empty `(question, answer)` pairs of a row; `qas_key` may be dotted (`context_vqa.qas`).

    Example:
        >>> qa_pairs({"qas": [{"question": "Q?", "answer": " "}, {"question": "Why?", "answer": "So."}]}, "qas")
        [('Why?', 'So.')]
    """
    value: Any = row
    for part in qas_key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    pairs = [((p.get("question") or "").strip(), (p.get("answer") or "").strip()) for p in value or []]
    return [(q, a) for q, a in pairs if q and a]


def resolve_qas_key(ds: datasets.Dataset, qas_key: str) -> str:
    """`qas_key`, or `context_vqa.qas` when `qas` was asked for on context-vqa data; InputError if absent."""
    if qas_key.split(".")[0] in ds.column_names:
        return qas_key
    if qas_key == "qas" and "context_vqa" in ds.column_names:
        return "context_vqa.qas"
    raise InputError(
        f"no {qas_key!r} column to export",
        received=ds.column_names,
        fix="export the output of a pipeline (image-vqa: qas; context-vqa: context_vqa.qas) or pass qas_key=",
    )


def article_of(row: dict[str, Any], qas_key: str) -> str:
    """The article a context-vqa row's pairs were answered from (`context_vqa.context`); '' otherwise.

    Example:
        >>> article_of({"context_vqa": {"context": " The Halden Collection ... ", "qas": []}}, "context_vqa.qas")
        'The Halden Collection ...'
    """
    top, _, rest = qas_key.rpartition(".")
    value = row.get(top) if top else None
    text = value.get("context") if isinstance(value, dict) and rest == "qas" else None
    return text.strip() if isinstance(text, str) else ""


def user_text(question: str, article: str = "") -> str:
    """The first user turn's text: the question, after the article when there is one (context-vqa), as
    SK-VQA trains with its context document.

    Example:
        >>> user_text("Who catalogued it?", "The Halden Collection was catalogued by Ada Vee.")
        'Context:\\nThe Halden Collection was catalogued by Ada Vee.\\n\\nQuestion: Who catalogued it?'
    """
    return f"Context:\n{article}\n\nQuestion: {question}" if article else question
