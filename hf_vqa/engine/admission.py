"""What a request waits for before it is sent, besides the first-request gate (`guard.py`) and an
outage (`outage.py`): room among the prepared requests, and the shared `--rpm`/`--tpm` buckets.

- `Admission`: at most `limit` prepared requests (image data included) exist at once; the producer (a
  map batch, or the lookahead thread) blocks, and is woken only once `wake_every` slots are free.
- `RateLimits`: reserve one send in the rpm bucket and its estimated tokens in the tpm bucket (shared by
  every process through the cache folder), sleep until due, and correct the estimate once the reply
  says how many tokens it used.

Example:
    >>> admit = Admission(limit=2, wake_every=1)
    >>> admit.acquire(); admit.acquire(); admit.used
    2
    >>> RateLimits(None, None).active
    False
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from hf_vqa.engine.ratelimit import SharedBucket, estimate_tokens

__all__ = ["Admission", "RateLimits"]


class Admission:
    """A counting semaphore that wakes a blocked producer only once `wake_every` slots are free,
    so the producer and the event loop hand over the GIL once per few replies, not once per reply."""

    def __init__(self, limit: int, wake_every: int) -> None:
        self.limit, self.wake_every, self.used, self.waiting = limit, wake_every, 0, False
        self._cond = threading.Condition()

    def acquire(self) -> None:
        """Take a slot, blocking while all `limit` are used."""
        with self._cond:
            while self.used >= self.limit:
                self.waiting = True
                self._cond.wait()
            self.used += 1

    def release(self) -> None:
        """Give a slot back; wake the producer once enough are free."""
        with self._cond:
            self.used -= 1
            if self.waiting and (self.limit - self.used >= self.wake_every or self.used == 0):
                self.waiting = False
                self._cond.notify_all()


class RateLimits:
    """The run's shared request and token buckets (either may be None: no limit)."""

    def __init__(self, rpm: SharedBucket | None, tpm: SharedBucket | None) -> None:
        self.rpm, self.tpm = rpm, tpm

    @classmethod
    def shared(cls, folder: Path, name: str, rpm: int | None, tpm: int | None) -> RateLimits:
        """The buckets named `name` in `folder` (every process of the run with the same name shares them)."""
        return cls(
            SharedBucket(folder, "rpm|" + name, rpm) if rpm else None,
            SharedBucket(folder, "tpm|" + name, tpm) if tpm else None,
        )

    @property
    def active(self) -> bool:
        """True when any limit is set."""
        return self.rpm is not None or self.tpm is not None

    async def reserve(self, body: dict) -> int:
        """Reserve one send of `body` and sleep until it is due; returns the tokens reserved (estimated)."""
        if not self.active:
            return 0
        estimate = estimate_tokens(body) if self.tpm is not None else 0
        loop = asyncio.get_running_loop()
        waits = [0.0]
        if self.rpm is not None:
            waits.append(await loop.run_in_executor(None, self.rpm.reserve, 1))
        if self.tpm is not None:
            waits.append(await loop.run_in_executor(None, self.tpm.reserve, estimate))
        if max(waits) > 0:
            await asyncio.sleep(max(waits))
        return estimate

    def settle(self, used: int, estimate: int) -> None:
        """The reply used `used` tokens where `estimate` were reserved: give back or take the difference."""
        if self.tpm is not None:
            self.tpm.adjust(used - estimate)
