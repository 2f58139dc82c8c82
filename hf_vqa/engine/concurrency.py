"""Adaptive concurrency for one process: AIMD on 429s, and a shared pause that honours Retry-After.

The window starts at `max_concurrency`. A 429 halves it (at most once per `cooldown` seconds, so one
burst of 429s counts once) and pauses new requests until the server's Retry-After has passed. Each
success grows it by 1/window, so it climbs back by about one slot per round trip. Waiters queue in
FIFO order and are woken one per free slot, so thousands of queued requests cost nothing.

Example:
    >>> import asyncio
    >>> async def demo():
    ...     lim = AdaptiveLimiter(8)
    ...     async with lim.slot():
    ...         lim.on_rate_limited(retry_after=0.0)
    ...     return lim.window
    >>> asyncio.run(demo())
    4.0
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator


class AdaptiveLimiter:
    """An asyncio semaphore whose size moves between `minimum` and `maximum` (AIMD)."""

    def __init__(self, maximum: int, *, minimum: int = 1, cooldown: float = 1.0) -> None:
        self.maximum = maximum
        self.minimum = minimum
        self.cooldown = cooldown
        self.window = float(maximum)
        self.in_flight = 0
        self.paused_until = 0.0
        self._last_cut = 0.0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def capacity(self) -> int:
        return max(self.minimum, int(self.window))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot; waits while the window is full or a Retry-After pause runs."""
        await self._acquire()
        try:
            yield
        finally:
            self.in_flight -= 1
            self._wake()

    async def _acquire(self) -> None:
        if not self._waiters and self.in_flight < self.capacity and time.monotonic() >= self.paused_until:
            self.in_flight += 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake()
        try:
            await fut  # the waker counts us in before resolving
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.in_flight -= 1
                self._wake()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    def _wake(self) -> None:
        delay = self.paused_until - time.monotonic()
        if delay > 0:
            if self._timer is None and self._waiters:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(delay, self._timer_fired)
            return
        while self._waiters and self.in_flight < self.capacity:
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

    def _timer_fired(self) -> None:
        self._timer = None
        self._wake()

    def on_success(self) -> None:
        """Additive increase: about +1 slot per window of successes."""
        if self.window < self.maximum:
            self.window = min(float(self.maximum), self.window + 1.0 / max(self.window, 1.0))
            self._wake()

    def on_rate_limited(self, retry_after: float | None) -> None:
        """Multiplicative decrease, and pause everyone until Retry-After has passed."""
        now = time.monotonic()
        if now - self._last_cut >= self.cooldown:
            self.window = max(float(self.minimum), self.window / 2)
            self._last_cut = now
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)


__all__ = [
    "AdaptiveLimiter",
]
