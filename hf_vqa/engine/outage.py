"""One shared pause for every row while the endpoint is down, and a bounded time before giving up.

When the requests in flight all fail the same way (connections refused, dropped or timed out, or
5xx from a gateway whose upstream is dead) no row should burn its own retries: the `Outage` pauses
them all together (one backoff, 0.5 s doubling to 30 s), lets one probe request through after each
pause, and resumes everyone on the first answer. If nothing answers within `give_up_after` seconds
(`--give-up-after`) it gives up: every row still waiting fails with one message naming the URL (no
userinfo) and the last error, and the run goes on to write what is done (`--retry-failed` resumes).
After that, rows fail at once, but one request every `PROBE_AFTER_GIVE_UP` seconds still tries, so a
later run in the same process (a notebook) finds the endpoint again when it is back. With
`max_retries=0` (no retries asked for) nothing waits: the engine does not use an `Outage`.
An endpoint that has not answered once in this run (a wrong URL, a server not started) is given up on
sooner, after `NEVER_ANSWERED_SECONDS`.

An outage starts when failures from `threshold` different requests (before the first answer: from
every unfinished request, when fewer, but at least 2) follow each other with no answer in between, so
one request that always fails (a poison row) never pauses the run.

Example:
    >>> o = Outage("http://user:pw@127.0.0.1:9/v1", give_up_after=60, threshold=2)
    >>> o.failed("a", "connection refused"); o.failed("b", "connection refused"); o.active
    True
    >>> o.url
    'http://127.0.0.1:9/v1'
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

__all__ = ["NEVER_ANSWERED_SECONDS", "Outage"]

NEVER_ANSWERED_SECONDS = 20.0
PROBE_AFTER_GIVE_UP = 5.0  # once given up, one request every this many seconds still tries (a notebook rerun)
_FIRST_PAUSE, _MAX_PAUSE = 0.5, 30.0


def _shown(url: str) -> str:
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        netloc = f"[{netloc}]" if ":" in netloc else netloc
        netloc += f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{netloc}{parts.path}"


class Outage:
    """The endpoint's health for one engine (one process); every method runs in the engine's loop."""

    def __init__(self, url: str, *, give_up_after: float, threshold: int) -> None:
        self.url, self.give_up_after, self.threshold = _shown(url), give_up_after, max(1, threshold)
        self.enabled = threshold > 0  # 0: never pause (max_retries=0 asks for no waiting)
        self.answered = False  # the endpoint answered once in this run
        self.gave_up: str | None = None
        self.last_error = ""
        self.failures = 0
        self._keys: set[str] = set()
        self._since = 0.0
        self._pause_until = 0.0
        self._pauses = 0
        self._prober: str | None = None
        self._wake: asyncio.Event | None = None
        self._needed = self.threshold
        self._last_probe = 0.0

    @property
    def active(self) -> bool:
        """True while the endpoint is considered down (requests wait in `enter`)."""
        return len(self._keys) >= self._needed

    def _deadline(self) -> float:
        limit = self.give_up_after if self.answered else min(self.give_up_after, NEVER_ANSWERED_SECONDS)
        return self._since + limit

    async def enter(self, key: str) -> None:
        """Wait while the endpoint is down: during the pause, and until the probe (one request) is
        answered. Returns at once when the endpoint is healthy; raises `GaveUp` once it gave up."""
        while self.gave_up is not None:  # given up: fail at once, unless this is the next probe
            if self._probe_after_give_up(key):
                return
            if self._prober is None:
                raise GaveUp(self.gave_up)
            await self._wait(1.0)  # a probe is on the wire: its answer decides for this row too
        while self.active and self.gave_up is None:
            now = time.monotonic()
            if now >= self._deadline():
                self._give_up()
                break
            if self._pause_until > now:
                await asyncio.sleep(min(self._pause_until, self._deadline()) - now)
                continue
            if self._prober in (None, key):
                self._prober = key  # this request probes; the others wait for its outcome
                return
            await self._wait(max(0.01, self._deadline() - now))
        if self.gave_up is not None and not self._probe_after_give_up(key):
            raise GaveUp(self.gave_up)

    async def _wait(self, timeout: float) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    def _probe_after_give_up(self, key: str) -> bool:
        """After giving up, rows fail at once; but one request every `PROBE_AFTER_GIVE_UP` seconds is
        still sent, so a later run in the same process (a notebook) finds a recovered endpoint."""
        now = time.monotonic()
        if self._prober == key:
            return True
        if self._prober is None and now - self._last_probe >= PROBE_AFTER_GIVE_UP:
            self._prober, self._last_probe = key, now
            return True
        return False

    def may_send(self, key: str) -> bool:
        """Checked again right before sending (a request may have waited for a slot since `enter`):
        False when the endpoint went down meanwhile and `key` is not the probe."""
        if not self.active:
            return True
        if self.gave_up is not None:
            if self._prober == key:
                return True
            raise GaveUp(self.gave_up)
        if self._pause_until > time.monotonic() or self._prober not in (None, key):
            return False
        self._prober = key
        return True

    def leave(self, key: str) -> None:
        """The request `key` is done, however it ended: a probe that ended without an outcome frees
        its place (no one waits on a request that is gone)."""
        if self._prober == key:
            self._prober = None
            self._notify()

    def failed(self, key: str, error: str, pending: int | None = None) -> None:
        """A request got no answer (connection error, timeout, 5xx): extend the outage, pause again.

        `pending`: the requests of the run not finished yet; before the endpoint's first answer, all of
        them failing (at least 2) is an outage too when they are fewer than `threshold`."""
        now = time.monotonic()
        self.last_error = error
        if not self.enabled:
            return
        if pending is not None:  # before the first answer, a small run's requests all failing is enough
            self._needed = self.threshold if self.answered else min(self.threshold, max(2, pending))
        if not self._keys:
            self._since = now
        self._keys.add(key)
        self.failures += 1
        self.last_error = error
        if self.active:
            if now >= self._pause_until:  # failures that were already on the wire do not extend it
                self._pause_until = now + min(_MAX_PAUSE, _FIRST_PAUSE * 2**self._pauses)
                self._pauses += 1
            if now >= self._deadline():
                self._give_up()
        if self._prober == key:
            self._prober = None
        self._notify()

    def succeeded(self) -> None:
        """The endpoint answered (any reply that is not a 5xx): everyone resumes."""
        self.answered = True
        if self._keys or self.gave_up:
            self._keys.clear()
            self.gave_up = None
            self.failures, self._pauses, self._pause_until, self._prober = 0, 0, 0.0, None
            self._notify()

    def _give_up(self) -> None:
        seconds = time.monotonic() - self._since
        kind = (
            "unreachable" if "connection" in self.last_error or "timed out" in self.last_error else "failing"
        )
        never = "" if self.answered else "; it never answered in this run"
        self._last_probe = time.monotonic()
        self.gave_up = (f"endpoint {kind}: gave up after {seconds:.1f}s without an answer from {self.url} "
                        f"({self.failures} attempts in a row failed{never}); last error: {self.last_error}")  # fmt: skip
        self._notify()

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None


class GaveUp(Exception):
    """Raised by `Outage.enter` once the run gave up on the endpoint."""
