"""Reading a 2xx chat completion: the answer text, the reasoning kept apart, the usage counts.

A JSON body or server-sent events (assembled by `sse`); a reply is an answer only when it is complete
and not empty, and an error a gateway hides inside a 200 is judged as that error. Raises `Transient` or
`Fatal` (`hf_vqa.engine.outcomes`); `hf_vqa.engine.replies.judge` calls it for every 2xx.

Example:
    >>> from hf_vqa.engine.http_reply import Response
    >>> parse(Response(200, {}, b'{"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}')).text
    'hi'
"""

from __future__ import annotations

import json

from hf_vqa.engine import sse, thinking
from hf_vqa.engine.adapt import error_info
from hf_vqa.engine.outcomes import Fatal, Reply, Transient
from hf_vqa.errors import one_line


def parse(resp) -> Reply:
    """The answer text, reasoning and usage in a 2xx chat completion (a JSON body, or server-sent
    events joined by `sse.assemble`). Reasoning (``reasoning_content``, ``reasoning``, a leading
    ``<think>`` block) is kept apart from the text (`thinking.split`).

    A reply is an answer only when it is complete and not empty. `Fatal` (sending again gets the
    same): a refusal (its text kept), content filtering (``finish_reason=content_filter``, even after
    half an answer: the half is kept as `partial`), no choices, a body that is not UTF-8 or JSON that
    is not a completion. `Transient`: a body cut short, a stream that stopped with neither a
    ``finish_reason`` nor ``data: [DONE]`` (either one says it was not cut), an error event in the middle of a stream (`partial` keeps the text so far), or
    empty content. Usage values that are not numbers count as unknown (0); the answer is kept. A 2xx
    whose body is an error (some gateways answer so) is judged like that error: `Fatal` for a 4xx
    code in it, else `Transient`. Surrogate pairs split across stream deltas are joined again, and
    a lone surrogate becomes U+FFFD (`sse.join_text`), so the text always encodes.
    """
    status, content = resp.status, resp.content
    try:
        text_body = content.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Fatal(f"reply is not UTF-8 (byte {content[err.start:err.start + 1]!r} at offset {err.start} "
                    f"of {len(content)}): {content[:60]!r}", status) from None  # fmt: skip
    stream = sse.is_event_stream(getattr(resp, "headers", None), content)
    try:
        data = sse.assemble(content) if stream else json.loads(text_body)
    except ValueError:
        what = "stream" if stream else "reply"
        raise Transient(f"malformed {what} (HTTP {status}): {content[:80]!r}", status) from None
    if isinstance(data, dict) and data.get("error") and not data.get("choices"):
        _raise_embedded_error(data)
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        raise Fatal(f"reply is not a chat completion (no choices list): {content[:80]!r}", status)
    if not choices:
        raise Fatal('reply has no choices ("choices": []): the endpoint gave no answer', status)
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    text, reason = message.get("content"), choice.get("finish_reason") or ""
    if isinstance(text, list):  # content parts
        text = (
            "".join(
                p.get("text") or "" for p in text if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
            or None
        )
    thought = message.get("reasoning_content") or message.get("reasoning")
    thought = sse.join_text([thought]) if isinstance(thought, str) else None
    if isinstance(text, str):
        text = sse.join_text([text])
    if isinstance(text, str) or text is None:
        text, reasoning = thinking.split(text, thought)
    else:
        reasoning = None
    partial = text if isinstance(text, str) else ""
    if not isinstance(reason, str):
        reason = str(reason)
    if reason == "content_filter":
        raise Fatal(
            "blocked by the provider's content filter (finish_reason=content_filter)", status, partial
        )
    if stream and not reason and not data.get("stream_done"):  # cut: neither end of answer nor of stream
        raise Transient("the stream ended before the answer was complete (no finish_reason, without "
                        "data: [DONE])", status, partial=partial)  # fmt: skip
    if not isinstance(text, str) or not text.strip():
        if message.get("refusal"):
            raise Fatal(f"refused by the model: {message['refusal']}", status)
        if text is not None and not isinstance(text, str):
            raise Fatal(f"reply content is not text: {content[:80]!r}", status)
        raise Transient(f"empty reply (finish_reason={reason or 'unknown'})", status)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return Reply(text=text, finish_reason=reason, prompt_tokens=tokens(usage.get("prompt_tokens")),
                 completion_tokens=tokens(usage.get("completion_tokens")), reasoning=reasoning)  # fmt: skip


def tokens(value: object) -> int:
    """A usage count, or 0 (unknown) for anything that is not a non-negative number.

    Example:
        >>> tokens(12), tokens("abc"), tokens(None), tokens(-3), tokens("7")
        (12, 0, 0, 0, 7)
    """
    if isinstance(value, bool):
        return 0
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if number >= 0 else 0


def _raise_embedded_error(data: dict) -> None:
    """A 200 holding ``{"error": {...}}``: `Fatal` when its code is a 4xx (not 408/429), else `Transient`.

    `data` is the parsed reply (a plain body or assembled stream chunks, with the text a stream had
    given before its error as ``partial``), read by `error_info`.
    """
    partial = data.get("partial") if isinstance(data.get("partial"), str) else ""
    info = error_info(json.dumps({"error": data["error"]}).encode())
    try:
        code = int(info.code or 0)
    except ValueError:
        code = 0
    where = "in the middle of the stream" if partial else "in a 200 reply"
    message = one_line(f"error {where}: {info.message}")
    if 400 <= code < 500 and code not in (408, 409, 425, 429):
        raise Fatal(message, code, partial)
    raise Transient(message, code or None, partial=partial)


__all__ = ["parse", "tokens"]
