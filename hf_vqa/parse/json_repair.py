"""Decoding one JSON-looking snippet the way models write it: trailing commas, `//` and `/* */` comments,
cut off before its closing brackets, or a Python literal (single quotes, None, tuples) read with
`ast.literal_eval` on a bounded, bracket-balanced span (no code runs). `hf_vqa.parse.loose_json` finds the
snippets; this module only decodes them.

Example:
    >>> decode_loose('{"a": [1, 2,], // two\\n}'), decode_loose("[{'q': None}]")
    ({'a': [1, 2]}, [{'q': None}])
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_MAX_REPAIRS = 20
_MAX_DEPTH = 32  # model payloads nest 3-4 levels; deeper input is not worth repairing
_MAX_LITERAL = 200_000  # characters handed to ast.literal_eval at most (its parser is not linear in memory)
_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
DECODER = json.JSONDecoder(strict=False)  # models put raw newlines inside strings


def _close_truncated(snippet: str) -> Any:
    """Recover the longest prefix of a cut-off JSON value that ends after a complete object or array."""
    stack: list[str] = []
    cuts: list[tuple[int, str]] = []
    in_str = esc = False
    for i, ch in enumerate(snippet):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
            if len(stack) > _MAX_DEPTH:
                return None
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return None  # a complete value that failed to decode for another reason
            cuts.append((i + 1, "".join(reversed(stack))))
    for end, closers in reversed(cuts[-_MAX_REPAIRS:]):
        try:
            return DECODER.decode(snippet[:end] + closers)
        except (ValueError, RecursionError):
            continue
    return None


def _balanced_end(snippet: str) -> int:
    """End of the bracketed value at the start of `snippet` (quotes ' and " respected), or -1."""
    depth, quote, esc = 0, "", False
    for i, ch in enumerate(snippet[:_MAX_LITERAL]):
        if quote:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "{[(":
            depth += 1
            if depth > _MAX_DEPTH:
                return -1
        elif ch in "}])":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _python_literal(snippet: str) -> Any:
    """A Python-literal list/dict (single quotes, None/True, tuples) read safely; None when it is not one."""
    end = _balanced_end(snippet)
    if end < 0:
        return None
    try:
        value = ast.literal_eval(snippet[:end])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return _plain(value) if isinstance(value, (dict, list, tuple)) else None


def _uncomment(snippet: str) -> str:
    """`snippet` without `//` and `/* */` comments (strings kept as they are)."""
    return _COMMENT.sub(lambda m: m[0] if m[0].startswith('"') else "", snippet)


def decode_loose(snippet: str) -> Any:
    """The value `snippet` starts with, repaired if need be; None when nothing decodes."""
    attempts = [snippet, _TRAILING_COMMA.sub(r"\1", snippet)]
    if "//" in snippet or "/*" in snippet:
        attempts.append(_TRAILING_COMMA.sub(r"\1", _uncomment(snippet)))
    for attempt in attempts:
        try:
            return DECODER.raw_decode(attempt)[0]
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; deep nesting recurses
            continue
    return _close_truncated(attempts[-1]) or _python_literal(snippet)


__all__ = ["DECODER", "decode_loose"]
