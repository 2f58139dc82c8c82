"""Hostile replies for the mock VLM: answers that are well-formed HTTP but that a client must not trust.

Each kind is chosen like a fault (``MockVLM(faults={"refusal": 1.0})``) but is never part of
``fault_rate``'s even spread: these are deterministic failures (the same request gets the same
reply), or replies that test a client's bounds and redaction, not flaky ones.

- ``refusal``: ``message.refusal`` set, no content.
- ``content_filter``: ``finish_reason: content_filter`` and no content.
- ``no_choices``: ``"choices": []``.
- ``sse``: a ``text/event-stream`` body, as a streaming-only endpoint sends.
- ``not_utf8``: a body that is not UTF-8.
- ``odd_usage``: a good answer whose ``usage`` holds strings (``"completion_tokens": "abc"``).
- ``echo_key``: a good answer that repeats the request's ``Authorization`` header.
- ``trickle``: a good answer sent one byte every `TRICKLE_SECONDS`.
- ``huge``: a good answer padded to `HUGE_BYTES`.

Example:
    >>> status, body, content_type, trickle = reply("no_choices", {"choices": [{}]}, {})
    >>> status, json.loads(body)["choices"], trickle
    (200, [], 0.0)
"""

from __future__ import annotations

import copy
import json
from typing import Any

__all__ = ["HOSTILE_KINDS", "HUGE_BYTES", "REFUSAL", "TRICKLE_SECONDS", "reply"]

HOSTILE_KINDS = ("refusal", "content_filter", "no_choices", "sse", "not_utf8", "odd_usage", "echo_key",
                 "trickle", "huge")  # fmt: skip
HUGE_BYTES = 20 * 1024 * 1024
TRICKLE_SECONDS = 0.1
REFUSAL = "I'm sorry, I can't help with identifying people in this image."


def reply(kind: str, payload: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes, str, float]:
    """``(status, body, content type, seconds per byte)`` for hostile `kind`, given the normal answer
    `payload` (an OpenAI ``chat.completion`` dict) and the request's lower-case `headers`."""
    data = copy.deepcopy(payload)
    message = data["choices"][0].get("message", {}) if data["choices"] else {}
    trickle = 0.0
    if kind == "refusal":
        message.update(content=None, refusal=REFUSAL)
    elif kind == "content_filter":
        message["content"] = None
        data["choices"][0]["finish_reason"] = "content_filter"
    elif kind == "no_choices":
        data["choices"] = []
    elif kind == "sse":
        chunk = {"id": data.get("id"), "object": "chat.completion.chunk", "choices": [{"index": 0,
                 "delta": {"content": message.get("content")}, "finish_reason": None}]}  # fmt: skip
        body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
        return 200, body, "text/event-stream", 0.0
    elif kind == "not_utf8":
        return 200, b'{"choices": [{"message": {"content": "caf\xe9 \xff\xfe"}}]}', "application/json", 0.0
    elif kind == "odd_usage":
        data["usage"] = {"prompt_tokens": "n/a", "completion_tokens": "abc", "total_tokens": None}
    elif kind == "echo_key":
        message["content"] = f"{message.get('content')}\nDebug: you sent {headers.get('authorization', '')}"
    elif kind == "trickle":
        trickle = TRICKLE_SECONDS
    elif kind == "huge":
        content = message.get("content") or ""
        message["content"] = content + " " + "x" * max(0, HUGE_BYTES - len(content))
    return 200, json.dumps(data).encode(), "application/json", trickle
