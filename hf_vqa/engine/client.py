"""The request engine: concurrency, retries, rate limits and the store around `transport.py`.

One `Engine` per process and endpoint. It runs a private asyncio event loop in a background thread,
so it works the same in scripts, in `num_proc` workers and inside Jupyter (whose own loop is
already running). The connection pool (`transport.py`) is created lazily inside that loop, after any fork.

Each request: wait for a slot (adaptive concurrency, `concurrency.py`), POST the prepared JSON bytes, and
retry with tenacity on 429, 5xx, timeouts, dropped connections and malformed or empty replies
(exponential backoff with jitter, or the server's Retry-After). 400/401/403/404 are not retried.
Every failure becomes a `Reply` with `error` set; no exception ever leaves the engine. Successful
replies go to the durable store first.

HTTP itself is `transport.py`: the SDK configures the connection, and one POST is sent per attempt.

Example:
    >>> engine = get_engine(VLM(base_url="http://127.0.0.1:8000/v1", api_key_env=""))  # doctest: +SKIP
    >>> engine.submit(key, body).result().text  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import tenacity

from hf_vqa.config import VLM
from hf_vqa.engine.concurrency import AdaptiveLimiter
from hf_vqa.engine.guard import MAX_CHANGES, SAME_400_STOP, STOP_STATUSES, Guard
from hf_vqa.engine.http_reply import ReplyTooLarge, TransportError
from hf_vqa.engine.outage import GaveUp, Outage
from hf_vqa.engine.progress import ENV as PROGRESS_ENV
from hf_vqa.engine.progress import publish
from hf_vqa.engine.ratelimit import SharedBucket, estimate_tokens
from hf_vqa.engine.replies import Fatal, Reply, Stop, Transient, judge, redact, redact_text, wait
from hf_vqa.engine.store import StoredReply, get_store
from hf_vqa.engine.transport import Transport
from hf_vqa.errors import RequestError, one_line

_log = logging.getLogger(__name__)
OUTAGE_REQUESTS = 8  # failures of this many different requests in a row (fewer at low concurrency): down
MAX_ADAPTATIONS = MAX_CHANGES  # changes tried for one row before its 400 is final
PARTIAL_CHARS = 4000  # of a partial reply's text, kept in the row's error for a person to read


class _Adapted(Transient):
    """The endpoint rejected a parameter; the run now sends without it: send this row again, at once."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400, retry_after=0.0)


class _Paused(Exception):
    """The endpoint is down (`outage.py`): this row waits with all the others, its retries untouched."""


class _Admission:
    """A counting semaphore that wakes a blocked producer only once `wake_every` slots are free,
    so the producer and the event loop hand over the GIL once per few replies, not once per reply."""

    def __init__(self, limit: int, wake_every: int) -> None:
        self.limit, self.wake_every, self.used, self.waiting = limit, wake_every, 0, False
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while self.used >= self.limit:
                self.waiting = True
                self._cond.wait()
            self.used += 1

    def release(self) -> None:
        with self._cond:
            self.used -= 1
            if self.waiting and (self.limit - self.used >= self.wake_every or self.used == 0):
                self.waiting = False
                self._cond.notify_all()


@dataclass
class EngineStats:
    """Counters for progress display and summaries (this process only)."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    retries: int = 0
    rate_limited: int = 0
    cached: int = 0
    prep_failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    adapted: int = 0
    started: float = field(default_factory=time.monotonic)


class Engine:
    """Sends chat-completion requests for one process, with concurrency, retries and the store."""

    def __init__(self, vlm: VLM) -> None:
        self.vlm = vlm
        self.stats = EngineStats()
        self.store = get_store(vlm.cache_dir) if vlm.use_store else None
        self._api_key = vlm.api_key()  # fail fast, before any request, if the key is missing
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hf_vqa-engine", daemon=True)
        self._thread.start()
        _ALL.add(self)
        self._transport: Transport | None = None  # made in the loop, at the first request
        self._limiter: AdaptiveLimiter | None = None
        self._inflight: dict[str, concurrent.futures.Future] = {}
        self._queue: collections.deque = collections.deque()
        self._queue_lock, self._wake_pending = threading.Lock(), False
        self._tasks: set[asyncio.Task] = set()
        self._to_store: list[tuple[str, StoredReply, asyncio.Future]] = []  # committed together (`_stored`)
        # Backpressure: at most this many prepared requests (image data included) exist at once.
        self._admit = _Admission(2 * vlm.max_concurrency + 8, wake_every=max(1, vlm.max_concurrency // 4))
        # max_retries=0 asks for no retries: then nothing waits on an outage either (an unreachable threshold)
        threshold = max(2, min(OUTAGE_REQUESTS, vlm.max_concurrency)) if vlm.max_retries else 0
        self.outage = Outage(vlm.base_url, give_up_after=vlm.give_up_after, threshold=threshold)
        folder = vlm.cache_folder
        name = f"{vlm.base_url}|{vlm.model}" + (f"|{vlm.rate_scope}" if vlm.rate_scope else "")
        if os.environ.get(PROGRESS_ENV):
            asyncio.run_coroutine_threadsafe(self._publish_forever(), self._loop)
        self.guard = Guard(vlm, self._api_key)  # adapting to the endpoint; stopping a run that cannot succeed
        self._rpm = SharedBucket(folder, "rpm|" + name, vlm.rpm) if vlm.rpm else None
        self._tpm = SharedBucket(folder, "tpm|" + name, vlm.tpm) if vlm.tpm else None

    # -- public -------------------------------------------------------------------------------
    def lookup(self, key: str) -> concurrent.futures.Future | None:
        """A resolved future if the store already has this request's reply, or one in flight."""
        if self.store is not None:
            hit = self.store.get(key)
            if hit is not None:
                self.stats.cached += 1
                fut: concurrent.futures.Future = concurrent.futures.Future()
                fut.set_result(hit.reply())
                return fut
        return self._inflight.get(key)

    def submit(
        self, key: str, body: dict, payload: Callable[[], bytes] | None = None
    ) -> concurrent.futures.Future:
        """A future `Reply` for this request. Blocks while too many prepared requests are waiting.

        `body` is the request as a dict; `payload`, if given, builds the exact JSON bytes to send
        (see `messages.Request.payload`, which avoids re-encoding base64 images).
        """
        found = self.lookup(key)
        if found is not None:
            return found
        stopped = self.guard.stopped  # an outage's give-up fails rows in `_attempt` (it still probes)
        if stopped or _STOPPING.is_set() or self._loop.is_closed() or not self._thread.is_alive():
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
        fut.set_result(reply)

    def _claim_ttl(self) -> float:
        """How long a claim on a key lasts without renewal: one attempt's deadline and some slack."""
        return self.vlm.timeout + 60.0

    async def _answered_elsewhere(self, key: str) -> Reply | None:
        """Claim `key` in the shared store (`store_leases.py`). While another live process holds it,
        wait for its answer (bounded by one claim's lifetime) and return that: never pay twice."""
        if self.store is None:
            return None
        ttl, pause = self._claim_ttl(), 0.02
        deadline = time.monotonic() + ttl
        while not self.store.claim(key, ttl) and time.monotonic() < deadline:
            hit = self.store.get(key)
            if hit is not None:
                break
            await asyncio.sleep(pause)
            pause = min(0.5, pause * 1.5)
        hit = self.store.get(key)  # also: answered between the lookup and the claim
        if hit is None:
            return None
        self.store.release(key)
        self.stats.cached += 1
        return hit.reply()

    def _finished(self, key: str) -> None:
        self._inflight.pop(key, None)
        self._admit.release()

    def publish_progress(self) -> None:
        """Push this process's counters to the CLI's progress bar (no-op outside the CLI)."""
        publish(self.stats)

    # -- inside the loop ----------------------------------------------------------------------
    async def _publish_forever(self) -> None:
        while True:
            publish(self.stats)
            await asyncio.sleep(0.5)

    async def _run(self, key: str, body: dict, payload: Callable[[], bytes] | None = None) -> Reply:
        if self._limiter is None:
            self._limiter = AdaptiveLimiter(self.vlm.max_concurrency, cooldown=0.25)
        attempts, first, adapted, kept = 1, None, 0, ""
        try:
            while True:
                try:  # the first attempt without tenacity's machinery (~0.1 ms a request): most succeed
                    reply = await self._attempt(key, body, payload)
                except _Paused:  # the endpoint is down: wait with everyone (`outage.py`), then again
                    continue
                except _Adapted as err:  # sent again at once, without the rejected parameter
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
                    stop=Stop(self.vlm.max_retries, self.vlm.rate_limit_wait),
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
                                reply = await self._attempt(key, body, payload)
                                break
                            except _Paused:
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

    async def _attempt(self, key: str, body: dict, payload: Callable[[], bytes] | None) -> Reply:
        """One send: wait for the run's first request (`guard.py`; before taking a slot, so the waiting
        requests never hold the slots the first one needs), the rate limits and a slot, then POST."""
        await self.guard.enter(key)
        if self.store is not None:  # renew this run's claim on the key for one more attempt
            self.store.claim(key, self._claim_ttl())
        adapting = False
        try:
            try:
                await self.outage.enter(key)  # the endpoint is down: wait with every other row
            except GaveUp as err:
                raise Fatal(str(err)) from None
            estimate = await self._respect_rate_limits(body)
            async with self._limiter.slot():
                reply = await self._send(key, body, payload)
        except _Adapted:
            adapting = True
            raise
        finally:
            self.outage.leave(key)
            self.guard.leave(key, adapting=adapting)
        if self._tpm is not None:
            self._tpm.adjust(reply.prompt_tokens + reply.completion_tokens - estimate)
        return reply

    async def _respect_rate_limits(self, body: dict) -> int:
        """Reserve this attempt in the shared rpm/tpm buckets and sleep until it is due."""
        if self._rpm is None and self._tpm is None:
            return 0
        estimate = estimate_tokens(body) if self._tpm is not None else 0
        loop = asyncio.get_running_loop()
        waits = [0.0]
        if self._rpm is not None:
            waits.append(await loop.run_in_executor(None, self._rpm.reserve, 1))
        if self._tpm is not None:
            waits.append(await loop.run_in_executor(None, self._tpm.reserve, estimate))
        if max(waits) > 0:
            await asyncio.sleep(max(waits))
        return estimate

    async def _send(self, key: str, body: dict, payload: Callable[[], bytes] | None) -> Reply:
        if self.guard.stopped:
            raise Fatal(f"not sent: the run was stopped ({self.guard.stopped})")
        try:
            if not self.outage.may_send(key):  # it went down while this one waited for a slot
                raise _Paused("waiting for the endpoint")
        except GaveUp as err:
            raise Fatal(str(err)) from None
        if self._transport is None:
            self._transport = Transport.open(self.vlm.base_url, self._api_key, timeout=self.vlm.timeout,
                                             max_connections=self.vlm.max_concurrency + 8,
                                             max_reply_bytes=self.vlm.max_reply_bytes)  # fmt: skip
        sent = self.guard.rewrite(body)
        content = self._content(sent, body, payload)
        self.stats.sent += 1
        started = time.monotonic()
        try:  # transport.py's deadline covers the whole request, a whole stream included
            resp = await self._transport.post(content, spread=hash(key))
        except ReplyTooLarge as err:  # the same request would get the same answer: final, nothing kept
            raise Fatal(str(err), 200) from None
        except TransportError as err:  # refused, dropped, timed out
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("POST %s (%d bytes, key %.12s) failed after %.3fs: %s", self._transport.url.split("?")[0],
                           len(content), key, time.monotonic() - started, err)  # fmt: skip
            if err.timeout:
                message = f"timed out after {self.vlm.timeout:g}s (deadline for the whole reply)"
            else:
                message = f"connection error: {one_line(str(err))}"
            self._no_answer(key, message)
            raise Transient(message) from None
        status = resp.status
        if status < 500:
            self.outage.succeeded()  # the endpoint answered
        if _log.isEnabledFor(logging.DEBUG):  # never the headers: they carry the key
            _log.debug("POST %s (%d bytes, key %.12s) -> HTTP %d in %.3fs", self._transport.url.split("?")[0], len(content),
                       key, status, time.monotonic() - started)  # fmt: skip
        try:
            reply = judge(resp, self._api_key)
        except Transient as err:
            if err.status == 429:
                self.stats.rate_limited += 1
                self._limiter.on_rate_limited(err.retry_after)
            elif err.status and err.status >= 500:  # a gateway whose upstream is down answers 5xx
                self._no_answer(key, one_line(f"HTTP {err.status}: {err}", 300))
            raise
        except Fatal as err:
            if err.status in (400, 422) and self.guard.adapt(resp.content, sent, str(err)):
                self.stats.adapted += 1
                raise _Adapted(str(err)) from None
            raise
        self._limiter.on_success()
        return reply

    @staticmethod
    def _content(sent: dict, body: dict, payload: Callable[..., bytes] | None) -> bytes:
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

    def close(self, timeout: float = 5.0) -> None:
        """Close the connections and stop the loop thread. Safe to call twice."""
        _ALL.discard(self)
        transport, self._transport = self._transport, None

        async def shutdown() -> None:  # end every task (progress publisher, stragglers), then the pool
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if transport is not None:
                await transport.aclose()

        if not self._loop.is_closed() and self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _no_answer(self, key: str, message: str) -> None:
        """No usable answer (connection error, timeout, 5xx): count it towards an outage; once the
        endpoint is down, the row waits with the others (`_Paused`), or fails when the run gave up."""
        self.outage.failed(key, redact(message, self._api_key), pending=len(self._inflight))
        if self.outage.gave_up:
            raise Fatal(self.outage.gave_up)
        if self.outage.active:
            raise _Paused(message)


_ENGINES: dict[tuple, Engine] = {}
_ALL: set[Engine] = set()  # every open engine of this process (each owns a loop thread) until closed
_STOPPING = threading.Event()
_LOCK = threading.Lock()


def get_engine(vlm: VLM) -> Engine:
    """The engine for this process and `vlm` (created lazily; never shared across a fork)."""
    key = (os.getpid(), vlm)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = Engine(vlm)
        return engine


def drain_engines(timeout: float) -> int:
    """Wait up to `timeout` seconds for this process's in-flight requests (their replies are stored).

    Used on Ctrl-C: replies already on the wire are paid for, so let them land in the store instead of
    sending them again on the rerun. Returns how many were still unfinished.
    """
    _STOPPING.set()  # no new requests from here on (the lookahead thread included)
    futures = [f for engine in list(_ENGINES.values()) for f in list(engine._inflight.values())]
    _done, pending = concurrent.futures.wait(futures, timeout=timeout)
    return len(pending)


def close_engines() -> None:
    """Close every engine of this process (at exit, so no open connection is left for the GC to report).

    Example:
        >>> close_engines()  # the next `get_engine` call makes a fresh one
    """
    if os.getpid() != _PID[0]:
        return
    with _LOCK:
        _ENGINES.clear()
        engines = list(_ALL)
        _ALL.clear()
    for engine in engines:
        engine.close(timeout=2.0)


def _forget_after_fork() -> None:
    # The parent's engines are not this process's to use or close (their loop thread did not fork).
    # Keep the copies referenced: dropped, the GC would report their sockets as "Unclosed client
    # session" in every forked num_proc worker of a notebook that had already sent requests.
    _INHERITED.extend(_ALL)
    _ENGINES.clear()
    _ALL.clear()
    _PID[0] = os.getpid()


_INHERITED: list[Engine] = []


_PID = [os.getpid()]
os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(close_engines)


__all__ = [
    "MAX_ADAPTATIONS",
    "OUTAGE_REQUESTS",
    "SAME_400_STOP",
    "STOP_STATUSES",
    "Engine",
    "EngineStats",
    "close_engines",
    "drain_engines",
    "get_engine",
]
