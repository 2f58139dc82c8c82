"""What the judge is asked and how its answer is read: the prompt, the JSON schema, tolerant parsing, votes.

The judge answers yes/no per pair (people and VLM judges agree far better on yes/no than on 1-5 scores,
MLLM-as-a-Judge 2024): `answerable` (from the image, plus the article for context-vqa), `correct`, and a
short `reason`. JSON comes through `response_format` json_schema where the endpoint accepts it; where it
does not (the engine drops a rejected `response_format` for the run, `engine.adapt`), the prompt still
asks for JSON and `parse_verdicts` reads what comes back: JSON (fenced, bare, cut off) or one line per pair.

Example:
    >>> parse_verdicts('{"verdicts": [{"pair": 1, "answerable": true, "correct": false, "reason": "red"}]}', 1)
    ([{'answerable': True, 'correct': False, 'reason': 'red'}], None)
    >>> parse_verdicts("Pair 1: answerable yes, correct no. Reason: the car is red.", 1)[0][0]["correct"]
    False
"""

from __future__ import annotations

import re
from typing import Any

from hf_vqa.parse.loose_json import find_json

__all__ = [
    "JUDGE_SYSTEM_PROMPT",
    "VERDICT_FORMAT",
    "judge_text",
    "majority",
    "parse_verdicts",
]

JUDGE_SYSTEM_PROMPT = (
    "You check question-answer pairs that were written about images. For each numbered pair, look at the "
    "image(s), and at the article when one is given, and decide two things, each yes or no. answerable: can "
    "the question be answered from the image(s) (plus the article, when given)? correct: is the given answer "
    "true of the image(s) (and the article)? Add a short reason of one sentence. Judge every pair, in order; "
    "never skip one."
)
_INSTRUCTION = (
    'Reply with JSON only: {"verdicts": [{"pair": 1, "answerable": true, "correct": true, "reason": "..."}, ...]}'
    ", one entry per pair."
)
_VERDICT = {
    "type": "object",
    "properties": {
        "pair": {"type": "integer"},
        "answerable": {"type": "boolean"},
        "correct": {"type": "boolean"},
        "reason": {"type": "string"},
    },
    "required": ["pair", "answerable", "correct", "reason"],
    "additionalProperties": False,
}
VERDICT_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "qa_verdicts",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"verdicts": {"type": "array", "items": _VERDICT}},
            "required": ["verdicts"],
            "additionalProperties": False,
        },
    },
}


def _one_line(text: str) -> str:
    return " ".join(str(text or "").split())


def judge_text(pairs: list[dict], article: str | None = None) -> str:
    """The judge's user message: the article (context-vqa), the numbered pairs, the reply format.

    Example:
        >>> print(judge_text([{"question": "What colour?", "answer": "red"}]))
        Pairs:
        [1] Q: What colour?
            A: red
        <BLANKLINE>
        Reply with JSON only: {"verdicts": [{"pair": 1, "answerable": true, "correct": true, "reason": "..."}, ...]}, one entry per pair.
    """
    lines = []
    if article:
        lines += ["Article:", _one_line(article), ""]
    lines.append("Pairs:")
    for i, pair in enumerate(pairs, 1):
        lines += [f"[{i}] Q: {_one_line(pair.get('question'))}", f"    A: {_one_line(pair.get('answer'))}"]
    return "\n".join([*lines, "", _INSTRUCTION])


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "true", "y", "1", "correct", "answerable"):
        return True
    if text in ("no", "false", "n", "0", "incorrect", "wrong", "not answerable"):
        return False
    return None


def _from_items(items: list, n: int) -> list[dict | None]:
    out: list[dict | None] = [None] * n
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        lowered = {str(k).lower(): v for k, v in item.items()}
        index = lowered.get("pair", lowered.get("index", lowered.get("id")))
        try:
            j = int(index) - 1 if index is not None else position
        except (TypeError, ValueError):
            j = position
        answerable, correct = _bool(lowered.get("answerable")), _bool(lowered.get("correct"))
        if 0 <= j < n and out[j] is None and answerable is not None and correct is not None:
            out[j] = {
                "answerable": answerable,
                "correct": correct,
                "reason": _one_line(lowered.get("reason")),
            }
    return out


_LINE = re.compile(r"^\W*(?:pair|q(?:uestion)?)?\s*\[?#?(\d{1,3})\]?\s*[.:)\-]", re.IGNORECASE)
_FIELD = r"{}\W{{0,3}}(?:is\s+)?(yes|no|true|false)\b"


def _from_lines(text: str, n: int) -> list[dict | None]:
    out: list[dict | None] = [None] * n
    for line in text.splitlines():
        found = _LINE.match(line)
        if not found:
            continue
        j = int(found.group(1)) - 1
        answerable = re.search(_FIELD.format("answerable"), line, re.IGNORECASE)
        correct = re.search(_FIELD.format("correct"), line, re.IGNORECASE)
        if not (0 <= j < n) or out[j] is not None or not answerable or not correct:
            continue
        reason = re.search(r"reason\W{0,3}(.*)$", line, re.IGNORECASE)
        out[j] = {"answerable": _bool(answerable.group(1)), "correct": _bool(correct.group(1)),
                  "reason": _one_line(reason.group(1)) if reason else ""}  # fmt: skip
    return out


def parse_verdicts(text: str | None, n: int) -> tuple[list[dict | None] | None, str | None]:
    """The verdicts for `n` pairs from a judge's reply, and an error (None when every pair got one).

    JSON first (``{"verdicts": [...]}``, a bare list, fenced or cut off), else one line per pair
    ("Pair 2: answerable yes, correct no, reason: ..."). A pair the reply says nothing about is None;
    when no pair could be read at all, the verdicts are None and the error says why.
    """
    if text is None:
        return None, "no reply from the judge"
    verdicts: list[dict | None] = [None] * n
    found = find_json(text)
    if found is not None:
        value = found[0]
        if isinstance(value, dict):
            lists = [v for k, v in value.items() if isinstance(v, list)]
            value = (
                value.get("verdicts")
                if isinstance(value.get("verdicts"), list)
                else (lists[0] if lists else [value])
            )
        if isinstance(value, list):
            verdicts = _from_items(value, n)
    if all(v is None for v in verdicts):
        verdicts = _from_lines(text, n)
    if n and all(v is None for v in verdicts):
        return None, f"could not read the judge's verdicts from its reply: {_one_line(text)[:160]!r}"
    missing = [str(j + 1) for j, v in enumerate(verdicts) if v is None]
    return verdicts, (f"the judge gave no verdict for pair(s) {', '.join(missing)}" if missing else None)


def majority(votes: list[list[dict | None]], n: int, judge: str) -> list[dict | None]:
    """Per pair, the majority of the votes (a tie is not a pass), with the split recorded in `votes`.

    Example:
        >>> yes, no = {"answerable": True, "correct": True, "reason": "ok"}, {"answerable": True, "correct": False, "reason": "red"}
        >>> majority([[yes], [no], [yes]], 1, "m")[0]
        {'answerable': True, 'correct': True, 'reason': 'ok', 'judge': 'm', 'votes': 'correct 2/3, answerable 3/3'}
    """
    out: list[dict | None] = []
    for j in range(n):
        cast = [v[j] for v in votes if j < len(v) and v[j] is not None]
        if not cast:
            out.append(None)
            continue
        correct = sum(v["correct"] for v in cast)
        answerable = sum(v["answerable"] for v in cast)
        verdict = {"answerable": answerable * 2 > len(cast), "correct": correct * 2 > len(cast)}
        reason = next((v["reason"] for v in cast if v["correct"] == verdict["correct"]), cast[0]["reason"])
        split = f"correct {correct}/{len(cast)}, answerable {answerable}/{len(cast)}"
        out.append({**verdict, "reason": reason, "judge": judge, "votes": split})
    return out
