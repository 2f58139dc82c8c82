"""What one attempt's reply means: an answer, a retryable failure or a final one, and how long to wait.

Pure functions over a `http_reply.Response` (status, headers, body) plus tenacity's stop and wait
rules, so `client.py` keeps only the engine: concurrency, the loop and the store. The values it returns
and raises are in `outcomes.py`, the reading of a 2xx body in `completion.py`; the key never leaves here.

Example:
    >>> from hf_vqa.engine.http_reply import Response
    >>> judge(Response(200, {}, b'{"choices": [{"message": {"content": "Q: a? A: b"}, "finish_reason": "stop"}]}')).text
    'Q: a? A: b'
    >>> retry_after({"retry-after": "3"})
    3.0
"""

from __future__ import annotations

import dataclasses

import tenacity

from hf_vqa.engine import gateway, redaction
from hf_vqa.engine.adapt import error_info
from hf_vqa.engine.completion import parse
from hf_vqa.engine.outcomes import Fatal, Reply, Transient
from hf_vqa.engine.waits import MAX_RETRY_AFTER, retry_after  # every retry header a server may send
from hf_vqa.errors import one_line

NO_RETRY = {400, 401, 403, 404, 413, 422}


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


def redact_reply(resp, api_key: str):
    """`resp` with the API key replaced by ``<redacted>`` wherever it occurs in the body, plainly or
    JSON-escaped (`redaction.redact_bytes`).

    Example:
        >>> from hf_vqa.engine.http_reply import Response
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
    "Stop",
    "error_message",
    "judge",
    "redact",
    "redact_reply",
    "redact_text",
    "retry_after",
    "wait",
]
