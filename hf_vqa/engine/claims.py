"""Claims on a request key in the shared store (`store_leases.py`), as the engine uses them: two runs
sharing one store never pay twice for one request.

Before the first attempt the engine claims the key; while another live process holds it, it waits for
that answer instead (bounded by one claim's lifetime). Every attempt renews the claim for one more
deadline; an answer ends it as it is stored, a failure ends it at once.

Example:
    >>> claim_ttl(60.0)
    120.0
"""

from __future__ import annotations

import asyncio
import time

from hf_vqa.engine.outcomes import Reply
from hf_vqa.engine.store import Store

__all__ = ["answered_elsewhere", "claim_ttl"]


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
