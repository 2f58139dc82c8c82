"""Tolerant JSON extraction for model outputs: fenced or bare, JSON Lines (one object per line), keys in any
language of `hf_vqa.parse.labels`. Each snippet is decoded by `hf_vqa.parse.json_repair` (trailing commas,
comments, cut-off payloads, Python literals such as `[{'question': 'Who?', 'answer': "It's Ada"}]`).

Example:
    >>> find_json('Sure!\\n```json\\n{"qas": [{"q": "Who?", "a": "Ada"},]}\\n```')[0]
    {'qas': [{'q': 'Who?', 'a': 'Ada'}]}
"""

from __future__ import annotations

import re
from typing import Any

from hf_vqa.parse.json_repair import DECODER, decode_loose
from hf_vqa.parse.labels import LABELS

# any language tag: models put JSON or Python literals under ```json, ```python, even ```typescript
_FENCE_OPEN = re.compile(r"```[ \t]*[A-Za-z0-9_+-]{0,20}[ \t]*\n")
_MAX_CANDIDATES = 8

CONTEXT_KEYS = frozenset(
    {
        "article",
        "context",
        "passage",
        "wikipedia_article",
        "wiki_article",
        "wikipedia",
        "wikipedia_style_article",
        "article_text",
        "content",
        "body",
        "text",
        "文章",
        "维基百科文章",
        "上下文",
        "背景",
    }
)
QA_KEYS = frozenset(
    {
        "qa_pairs",
        "qas",
        "qa",
        "questions",
        "question_answer_pairs",
        "question_answers",
        "questions_and_answers",
        "qa_list",
        "pairs",
        "vqa",
        "问答对",
        "问答",
    }
)
_QUESTION_KEYS = (
    "question",
    "q",
    "query",
    "问题",
    *(w.casefold() for lab in LABELS.values() for w in lab.question if len(w) > 1),
)
_ANSWER_KEYS = (
    "answer",
    "a",
    "answers",
    "答案",
    *(w.casefold() for lab in LABELS.values() for w in lab.answer if len(w) > 1),
)
_FLOW_MAP = re.compile(
    r"^-?\s*\{\s*([^\s:{},]{1,20})\s*:\s*(.+?)\s*,\s*([^\s:{},]{1,20})\s*:\s*(.+?)\s*,?\s*\}$"
)


def norm_key(key: Any) -> str:
    """Normalize a JSON key: "Wikipedia Article" -> "wikipedia_article"."""
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def _flow_map(line: str) -> dict | None:
    """A YAML flow map on one line, `- {question: What is it?, answer: A kite}`, as a dict (or None)."""
    m = _FLOW_MAP.match(line)
    if m is None or norm_key(m[1]) not in _QUESTION_KEYS or norm_key(m[3]) not in _ANSWER_KEYS:
        return None
    return {m[1]: m[2].strip("'\""), m[3]: m[4].strip("'\"")}


def _json_lines(text: str) -> tuple[list, int, int] | None:
    """Two or more lines that are each one JSON object (JSON Lines), as a list with their span."""
    items: list = []
    start = end = pos = 0
    for line in text.splitlines(keepends=True):
        body = line.strip().rstrip(",")
        value = None
        if body.startswith("{") and body.endswith("}"):
            try:
                value = DECODER.decode(body)
            except (ValueError, RecursionError):
                value = None
        if value is None and body.startswith(("{", "- {")):
            value = _flow_map(body)
        if isinstance(value, dict):
            start = pos if not items else start
            items.append(value)
            end = pos + len(line)
        elif body and items and not body.startswith("```"):
            break
        pos += len(line)
    return (items, start, end) if len(items) >= 2 else None


def _candidates(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _FENCE_OPEN.finditer(text):
        body = text[m.end() :].lstrip()
        if body[:1] in ("{", "["):
            close = text.find("```", m.end())
            spans.append((m.start(), len(text) if close < 0 else close))
        if len(spans) >= _MAX_CANDIDATES:
            return spans
    pos = 0
    for line in text.splitlines(keepends=True):
        if line.lstrip()[:1] in ("{", "[") and not any(s <= pos < e for s, e in spans):
            spans.append((pos, len(text)))
            if len(spans) >= _MAX_CANDIDATES:
                break
        pos += len(line)
    return spans


def find_json(text: str) -> tuple[dict | list, int, int] | None:
    """First JSON object/array in `text` (a ```json fence, or a line starting with `{`/`[`) with its span;
    JSON Lines (several one-object lines at the top level) come back as one list."""
    found = _first_json(text)
    if found is None or (isinstance(found[0], dict) and _field(found[0], _QUESTION_KEYS) is not None):
        return _json_lines(text) or found
    return found


def _first_json(text: str) -> tuple[dict | list, int, int] | None:
    for start, end in _candidates(text):
        chunk = text[start:end]
        brace = min((i for i in (chunk.find("{"), chunk.find("[")) if i >= 0), default=-1)
        if brace < 0:
            continue
        value = decode_loose(chunk[brace:])
        if isinstance(value, (dict, list)) and value:
            return value, start, end
    return None


def _unwrap(value: Any) -> Any:
    """Descend through wrappers such as {"result": {...}} or {"data": [...]} (at most three levels)."""
    for _ in range(3):
        if not isinstance(value, dict) or len(value) != 1:
            break
        ((key, inner),) = value.items()
        if norm_key(key) in CONTEXT_KEYS | QA_KEYS or not isinstance(inner, (dict, list)):
            break
        value = inner
    return value


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n\n".join(_text_of(v) for v in value if _text_of(v))
    if isinstance(value, dict):
        for key, inner in value.items():
            if norm_key(key) in CONTEXT_KEYS:
                return _text_of(inner)
    return ""


def json_context(value: Any) -> str:
    """The article text of a JSON payload (keys article/context/passage/wikipedia_article/...), or ""."""
    value = _unwrap(value)
    if not isinstance(value, dict):
        return ""
    for key, inner in value.items():
        if norm_key(key) in CONTEXT_KEYS and not isinstance(inner, (int, float, bool)):
            return _text_of(inner)
    return ""


def _field(item: dict, names: tuple[str, ...]) -> Any:
    for key, inner in item.items():
        if norm_key(key) in names:
            return inner
    return None


def _answer_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v).strip() for v in value if str(v).strip())
    return str(value)


def json_pairs(value: Any) -> list[tuple[str, str]]:
    """Question-answer pairs of a JSON payload: a list of {question|q, answer|a} items, found at the top
    level or under qa_pairs/qas/questions/qa/question_answer_pairs/...; parallel "questions"/"answers"
    lists work too. Returns [] when there are none."""
    value = _unwrap(value)
    items: Any = value
    if isinstance(value, dict):
        questions, answers = _field(value, ("questions",)), _field(value, ("answers",))
        if (
            isinstance(questions, list)
            and isinstance(answers, list)
            and all(isinstance(q, str) for q in questions)
        ):
            return [(str(q), _answer_text(a)) for q, a in zip(questions, answers)]
        items = next((v for k, v in value.items() if norm_key(k) in QA_KEYS and isinstance(v, list)), None)
        if items is None:
            items = [value] if _field(value, _QUESTION_KEYS) is not None else []
    if not isinstance(items, list):
        return []
    pairs = []
    for item in items:
        if isinstance(item, dict):
            question = _field(item, _QUESTION_KEYS)
            has_answer = any(norm_key(k) in _ANSWER_KEYS for k in item)
            if isinstance(question, str) and question.strip() and has_answer:  # null/"" answer: kept as ""
                pairs.append((question, _answer_text(_field(item, _ANSWER_KEYS))))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            pairs.append((item[0], item[1]))
    return pairs


__all__ = [
    "CONTEXT_KEYS",
    "QA_KEYS",
    "find_json",
    "json_context",
    "json_pairs",
    "norm_key",
]
