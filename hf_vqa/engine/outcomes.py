"""What one request ends as: a `Reply` (an answer, or a failed row's one-line error, with its usage),
and the two failures the engine raises inside itself, `Transient` (send again) and `Fatal` (final).

Example:
    >>> Reply.failed("HTTP 401: bad key").usage()["attempts"]
    0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


__all__ = ["USAGE_TYPES", "Fatal", "Reply", "Transient"]
