"""What one attempt's reply means: an answer, a retryable failure or a final one, and how long to wait.

Pure functions over a `transport.Response` (status, headers, body) plus tenacity's stop and wait
rules, so `client.py` keeps only the engine: concurrency, the loop and the store.

Example:
    >>> from hf_vqa.engine.transport import Response
    >>> judge(Response(200, {}, b'{"choices": [{"message": {"content": "Q: a? A: b"}, "finish_reason": "stop"}]}')).text
    'Q: a? A: b'
    >>> retry_after({"retry-after": "3"})
    3.0
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import tenacity

from hf_vqa.engine import gateway, redaction, sse, thinking
from hf_vqa.engine.adapt import error_info
from hf_vqa.engine.waits import MAX_RETRY_AFTER, retry_after  # every retry header a server may send
from hf_vqa.errors import one_line

NO_RETRY = {400, 401, 403, 404, 413, 422}


# The `<output_key>_usage` column: one record per row, its fields and Arrow types.
USAGE_TYPES = {
    "prompt_tokens": "int64",
    "completion_tokens": "int64",
    "attempts": "int64",
    "finish_reason": "string",
    "cached": "bool",
}


@dataclass(frozen=True)
class Reply:
    """The outcome of one request: `text`, or `error` (a one-line reason), plus its usage.

    Example:
        >>> r = Reply("Q: a? A: b", prompt_tokens=10, completion_tokens=4, attempts=1)
        >>> r.usage()["completion_tokens"]
        4
        >>> back = Reply.from_usage("Q: a? A: b", r.usage())  # read back from an output row
        >>> back.completion_tokens, back.cached
        (4, True)
    """

    text: str | None
    error: str | None = None
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    cached: bool = False
    reasoning: str | None = None

    def usage(self) -> dict[str, Any]:
        """The row's usage record (the fields of `USAGE_TYPES`)."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "attempts": self.attempts,
            "finish_reason": self.finish_reason or "",
            "cached": self.cached,
        }

    @classmethod
    def from_usage(
        cls,
        text: str | None,
        usage: dict[str, Any] | None,
        *,
        cached: bool = True,
        reasoning: str | None = None,
    ) -> Reply:
        """A reply read back from an output row (`text` plus its usage record): marked `cached`."""
        usage = usage or {}
        return cls(
            text=text,
            reasoning=reasoning,
            finish_reason=usage.get("finish_reason") or "",
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
            attempts=usage.get("attempts") or 0,
            cached=cached,
        )

    @classmethod
    def failed(cls, error: str, attempts: int = 0) -> Reply:
        """A failed request: no text, a one-line `error`."""
        return cls(text=None, error=error, attempts=attempts)


class Transient(Exception):
    """A retryable failure inside the engine (never leaves it). `partial`: text a cut or failed
    stream had given so far (kept in the row's error for a person to read, never as its answer)."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None, partial: str = ""
    ):
        super().__init__(message)
        self.status, self.retry_after, self.partial = status, retry_after, partial


class Fatal(Exception):
    """A final failure (a 4xx the server will answer the same way again); `partial` as in `Transient`."""

    def __init__(self, message: str, status: int | None = None, partial: str = ""):
        super().__init__(message)
        self.status, self.partial = status, partial


def judge(resp, api_key: str = "") -> Reply:
    """The `Reply` in a 2xx response, else raise `Transient` (429, 5xx, 408/409/425, a cut or empty
    reply) or `Fatal` (other 4xx, and replies that would be the same again: see `parse`). Messages
    are one line; the API key is redacted from everything the server sent, answers included."""
    resp = redact_reply(resp, api_key)
    status = resp.status
    if status >= 400:
        message = error_message(resp, api_key)
        if status == 429:
            raise Transient(message, status, retry_after(resp.headers))
        if status in NO_RETRY or (400 <= status < 500 and status not in (408, 409, 425)):
            raise Fatal(message, status)
        raise Transient(message, status, retry_after(resp.headers))
    return redact_text(parse(resp), api_key)


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


def redact_reply(resp, api_key: str):
    """`resp` with the API key replaced by ``<redacted>`` wherever it occurs in the body, plainly or
    JSON-escaped (`redaction.redact_bytes`).

    Example:
        >>> from hf_vqa.engine.transport import Response
        >>> redact_reply(Response(200, {}, b"you sent sk-abc123456"), "sk-abc123456").content
        b'you sent <redacted>'
    """
    content = resp.content
    for secret in [api_key, *gateway.secrets()]:  # the key, and --header/--query values
        content = redaction.redact_bytes(content, secret)
    return resp if content is resp.content else dataclasses.replace(resp, content=content)


def redact_text(reply: Reply, api_key: str = "") -> Reply:
    """`reply` with the key (`api_key`, and every key this process has read) removed from its decoded
    text and reasoning: a key split across stream deltas, or escaped in JSON, is whole only there.

    Example:
        >>> redact_text(Reply("Q: key? A: sk-abc" + "123456"), "sk-abc123456").text
        'Q: key? A: <redacted>'
    """
    text = redact(reply.text, api_key) if reply.text else reply.text
    reasoning = redact(reply.reasoning, api_key) if reply.reasoning else reply.reasoning
    if text == reply.text and reasoning == reply.reasoning:
        return reply
    return dataclasses.replace(reply, text=text, reasoning=reasoning)


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


class Stop:
    """Stop after `max_retries` failed retries, but let 429s retry for up to `patience` seconds."""

    def __init__(self, max_retries: int, patience: float) -> None:
        self.max_retries, self.patience, self.errors = max_retries, patience, 0

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, Transient) and err.status == 429:
            return (state.seconds_since_start or 0.0) + (err.retry_after or 0.0) > self.patience
        self.errors += 1
        return self.errors > self.max_retries


def wait(state: tenacity.RetryCallState) -> float:
    """The server's Retry-After when it gave one, else exponential backoff with jitter."""
    err = state.outcome.exception() if state.outcome else None
    seconds = getattr(err, "retry_after", None)
    if seconds is not None:
        return seconds
    return backoff(state)


backoff = tenacity.wait_exponential_jitter(multiplier=0.5, max=30.0, jitter=0.5)  # 0.5, 1, 2, 4 s...


def error_message(resp, api_key: str = "") -> str:
    """The server's own error message from an error response (any shape `adapt.error_info` reads:
    OpenAI, vLLM, DashScope, Gemini, plain text), else its reason phrase, on one line and without
    the API key."""
    return one_line(redact(error_info(resp.content, resp.reason or "").message, api_key))


def redact(text: str, api_key: str) -> str:
    """`text` without the API key (plain or JSON-escaped), nor any other key this process has read:
    some servers and gateways echo the Authorization header back.

    Example:
        >>> redact("bad key: Bearer sk-abc123456", "sk-abc123456")
        'bad key: Bearer <redacted>'
    """
    for secret in [api_key, *gateway.secrets()]:  # the key, and --header/--query values
        text = redaction.redact(text, secret)
    return redaction.scrub(text) or text


__all__ = [
    "MAX_RETRY_AFTER",
    "NO_RETRY",
    "USAGE_TYPES",
    "Fatal",
    "Reply",
    "Stop",
    "Transient",
    "error_message",
    "judge",
    "parse",
    "redact",
    "redact_reply",
    "redact_text",
    "retry_after",
    "wait",
]
