"""Batch JSONL both ways: one request line per distinct request not yet stored, and result lines read back.

A request line is ``{"custom_id": <request-store key>, "method": "POST", "url": "/v1/chat/completions",
"body": <exactly the bytes the online path sends>}``; the same file works with vLLM's ``run-batch``.
A result line (OpenAI's and vLLM's format) is ``{"id", "custom_id", "response": {"status_code",
"body"}, "error"}``.

Example:
    >>> line = request_line("k1", b'{"model":"m","messages":[]}')
    >>> json.loads(line)["body"]["model"]
    'm'
    >>> key, reply, error = read_result(json.dumps({"custom_id": "k1", "response": {"status_code": 200,
    ...     "body": {"choices": [{"message": {"content": "Q: a? A: b"}, "finish_reason": "stop"}]}}}))
    >>> key, reply.text, error
    ('k1', 'Q: a? A: b', None)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hf_vqa.config import VLM
from hf_vqa.engine.http_reply import Response
from hf_vqa.engine.outcomes import Fatal, Reply, Transient
from hf_vqa.engine.replies import judge
from hf_vqa.errors import HfVqaError, one_line

__all__ = ["Plan", "iter_requests", "read_result", "request_line", "split_lines"]

URL = "/v1/chat/completions"


def request_line(key: str, payload: bytes) -> bytes:
    """One JSONL request line (no newline) around the exact request bytes."""
    head = json.dumps({"custom_id": key, "method": "POST", "url": URL})[:-1].encode()
    return head + b', "body": ' + payload + b"}"


@dataclass
class Plan:
    """Counts of a planning pass (filled in while `iter_requests` is consumed)."""

    rows: int = 0
    distinct: int = 0
    stored: int = 0
    to_send: int = 0


def iter_requests(
    ds: Any,
    vlm: VLM,
    plan: Plan,
    *,
    system_prompt: str | None = None,
    prompt: str | None = None,
    image_key: str | None = "image",
    conversation_key: str = "conversation",
    response_format: dict | None = None,
    skip: Iterable[str] = (),
    requests_of: Any = None,
    keys_only: bool = False,
) -> Iterator[tuple[str, bytes]]:
    """(key, request line) for every distinct request not in the store (nor in `skip`), built as
    `prompted_vqa` builds it, one row at a time (only one row's images are in memory). Rows that fail
    before sending (a bad image) are left to the map, which records their error. With `keys_only`:
    (key, b"") for every distinct request, stored or not.

    `requests_of(row)` -> `[(key, Request)]` builds other steps' requests instead (the verify pass:
    `quality.verify.judge_requests`, `quality.blind.blind_requests`)."""
    from hf_vqa.engine.store import get_store
    from hf_vqa.images.columns import undecoded
    from hf_vqa.runner.rows import row_images, row_request

    store = get_store(vlm.cache_dir)
    skip, seen = set(skip), set()
    for row in undecoded(ds) if image_key and image_key in ds.column_names else ds:
        plan.rows += 1
        try:
            if requests_of is not None:
                requests = requests_of(row)
            else:
                images = row_images(row, vlm, image_key)
                request = row_request(row, vlm, images, system_prompt=system_prompt, prompt=prompt,
                                      conversation_key=conversation_key, response_format=response_format)  # fmt: skip
                requests = [(request.key, request)]
        except HfVqaError:
            continue
        for key, request in requests:
            if key in seen:
                continue
            seen.add(key)
            plan.distinct += 1
            if keys_only:
                yield key, b""
            elif store.get(key) is not None:
                plan.stored += 1
            elif key not in skip:
                plan.to_send += 1
                # a batch answers whole: never stream (--stream / VLM(stream=True) is for the live path)
                template = {
                    k: v for k, v in request.template.items() if k not in ("stream", "stream_options")
                }
                yield key, request_line(key, request.payload(template))


def split_lines(
    lines: list[tuple[str, bytes]], max_requests: int, max_bytes: int
) -> Iterator[list[tuple[str, bytes]]]:
    """Chunks of at most `max_requests` lines and `max_bytes` bytes (newlines included).

    Example:
        >>> [len(c) for c in split_lines([("a", b"x" * 9)] * 5, max_requests=2, max_bytes=100)]
        [2, 2, 1]
    """
    chunk: list[tuple[str, bytes]] = []
    size = 0
    for key, line in lines:
        if chunk and (len(chunk) >= max_requests or size + len(line) + 1 > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((key, line))
        size += len(line) + 1
    if chunk:
        yield chunk


def read_result(text: str | bytes) -> tuple[str, Reply | None, str | None]:
    """(custom_id, the reply, None) for a 2xx line with an answer, else (custom_id, None, the reason).

    Never raises: a line that is not JSON, or has no string ``custom_id``, gives ``("", None, reason)``;
    a ``response`` that is not an object, a ``status_code`` that is not a number, a missing ``body``
    fail that request with the reason (the other lines are still collected).

    Example:
        >>> read_result('{"custom_id": "k", "response": "oops"}')
        ('k', None, "batch: the result line's response is not an object: 'oops'")
    """
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return "", None, f"unreadable result line (not JSON): {_shown(text)}"
    key = obj.get("custom_id") if isinstance(obj, dict) else None
    if not isinstance(key, str) or not key:
        return "", None, f"result line without a custom_id: {_shown(text)}"
    response, error = obj.get("response"), obj.get("error")
    if not response:
        if isinstance(error, dict):
            return key, None, one_line(f"batch: {error.get('code') or 'error'}: {error.get('message') or ''}")
        if error:
            return key, None, one_line(f"batch: error: {_shown(error)}")
        return key, None, "batch: no response for this request"
    if not isinstance(response, dict):
        return key, None, f"batch: the result line's response is not an object: {_shown(response)}"
    status = response.get("status_code")
    if isinstance(status, str) and status.strip().isdigit():
        status = int(status)
    if type(status) is not int or not 100 <= status <= 599:
        return key, None, f"batch: the result line's status_code is not an HTTP status: {_shown(status)}"
    if "body" not in response:
        return key, None, f"batch: HTTP {status} without a body"
    try:
        body = json.dumps(response["body"]).encode()
        return key, judge(Response(status, {}, body)), None
    except (Transient, Fatal) as err:
        return key, None, one_line(f"batch: HTTP {status}: {err}")
    except Exception as err:  # a body of a shape no reader expects: this request fails, not the run
        return key, None, one_line(f"batch: HTTP {status}: unreadable body ({type(err).__name__}: {err})")


def _shown(value: object) -> str:
    """A short one-line rendering of something received."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return one_line(repr(text), 120)


def read_results(lines: Iterable[bytes]) -> Iterator[tuple[str, Reply | None, str | None]]:
    """`read_result` for every non-empty line (of a results file: bytes, or an open binary file)."""
    if isinstance(lines, bytes | bytearray):
        lines = lines.splitlines()
    for line in lines:
        if line.strip():
            yield read_result(line)


__all__ += ["read_results"]
