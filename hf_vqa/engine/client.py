"""The request engine: the event loop, the retry loop and the store around `transport.py`.

One `Engine` per process and endpoint, wired from the parts `assemble.py` builds out of the `VLM` (the
store, the guard, the outage watch, the rate limits, the admission limit); one attempt's gates and
POST are `sending.py`, claims on a key in a shared store `claims.py`, the open engines `lifecycle.py`. It runs a private asyncio event loop in a background thread,
so it works the same in scripts, in `num_proc` workers and inside Jupyter (whose own loop is
already running). The connection pool (`transport.py`) is created lazily inside that loop, after any fork.

Each request: wait for a slot (adaptive concurrency, `concurrency.py`), POST the prepared JSON bytes, and
retry with tenacity on 429, 5xx, timeouts, dropped connections and malformed or empty replies
(exponential backoff with jitter, or the server's Retry-After). 400/401/403/404 are not retried.
Every failure becomes a `Reply` with `error` set; no exception ever leaves the engine. Successful
replies go to the durable store first.

HTTP itself is `transport.py` (URL and headers as the SDK would set them, `connection.py`): one POST per attempt.

Example:
    >>> engine = get_engine(VLM(base_url="http://127.0.0.1:8000/v1", api_key_env=""))  # doctest: +SKIP
    >>> engine.submit(key, body).result().text  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import tenacity

from hf_vqa.config import VLM
from hf_vqa.engine import lifecycle
from hf_vqa.engine.assemble import EngineParts
from hf_vqa.engine.guard import MAX_CHANGES
from hf_vqa.engine.outcomes import Fatal, Reply, Transient
from hf_vqa.engine.progress import ENV as PROGRESS_ENV
from hf_vqa.engine.progress import publish
from hf_vqa.engine.replies import Stop, redact, redact_text, wait
from hf_vqa.engine.sending import Adapted, Paused, Sender
from hf_vqa.engine.store import StoredReply
from hf_vqa.errors import RequestError, one_line

MAX_ADAPTATIONS = MAX_CHANGES  # changes tried for one row before its 400 is final
PARTIAL_CHARS = 4000  # of a partial reply's text, kept in the row's error for a person to read


class Engine:
    """Sends chat-completion requests for one process, with concurrency, retries and the store."""

    def __init__(self, vlm: VLM) -> None:
        parts = EngineParts.from_vlm(vlm)  # the VLM is read here, once (`assemble.py`)
        self.settings, self.stats = parts.settings, parts.stats
        self.store, self.guard, self.outage, self.limits = (
            parts.store,
            parts.guard,
            parts.outage,
            parts.limits,
        )
        self._api_key = parts.api_key
        self._admit = parts.admission
        self._inflight: dict[str, concurrent.futures.Future] = {}
        self._sender = Sender(parts, pending=lambda: len(self._inflight))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hf_vqa-engine", daemon=True)
        self._thread.start()
        lifecycle.OPEN.add(self)
        self._queue: collections.deque = collections.deque()
        self._queue_lock, self._wake_pending = threading.Lock(), False
        self._tasks: set[asyncio.Task] = set()
        self._to_store: list[tuple[str, StoredReply, asyncio.Future]] = []  # committed together (`_stored`)
        self._publishing, self._publish_checked = False, 0.0
        self._start_publishing()

    # -- public -------------------------------------------------------------------------------
    def lookup(self, key: str) -> concurrent.futures.Future | None:
        """A resolved future if the store already has this request's reply, or one in flight."""
        return self.lookup_many([key])[0]

    def lookup_many(self, keys: Sequence[str]) -> list[concurrent.futures.Future | None]:
        """`lookup` for several keys (one read of the store for all of them), in their order."""
        hits = self.store.get_many(keys) if self.store is not None and keys else {}
        found: list[concurrent.futures.Future | None] = []
        for key in keys:
            hit = hits.get(key)
            if hit is None:
                found.append(self._inflight.get(key))
                continue
            self.stats.cached += 1
            fut: concurrent.futures.Future = concurrent.futures.Future()
            fut.set_result(hit.reply())
            found.append(fut)
        return found

    def submit(
        self, key: str, body: dict, payload: Callable[[], bytes] | None = None, *, looked_up: bool = False
    ) -> concurrent.futures.Future:
        """A future `Reply` for this request. Blocks while too many prepared requests are waiting.

        `body` is the request as a dict; `payload`, if given, builds the exact JSON bytes to send
        (see `messages.Request.payload`, which avoids re-encoding base64 images). `looked_up=True`:
        the caller has just asked the store (`lookup_many`), so only the requests in flight are checked.
        """
        found = self._inflight.get(key) if looked_up else self.lookup(key)
        if found is not None:
            return found
        if not self._publishing and time.monotonic() - self._publish_checked > 0.5:
            self._start_publishing()  # an engine made before the CLI's bar (a warm start) joins it
        stopped = self.guard.stopped  # an outage's give-up fails rows in `Sender.attempt` (it still probes)
        if stopped or lifecycle.STOPPING.is_set() or self._loop.is_closed() or not self._thread.is_alive():
            done: concurrent.futures.Future = concurrent.futures.Future()
            why = (
                f"not sent: the run was stopped ({stopped})" if stopped else "interrupted before it was sent"
            )
            done.set_result(Reply.failed(one_line(why)))
            return done
        self._admit.acquire()
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._inflight[key] = fut
        fut.add_done_callback(lambda _f, k=key: self._finished(k))
        with self._queue_lock:  # one loop wake-up per burst of submissions, not one per request
            self._queue.append((fut, key, body, payload))
            wake, self._wake_pending = not self._wake_pending, True
        if wake:
            self._loop.call_soon_threadsafe(self._start_queued)
        return fut

    def _start_queued(self) -> None:
        """In the loop: start a task for every queued submission."""
        with self._queue_lock:
            queued, self._queue, self._wake_pending = self._queue, collections.deque(), False
        for fut, key, body, payload in queued:
            task = self._loop.create_task(self._run_into(fut, key, body, payload))
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)

    async def _run_into(self, fut: concurrent.futures.Future, key: str, body: dict, payload) -> None:
        reply = None
        try:
            reply = await self._answered_elsewhere(key) or await self._run(key, body, payload)
        except BaseException as err:  # cancelled at shutdown; `_run` itself never raises
            reply = Reply.failed(f"not sent: {type(err).__name__}")
            if not isinstance(err, Exception):
                fut.set_result(reply)
                raise
        finally:  # an answer ended the claim as it was stored; a failure (or a store that fails) ends it here
            if self.store is not None and (reply is None or reply.error is not None or self.store.failing):
                self.store.release(key)
            if self._sender.claims is not None:
                self._sender.claims.forget(key)
        fut.set_result(reply)

    async def _answered_elsewhere(self, key: str) -> Reply | None:
        """Another live process's answer to `key`, waited for while it holds the claim (`claims.py`)."""
        if self._sender.claims is None:
            return None
        reply = await self._sender.claims.answered_elsewhere(key)  # claimed with this loop pass's other keys
        if reply is not None:
            self.stats.cached += 1
        return reply

    def _finished(self, key: str) -> None:
        self._inflight.pop(key, None)
        self._admit.release()

    def _start_publishing(self) -> None:
        self._publish_checked = time.monotonic()  # the environment is read at most twice a second
        if os.environ.get(PROGRESS_ENV) and not self._publishing:
            self._publishing = True
            asyncio.run_coroutine_threadsafe(self._publish_forever(), self._loop)

    def publish_progress(self) -> None:
        """Push this process's counters to the CLI's progress bar (no-op outside the CLI)."""
        publish(self.stats)

    # -- inside the loop ----------------------------------------------------------------------
    async def _publish_forever(self) -> None:
        while True:
            publish(self.stats)
            await asyncio.sleep(0.5)

    async def _run(self, key: str, body: dict, payload: Callable[[], bytes] | None = None) -> Reply:
        attempts, first, adapted, kept = 1, None, 0, ""
        try:
            while True:
                try:  # the first attempt without tenacity's machinery (~0.1 ms a request): most succeed
                    reply = await self._sender.attempt(key, body, payload)
                except Paused:  # the endpoint is down: wait with everyone (`outage.py`), then again
                    continue
                except Adapted as err:  # sent again at once, without the rejected parameter
                    adapted += 1
                    if adapted <= MAX_ADAPTATIONS:  # each resend lacks one more parameter: bounded anyway
                        continue
                    raise Fatal(f"{err} (still rejected after {MAX_ADAPTATIONS} changes: "
                                f"{self.guard.adaptations.describe()})", 400) from None  # fmt: skip
                except Transient as err:
                    first = err
                break
            if first is not None:
                retrying = tenacity.AsyncRetrying(
                    stop=Stop(self.settings.max_retries, self.settings.rate_limit_wait),
                    wait=wait,
                    retry=tenacity.retry_if_exception_type(Transient),
                    reraise=True,
                )
                async for attempt in retrying:
                    with attempt:
                        if first is not None:  # tenacity's attempt 1 is the failure above: wait, or stop
                            failed, first = first, None
                            raise failed
                        attempts += 1
                        self.stats.retries += 1
                        while True:  # an outage's shared pause does not use up this row's retries
                            try:
                                reply = await self._sender.attempt(key, body, payload)
                                break
                            except Paused:
                                continue
            self.stats.ok += 1
            self.stats.prompt_tokens += reply.prompt_tokens
            self.stats.completion_tokens += reply.completion_tokens
            reply = redact_text(reply, self._api_key)  # judged replies are; this holds for any path
            if self.store is not None:  # durable before anyone sees the reply
                await self._stored(key, StoredReply.of(reply, attempts))
            return replace(reply, attempts=attempts)
        except (Transient, Fatal) as err:
            partial = err.partial[:PARTIAL_CHARS]
            kept = (
                f" | partial reply ({len(err.partial):,} chars, not an answer): {partial}" if partial else ""
            )
            error = RequestError(str(err) + kept, status=err.status, attempts=attempts,
                                 retryable=isinstance(err, Transient))  # fmt: skip
            if isinstance(err, Fatal):
                self.guard.judge(err, ok=self.stats.ok)
        except Exception as err:  # never let anything escape the engine
            error = RequestError(f"{type(err).__name__}: {err}", attempts=attempts)
        finally:  # however this request ended, it no longer holds the others back
            self.guard.done(key)
        self.stats.failed += 1
        return Reply.failed(one_line(redact(str(error), self._api_key), 400 + len(kept)), attempts=attempts)

    async def _stored(self, key: str, stored: StoredReply) -> None:
        """Commit this reply with the others that arrived in the same loop pass (one transaction);
        returns once it is committed, so a kill loses only replies not yet handed to anyone."""
        waiter = self._loop.create_future()
        self._to_store.append((key, stored, waiter))
        if len(self._to_store) == 1:
            self._loop.call_soon(self._commit_stored)
        await waiter

    def _commit_stored(self) -> None:
        batch, self._to_store = self._to_store, []
        try:  # a reply the store cannot keep (a full disk) still reaches the output: put warns once
            self.store.add_many([(key, stored) for key, stored, _ in batch])  # type: ignore[union-attr]
        except Exception as err:  # as when each reply was put alone: its row fails with the reason
            for *_, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(err)
            return
        for *_, waiter in batch:
            if not waiter.done():
                waiter.set_result(None)

    def close(self, timeout: float = 5.0) -> None:
        """Close the connections and stop the loop thread. Safe to call twice."""
        lifecycle.OPEN.discard(self)

        async def shutdown() -> None:  # end every task (progress publisher, stragglers), then the pool
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._sender.aclose()

        if not self._loop.is_closed() and self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def in_flight(self) -> list[concurrent.futures.Future]:
        """The futures of the requests this engine has not finished yet."""
        return list(self._inflight.values())


def get_engine(vlm: VLM) -> Engine:
    """The engine for this process and `vlm` (created lazily; never shared across a fork)."""
    key = (os.getpid(), vlm)
    with lifecycle.LOCK:
        engine = lifecycle.ENGINES.get(key)
        if engine is None:
            engine = lifecycle.ENGINES[key] = Engine(vlm)
        return engine


__all__ = ["MAX_ADAPTATIONS", "PARTIAL_CHARS", "Engine", "get_engine"]
