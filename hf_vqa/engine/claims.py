"""Claims on a request key in the shared store (`store_leases.py`), as the engine uses them: two runs
sharing one store never pay twice for one request.

Before the first attempt the engine claims the key; while another live process holds it, it waits for
that answer instead (bounded by one claim's lifetime). The keys that reach the engine in one pass of its
event loop are claimed together (`Claims`: one write transaction and one read for all of them, not a few
per key). A claim is renewed before an attempt once it is older than `RENEW_AFTER` (so at every attempt it
has at least one deadline left); an answer ends it as it is stored, a failure ends it at once.

Example:
    >>> claim_ttl(60.0)
    120.0
"""

from __future__ import annotations

import asyncio
import time

from hf_vqa.engine.outcomes import Reply
from hf_vqa.engine.store import Store, StoredReply

__all__ = ["RENEW_AFTER", "Claims", "answered_elsewhere", "claim_ttl"]

RENEW_AFTER = 30.0  # seconds; a claim lasts `claim_ttl` = one deadline + 60 s


def claim_ttl(timeout: float) -> float:
    """How long a claim on a key lasts without renewal: one attempt's deadline (`timeout`) and some slack."""
    return timeout + 60.0


async def answered_elsewhere(store: Store, key: str, ttl: float) -> Reply | None:
    """Claim `key` in `store`. While another live process holds it, wait (at most `ttl` seconds) for
    its answer and return that; None when this process should send the request itself."""
    pause = 0.02
    deadline = time.monotonic() + ttl
    while not store.claim(key, ttl) and time.monotonic() < deadline:
        if store.get(key) is not None:
            break
        await asyncio.sleep(pause)
        pause = min(0.5, pause * 1.5)
    hit = store.get(key)  # also: answered between the lookup and the claim
    if hit is None:
        return None
    store.release(key)
    return hit.reply()


class Claims:
    """One engine's claims (used inside its event loop): taken together per loop pass, renewed when old.

    Example (in the loop): ``await claims.answered_elsewhere(key)`` → None: this process sends it.
    """

    def __init__(self, store: Store, ttl: float) -> None:
        self.store, self.ttl = store, ttl
        self._batch: list[tuple[str, asyncio.Future]] = []
        self._since: dict[str, float] = {}  # key -> when this process last claimed it (monotonic)

    async def answered_elsewhere(self, key: str) -> Reply | None:
        """`answered_elsewhere` for `key`, its first claim taken with the other keys of this loop pass."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._batch.append((key, waiter))
        if len(self._batch) == 1:
            loop.call_soon(self._take)
        mine, hit = await waiter
        if hit is not None:
            return hit.reply()
        if mine:
            self._since[key] = time.monotonic()
            return None
        return await answered_elsewhere(self.store, key, self.ttl)  # another live process holds it: wait

    def _take(self) -> None:
        batch, self._batch = self._batch, []
        keys = [key for key, _ in batch]
        try:
            mine = self.store.claim_many(keys, self.ttl)
            hits: dict[str, StoredReply] = self.store.get_many(keys)  # answered before the claim
        except Exception:  # never block a run on the claims table: at worst a key is paid twice
            mine, hits = [True] * len(keys), {}
        for (key, waiter), claimed in zip(batch, mine):
            if claimed and key in hits:
                self.store.release(key)
            if not waiter.done():
                waiter.set_result((claimed, hits.get(key)))

    def renew(self, key: str) -> None:
        """Before an attempt: claim `key` again if this process's claim is older than `RENEW_AFTER`."""
        now = time.monotonic()
        if now - self._since.get(key, float("-inf")) >= RENEW_AFTER:
            self.store.claim(key, self.ttl)
            self._since[key] = now

    def forget(self, key: str) -> None:
        """The request ended (answered, or given up): its renewal time goes."""
        self._since.pop(key, None)
