"""How long the server asks us to wait, from every header a real endpoint or gateway uses.

In order: `retry-after-ms` (OpenAI, Azure), `Retry-After` (seconds or an HTTP date),
`llm_provider-retry-after` (LiteLLM passes the provider's header on under that name, and its own 429s
carry only that), then OpenAI's `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` (durations
such as `1s`, `6m0s`, `20ms`; the one whose `x-ratelimit-remaining-*` is 0, else the longer). Capped
at `MAX_RETRY_AFTER`.

Example:
    >>> retry_after({"llm_provider-retry-after": "7"})
    7.0
    >>> retry_after({"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-remaining-requests": "0"})
    120.0
    >>> duration_seconds("1m30.5s"), duration_seconds("20ms")
    (90.5, 0.02)
"""

from __future__ import annotations

import email.utils
import re
import time

__all__ = ["MAX_RETRY_AFTER", "duration_seconds", "retry_after"]

MAX_RETRY_AFTER = 120.0
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")


def duration_seconds(text: str) -> float | None:
    """A Go-style duration (`6m0s`, `1.5s`, `20ms`) or a plain number of seconds; None if neither."""
    text = (text or "").strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    seconds = duration_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return None if when is None else when.timestamp() - time.time()


def retry_after(headers) -> float | None:
    """Seconds to wait, from the first header that says (see the module docstring); None when none does."""
    found: float | None = None
    ms = headers.get("retry-after-ms")
    if ms is not None and (value := duration_seconds(ms)) is not None:
        found = value / 1000
    for name in ("retry-after", "llm_provider-retry-after"):
        if found is None:
            found = _seconds(headers.get(name))
    if found is None:
        resets = []
        for kind in ("requests", "tokens"):
            value = duration_seconds(headers.get(f"x-ratelimit-reset-{kind}") or "")
            remaining = (headers.get(f"x-ratelimit-remaining-{kind}") or "").strip()
            if value is not None and remaining in ("", "0"):
                resets.append((remaining == "0", value))
        if resets:
            exhausted = [v for hit, v in resets if hit]
            found = max(exhausted or [v for _, v in resets])
    return None if found is None else min(MAX_RETRY_AFTER, max(0.0, found))
