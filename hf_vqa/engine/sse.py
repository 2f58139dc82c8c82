"""Server-sent events of a streamed chat completion → the same dict a non-streamed reply holds.

A stream is ``data: {chunk}`` lines ending with ``data: [DONE]``. Each chunk's
``choices[0].delta`` carries a piece of ``content`` (and, on DeepSeek, vLLM's reasoning parsers and
DashScope, of ``reasoning_content``); ``finish_reason`` comes in the last content chunk and
``usage`` in a final chunk with empty ``choices`` (when ``stream_options.include_usage`` was sent).
A chunk holding ``error`` (a provider failing mid-stream) becomes that error, as in a plain reply.

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
from typing import Any

__all__ = ["assemble", "is_event_stream"]


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


def assemble(content: bytes) -> dict:
    """Join a stream's chunks into ``{"choices": [{"message", "finish_reason"}], "usage"}``.

    Raises `ValueError` when no chunk could be read (a truncated or non-SSE body).
    """
    text: list[str] = []
    reasoning: list[str] = []
    refusal: list[str] = []
    finish, usage, seen, model = None, None, 0, None
    for raw in content.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line.startswith("data:"):
            continue  # comments (": keep-alive"), event:/id:/retry: fields, blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        seen += 1
        if not isinstance(chunk, dict):
            raise ValueError(f"a stream chunk is not an object: {data[:80]}")
        if chunk.get("error"):
            return {"error": chunk["error"]}
        model = chunk.get("model") or model
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            text.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or delta.get("reasoning") or "")
            refusal.append(delta.get("refusal") or "")
            finish = choice.get("finish_reason") or finish
    if not seen:
        raise ValueError("no data: chunk in the event stream")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    if any(refusal):
        message["refusal"] = "".join(refusal)
    return {"model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage or {}}  # fmt: skip
