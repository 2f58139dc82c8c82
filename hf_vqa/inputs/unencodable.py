"""Text that cannot be stored as UTF-8 (a lone surrogate such as ``"\\ud83d"``, or invalid bytes in the
input file) fails its own row, never the whole run.

Arrow stores only valid UTF-8, so such a string cannot even reach the dataset. `clean` replaces it by
a visible escaped form; a conversation turn's text also gets `MARK` in front, which `problem` finds
when the row is about to be sent, so that row fails with a clear error and the others go on.

Example:
    >>> turn = clean({"from": "human", "value": "hi \\ud83d"}, mark=True)
    >>> problem([turn])
    'the prompt text cannot be encoded as UTF-8 (a lone surrogate or invalid bytes): hi \\\\ud83d'
    >>> clean("fine") == "fine" and problem([{"value": "fine"}]) is None
    True
"""

from __future__ import annotations

from typing import Any

__all__ = ["MARK", "clean", "problem"]

MARK = "\x00hf_vqa:unencodable\x00"


def clean(value: Any, *, mark: bool = False) -> Any:
    """`value` with every string that is not valid UTF-8 escaped (``\\udXXX``), recursively; with
    `mark`, those strings also start with `MARK`."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            escaped = value.encode("utf-8", "backslashreplace").decode("utf-8")
            return MARK + escaped if mark else escaped
    if isinstance(value, dict):
        return {clean(k): clean(v, mark=mark) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, mark=mark) for v in value]
    return value


def problem(turns: Any) -> str | None:
    """The error for a row whose conversation holds a `MARK`ed (unencodable) text, else None."""
    for turn in turns or ():
        value = turn.get("value") if isinstance(turn, dict) else None
        if isinstance(value, str) and value.startswith(MARK):
            return ("the prompt text cannot be encoded as UTF-8 (a lone surrogate or invalid bytes): "
                    + value[len(MARK):][:120])  # fmt: skip
    return None
