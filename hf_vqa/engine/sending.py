"""One attempt of one request: the gates it passes, the POST, and what the reply means for the run.

An attempt waits for the run's first request (`guard.py`; before taking a slot, so waiting requests
never hold the slots the first one needs), for the endpoint to be up (`outage.py`), for the shared rate
limits (`admission.RateLimits`) and for a slot (adaptive concurrency, `concurrency.py`); then it POSTs
the bytes through `transport.py` and has the reply judged (`replies.py`). What the engine's retry loop
does next is said by what `attempt` raises: `Transient` (retry), `Fatal` (final), `Adapted` (the run
now sends without a rejected parameter: again, at once) or `Paused` (the endpoint is down: wait with
every other row, retries untouched).

Example:
    >>> Sender.content({"a": 1}, {"a": 1}, None)
    b'{"a": 1}'
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from hf_vqa.engine.assemble import EngineParts
from hf_vqa.engine.claims import Claims, claim_ttl
from hf_vqa.engine.concurrency import AdaptiveLimiter
from hf_vqa.engine.http_reply import ReplyTooLarge, TransportError
from hf_vqa.engine.outage import GaveUp
from hf_vqa.engine.outcomes import Fatal, Reply, Transient
from hf_vqa.engine.replies import judge, redact
from hf_vqa.engine.transport import Transport
from hf_vqa.errors import one_line

__all__ = ["Adapted", "Paused", "Sender"]

_log = logging.getLogger("hf_vqa.engine.client")


class Adapted(Transient):
    """The endpoint rejected a parameter; the run now sends without it: send this row again, at once."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400, retry_after=0.0)


class Paused(Exception):
    """The endpoint is down (`outage.py`): this row waits with all the others, its retries untouched."""


class Sender:
    """Sends attempts for one engine (inside its event loop). `pending()` counts the requests in flight."""

    def __init__(self, parts: EngineParts, pending: Callable[[], int]) -> None:
        self.parts, self.settings, self.stats = parts, parts.settings, parts.stats
        self.guard, self.outage, self.store = parts.guard, parts.outage, parts.store
        self._api_key, self._pending = parts.api_key, pending
        self.limiter: AdaptiveLimiter | None = None  # made in the loop, at the first request
        self.transport: Transport | None = None
        self.claims = Claims(self.store, claim_ttl(self.settings.timeout)) if self.store is not None else None

    async def attempt(self, key: str, body: dict, payload: Callable[[], bytes] | None) -> Reply:
        """One send of `key` through every gate (see the module docstring)."""
        if self.limiter is None:
            self.limiter = AdaptiveLimiter(self.settings.max_concurrency, cooldown=0.25)
        await self.guard.enter(key)
        if self.claims is not None:  # this run's claim on the key lasts one more attempt
            self.claims.renew(key)
        adapting = False
        try:
            try:
                await self.outage.enter(key)  # the endpoint is down: wait with every other row
            except GaveUp as err:
                raise Fatal(str(err)) from None
            estimate = await self.parts.limits.reserve(body)
            async with self.limiter.slot():
                reply = await self._send(key, body, payload)
        except Adapted:
            adapting = True
            raise
        finally:
            self.outage.leave(key)
            self.guard.leave(key, adapting=adapting)
        self.parts.limits.settle(reply.prompt_tokens + reply.completion_tokens, estimate)
        return reply

    async def _send(self, key: str, body: dict, payload: Callable[[], bytes] | None) -> Reply:
        if self.guard.stopped:
            raise Fatal(f"not sent: the run was stopped ({self.guard.stopped})")
        try:
            if not self.outage.may_send(key):  # it went down while this one waited for a slot
                raise Paused("waiting for the endpoint")
        except GaveUp as err:
            raise Fatal(str(err)) from None
        if self.transport is None:
            self.transport = self.parts.open_transport()
        sent = self.guard.rewrite(body)
        content = self.content(sent, body, payload)
        self.stats.sent += 1
        started = time.monotonic()
        try:  # transport.py's deadline covers the whole request, a whole stream included
            resp = await self.transport.post(content, spread=hash(key))
        except ReplyTooLarge as err:  # the same request would get the same answer: final, nothing kept
            raise Fatal(str(err), 200) from None
        except TransportError as err:  # refused, dropped, timed out
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("POST %s (%d bytes, key %.12s) failed after %.3fs: %s", self.transport.url.split("?")[0],
                           len(content), key, time.monotonic() - started, err)  # fmt: skip
            if err.timeout:
                message = f"timed out after {self.settings.timeout:g}s (deadline for the whole reply)"
            else:
                message = f"connection error: {one_line(str(err))}"
            self._no_answer(key, message)
            raise Transient(message) from None
        status = resp.status
        if status < 500:
            self.outage.succeeded()  # the endpoint answered
        if _log.isEnabledFor(logging.DEBUG):  # never the headers: they carry the key
            _log.debug("POST %s (%d bytes, key %.12s) -> HTTP %d in %.3fs", self.transport.url.split("?")[0], len(content),
                       key, status, time.monotonic() - started)  # fmt: skip
        try:
            reply = judge(resp, self._api_key)
        except Transient as err:
            if err.status == 429:
                self.stats.rate_limited += 1
                self.limiter.on_rate_limited(err.retry_after)  # type: ignore[union-attr]
            elif err.status and err.status >= 500:  # a gateway whose upstream is down answers 5xx
                self._no_answer(key, one_line(f"HTTP {err.status}: {err}", 300))
            raise
        except Fatal as err:
            if err.status in (400, 422) and self.guard.adapt(resp.content, sent, str(err)):
                self.stats.adapted += 1
                raise Adapted(str(err)) from None
            raise
        self.limiter.on_success()  # type: ignore[union-attr]
        return reply

    @staticmethod
    def content(sent: dict, body: dict, payload: Callable[..., bytes] | None) -> bytes:
        """The bytes for `sent` (the body after adaptations): `payload` builds them without
        re-encoding images (`messages.Request.payload` takes the adapted template)."""
        if payload is None:
            return json.dumps(sent, ensure_ascii=False).encode()
        if sent is body:
            return payload()
        try:
            return payload(sent)
        except TypeError:  # a payload callable that takes no template
            return json.dumps(sent, ensure_ascii=False).encode()

    def _no_answer(self, key: str, message: str) -> None:
        """No usable answer (connection error, timeout, 5xx): count it towards an outage; once the
        endpoint is down, the row waits with the others (`Paused`), or fails when the run gave up."""
        self.outage.failed(key, redact(message, self._api_key), pending=self._pending())
        if self.outage.gave_up:
            raise Fatal(self.outage.gave_up)
        if self.outage.active:
            raise Paused(message)

    async def aclose(self) -> None:
        """Close the connection pool, if one was opened."""
        transport, self.transport = self.transport, None
        if transport is not None:
            await transport.aclose()
