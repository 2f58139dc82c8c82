"""Server-sent events of a streamed chat completion → the same dict a non-streamed reply holds.

A stream is events separated by blank lines; an event's ``data:`` lines are one payload joined with
``\\n`` (so one chunk's JSON may span several lines), and ``event: error`` marks a provider's error.
Chunks are ``data: {chunk}`` ending with ``data: [DONE]``. Each chunk's ``choices[0].delta``
carries a piece of ``content`` (and, on DeepSeek, vLLM's reasoning parsers and DashScope, of
``reasoning_content``); ``finish_reason`` comes in the last content chunk and ``usage`` in a final
chunk with empty ``choices`` (when ``stream_options.include_usage`` was sent).

What the stream said about itself is kept for `replies.parse` to judge: ``stream_done`` (``[DONE]``
seen), the finish reason (None when the stream stopped before one), and, for an error in the middle,
``{"error": ..., "partial": text so far}``. Pieces of text are joined before surrogates are
paired (an emoji sent as ``"\\ud83d"`` then ``"\\ude00"`` is one character again: `join_text`).

Example:
    >>> body = b'data: {"choices":[{"delta":{"content":"Q: a?"}}]}\\n\\n'
    >>> body += b'data: {"choices":[{"delta":{"content":" A: b"},"finish_reason":"stop"}]}\\n\\n'
    >>> body += b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}}\\n\\ndata: [DONE]\\n\\n'
    >>> done = assemble(body)
    >>> done["choices"][0]["message"]["content"], done["choices"][0]["finish_reason"], done["usage"]["completion_tokens"]
    ('Q: a? A: b', 'stop', 3)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["assemble", "events", "is_event_stream", "join_text"]

_LINES = re.compile(r"\r\n|\r|\n")  # SSE's line ends only (str.splitlines also splits on U+2028...)
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_event_stream(headers: Any, content: bytes) -> bool:
    """True when a reply is server-sent events (by its content type, or a body starting with an SSE
    field: ``data:``, ``event:`` or a ``:`` comment).

    Example:
        >>> is_event_stream({"Content-Type": "text/event-stream; charset=utf-8"}, b""), is_event_stream({}, b"{}")
        (True, False)
    """
    kind = ""
    if headers is not None:
        kind = headers.get("content-type") or headers.get("Content-Type") or ""
    return "text/event-stream" in kind.lower() or content.lstrip().startswith((b"data:", b"event:", b":"))


def join_text(pieces: list[str]) -> str:
    """Join text pieces, pairing UTF-16 surrogates split across them; a lone one becomes U+FFFD.

    Example:
        >>> join_text(["smile ", "\\ud83d", "\\ude00"]) == "smile \\U0001f600"
        True
        >>> join_text(["\\ud83d alone"])
        '\\ufffd alone'
    """
    text = "".join(pieces)
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def events(text: str) -> Iterator[tuple[str, str]]:
    """`(event type, data)` for each event of an SSE body (``message`` when no ``event:`` field).
    A last event without its blank line is still given (the caller judges whether the stream ended).

    Example:
        >>> list(events('event: error\\ndata: {"a":\\ndata: 1}\\n\\ndata: [DONE]\\n\\n'))
        [('error', '{"a":\\n1}'), ('message', '[DONE]')]
    """
    kind, data = "", []
    for line in _LINES.split(text):
        if not line:
            if data:
                yield kind or "message", "\n".join(data)
            kind, data = "", []
            continue
        if line.startswith(":"):
            continue  # a comment (": keep-alive")
        name, colon, value = line.partition(":")
        value = value[1:] if colon and value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            kind = value.strip()
    if data:
        yield kind or "message", "\n".join(data)


def assemble(content: bytes) -> dict:
    """Join a stream's chunks into ``{"choices": [{"message", "finish_reason"}], "usage", "stream_done"}``,
    or ``{"error", "partial"}`` for an error event or chunk.

    Raises `ValueError` when no chunk could be read (a truncated or non-SSE body) or a chunk is not JSON.
    """
    text: list[str] = []
    reasoning: list[str] = []
    refusal: list[str] = []
    finish, usage, seen, model, done = None, None, 0, None, False
    for kind, data in events(content.decode("utf-8", "replace")):
        if data.strip() == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            if kind == "error":  # an error event in plain words
                return _error({"message": data}, text)
            raise
        seen += 1
        if not isinstance(chunk, dict):
            raise ValueError(f"a stream chunk is not an object: {data[:80]}")
        if kind == "error" or chunk.get("error"):
            return _error(chunk.get("error") or chunk, text)
        model = chunk.get("model") or model
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            if not isinstance(delta, dict):
                continue
            text.append(_text(delta.get("content")))
            reasoning.append(_text(delta.get("reasoning_content") or delta.get("reasoning")))
            refusal.append(_text(delta.get("refusal")))
            finish = choice.get("finish_reason") or finish
    if not seen:
        raise ValueError("no data: chunk in the event stream")
    message: dict[str, Any] = {"role": "assistant", "content": join_text(text)}
    if any(reasoning):
        message["reasoning_content"] = join_text(reasoning)
    if any(refusal):
        message["refusal"] = join_text(refusal)
    return {"model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage or {}, "stream_done": done}  # fmt: skip


def _error(error: Any, text: list[str]) -> dict:
    partial = join_text(text)
    return {"error": error, "partial": partial} if partial else {"error": error}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
