"""What one HTTP request gives back: a `Response`, or a `TransportError` when no whole reply came; and the
byte cap, counted on decoded bytes as they arrive (`ReplyTooLarge`).

Example:
    >>> Response(200, {}, b"{}").status, isinstance(ReplyTooLarge("big"), TransportError)
    (200, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Response:
    """What the engine needs of a reply: status, headers (case-insensitive `get`) and the body."""

    status: int
    headers: Any
    content: bytes
    reason: str = ""


class TransportError(Exception):
    """The request got no HTTP reply: refused, dropped, timed out or broken. `timeout` says which."""

    def __init__(self, message: str, *, timeout: bool) -> None:
        super().__init__(message)
        self.timeout = timeout

    def __reduce__(self) -> tuple:
        return _rebuild, (str(self), self.timeout)


def _rebuild(message: str, timeout: bool) -> TransportError:
    return TransportError(message, timeout=timeout)


class ReplyTooLarge(TransportError):
    """The reply's body is larger than the cap; it was not read to the end and nothing of it is kept."""

    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message, timeout=False)

    def __reduce__(self) -> tuple:
        return ReplyTooLarge, (str(self),)


def too_large(received: int | str, cap: int) -> ReplyTooLarge:
    """The error for a body over `cap` (`received`: what was counted so far, or the declared length)."""
    return ReplyTooLarge(f"reply body is larger than the cap ({received} > {cap:,} bytes; "
                         "raise --max-reply-bytes / VLM(max_reply_bytes=...) if this is a real answer)")  # fmt: skip


def refuse_length(length: int | None, cap: int) -> None:
    """A declared Content-Length over the cap: refused before a byte of the body is read."""
    if length is not None and length > cap:
        raise too_large(f"Content-Length {length:,}", cap)


async def gather_body(chunks: Any, cap: int, sink: Any = None) -> bytes:
    """The body from an async iterator of decoded chunks, counted as they arrive and cut at `cap`;
    written to `sink` (then b"" is returned) or joined in memory."""
    kept, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise too_large(f"{size:,}+ decompressed", cap)
        if sink is not None:
            sink.write(chunk)
        else:
            kept.append(chunk)
    return b"".join(kept)


__all__ = ["ReplyTooLarge", "Response", "TransportError", "gather_body", "refuse_length", "too_large"]
