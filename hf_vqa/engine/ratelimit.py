"""Requests-per-minute and tokens-per-minute limits, shared by every process on the machine.

A token bucket lives in a small SQLite file beside the request store, so `num_proc` workers (and
two runs at once) share one budget per endpoint+model. Each request reserves its cost in one short
transaction and then sleeps until its reservation is due: no polling, and first come first served.
The bucket holds at most one second of budget, so any 60 s window sees at most rpm + rpm/60.

Token costs are estimated before sending (text/4 + 800 per image + max_tokens or 300) and corrected
with the real usage afterwards.

Example:
    >>> import tempfile
    >>> bucket = SharedBucket(tempfile.mkdtemp(), "demo", per_minute=600)
    >>> bucket.reserve(1)  # seconds to wait; the first request goes at once
    0.0
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from hf_vqa.engine.store import connect

FILENAME = "ratelimits.sqlite"
IMAGE_TOKENS = 800
DEFAULT_COMPLETION_TOKENS = 300


class SharedBucket:
    """A cross-process token bucket refilled at `per_minute / 60` per second."""

    def __init__(self, folder: str | os.PathLike, name: str, per_minute: int) -> None:
        self.path = Path(folder) / FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self._local = threading.local()
        self._conn().execute(
            "CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL)"
        )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = connect(self.path)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def reserve(self, amount: float) -> float:
        """Take `amount` from the bucket (it may go negative); return the seconds to wait first."""
        conn = self._conn()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT tokens, updated FROM buckets WHERE name=?", (self.name,)).fetchone()
            tokens, updated = row if row else (self.capacity, now)
            tokens = min(self.capacity, tokens + (now - updated) * self.rate) - amount
            conn.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (self.name, tokens, now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return 0.0 if tokens >= 0 else -tokens / self.rate

    def adjust(self, delta: float) -> None:
        """Give back (delta < 0) or take more (delta > 0) once the real cost is known."""
        if delta:
            self._conn().execute("UPDATE buckets SET tokens = tokens - ? WHERE name=?", (delta, self.name))


def estimate_tokens(body: dict) -> int:
    """A conservative guess of a request's total tokens, before it is sent."""
    chars, images = 0, 0
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
            continue
        for part in content or []:
            if part.get("type") == "text":
                chars += len(part.get("text", ""))
            else:
                images += 1
    completion = body.get("max_tokens") or body.get("max_completion_tokens") or DEFAULT_COMPLETION_TOKENS
    return chars // 4 + images * IMAGE_TOKENS + int(completion)


__all__ = [
    "DEFAULT_COMPLETION_TOKENS",
    "FILENAME",
    "IMAGE_TOKENS",
    "SharedBucket",
    "estimate_tokens",
]
