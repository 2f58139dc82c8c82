"""A loopback, OpenAI-compatible mock VLM: a real HTTP/1.1 server built on ``asyncio.start_server``.

Every request is validated against OpenAI's schema (`hf_vqa.mock.requests`) and every distinct image
is decoded (`hf_vqa.mock.images`); answers are computed from the images (`hf_vqa.mock.answers`).
Latency, faults and a concurrency cap are injected on demand. Tests run it in-process; the CLI's
``--mock`` flag runs ``python -m hf_vqa.mock.server``.

This module runs the server (`MockVLM`: start, stop, counters, runtime settings) and is its program
(`main`); the HTTP framing is `framing.py`, what each route answers is `routes.py`, and starting it as a
subprocess is `process.py`.

Example:
    >>> with MockVLM(latency=0.01, faults={"500": 0.1}) as vlm:  # doctest: +SKIP
    ...     client = openai.OpenAI(base_url=vlm.base_url, api_key="test")
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import signal
import sys
import threading
from typing import Any

from hf_vqa.errors import ConfigError
from hf_vqa.mock import requests as mock_requests
from hf_vqa.mock.answers import FAULT_KINDS, Settings
from hf_vqa.mock.batch import BatchBackend
from hf_vqa.mock.framing import serve_connection
from hf_vqa.mock.hostile import HOSTILE_KINDS
from hf_vqa.mock.images import image_tag, parse_tags
from hf_vqa.mock.process import _FLAGS, _HELP, EXIT_OK, EXIT_USAGE, start_subprocess, watch_parent
from hf_vqa.mock.routes import Routes

__all__ = [
    "FAULT_KINDS",
    "HOSTILE_KINDS",
    "MockVLM",
    "Settings",
    "image_tag",
    "main",
    "parse_tags",
    "start_subprocess",
]

OUTCOMES = (
    "ok",
    *FAULT_KINDS,
    *HOSTILE_KINDS,
    "invalid",
    "unauthorized",
    "concurrency_429",
    "internal_error",
)
# what `--mock` serves: its own name and well-known vision model ids, so a typo is refused like a real server
SERVED_MODELS = ("mock-vlm", "gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5",
                 "gpt-5-mini", "gpt-5-nano", "o3", "o4-mini")  # fmt: skip


class MockVLM(Routes):
    """The mock server; `start` serves it from a background thread with its own event loop.

    Example: ``with MockVLM(max_concurrent=4) as vlm: openai.OpenAI(base_url=vlm.base_url, api_key="x")``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: dict[str, float] | None = None,
        fault_rate: float = 0.0,
        retry_after: float = 1.0,
        slow_seconds: float = 30.0,
        max_concurrent: int | None = None,
        seed: int = 0,
        api_key: str | None = None,
        profile: str = "openai",
        prose_rate: float = 0.0,
        models: str | tuple[str, ...] | None = None,
    ) -> None:
        self._validate = mock_requests.request_validator()  # ConfigError when jsonschema is missing
        self.settings = Settings(
            latency=latency,
            jitter=jitter,
            faults=dict(faults or {}),
            fault_rate=fault_rate,
            retry_after=retry_after,
            slow_seconds=slow_seconds,
            max_concurrent=max_concurrent,
            profile=profile,
            prose_rate=prose_rate,
        )
        self.host, self.port, self.seed, self.api_key, self.base_url = host, port, seed, api_key, ""
        if isinstance(models, str):
            models = tuple(m.strip() for m in models.split(",") if m.strip())
        self.models: tuple[str, ...] | None = models or None  # None: any model name is answered
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self.batch = BatchBackend(self._validate, seed=seed)  # /v1/files and /v1/batches (mock/batch.py)
        self.reset()

    def start(self) -> MockVLM:
        """Listen, serve from a daemon thread, set ``.port`` and ``.base_url``; returns self."""
        if self._thread is not None:
            raise ConfigError("MockVLM is already running", received=self.base_url, fix="call stop() first")
        ready, failure = threading.Event(), []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="MockVLM", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            where = f"{self.host}:{self.port}"
            raise ConfigError(f"mock VLM cannot listen on {where}", received=failure[0], fix="use port=0")
        self.base_url = f"http://{self.host}:{self.port}/v1"
        return self

    def stop(self) -> None:
        """Close the listener and all connections (cancelling held requests) and join the thread."""
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._thread = self._loop = None

    def __enter__(self) -> MockVLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event, failure: list[OSError]) -> None:
        loop = self._loop = asyncio.new_event_loop()
        start = asyncio.start_server(  # limit: bodies up to 2 MiB are read without pausing the socket
            self._connection, self.host, self.port, reuse_address=True, backlog=2048, limit=1 << 20
        )
        try:
            server = loop.run_until_complete(start)
            self.port = server.sockets[0].getsockname()[1]
        except OSError as exc:
            failure.append(exc)
            loop.close()
            return ready.set()
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown(server))
            loop.close()

    @staticmethod
    async def _shutdown(server: asyncio.Server) -> None:
        server.close()
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    def stats(self) -> dict[str, int]:
        """A snapshot of the counters (also ``GET /_stats``), e.g. ``vlm.stats()["ok"]``."""
        with self._lock:
            extra = {"in_flight": self._in_flight, "max_in_flight": self._max_in_flight}
            return {**self._counts, **extra, "duplicates": self._duplicates, "unique_ok": len(self._answered)}

    def last_headers(self) -> dict[str, str]:
        """The headers (lower-case names) of the last chat request: ``vlm.last_headers()["user-agent"]``."""
        return dict(getattr(self, "_last_headers", {}))

    def last_roles(self) -> list[str]:
        """The message roles of the last chat request: ``vlm.last_roles() == ["system", "user"]``."""
        return list(getattr(self, "_last_roles", []))

    def reset(self) -> None:
        """Zero all counters and re-seed the fault RNG (also ``POST /_reset``)."""
        with self._lock:
            self._counts = dict.fromkeys(("requests", *OUTCOMES, "images_decoded"), 0)
            self._answered: dict[str, int] = {}
            self._duplicates, self._max_in_flight, self._served = 0, self._in_flight, 0
            self._rng, self._jitter_rng = random.Random(self.seed), random.Random(self.seed + 1)
        if hasattr(self, "batch"):
            self.batch.reset()

    def configure(self, **changes: Any) -> None:
        """Change `Settings` fields at runtime (``seed=`` re-seeds): ``vlm.configure(fault_rate=0.2)``."""
        seed = changes.pop("seed", None)
        known = [f.name for f in dataclasses.fields(Settings)]
        if set(changes) - set(known):
            raise ConfigError("unknown mock setting", received=sorted(changes), fix=f"use {known} or seed")
        if "faults" in changes:
            changes["faults"] = dict(changes["faults"] or {})
        self.settings = dataclasses.replace(self.settings, **changes)
        if seed is not None:
            self.seed = int(seed)
            with self._lock:
                self._rng, self._jitter_rng = random.Random(self.seed), random.Random(self.seed + 1)

    def _count(self, outcome: str, n: int = 1) -> None:
        with self._lock:
            self._counts[outcome] += n

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, self._dispatch)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT: ``python -m hf_vqa.mock.server --port 8000 --fault-rate 0.1``."""
    parser = argparse.ArgumentParser(
        prog="python -m hf_vqa.mock.server",
        description=(__doc__ or "").split("\n")[0] + " Prints `MOCK_VLM_READY <base_url>` when ready.",
    )
    for name, kind in _FLAGS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=kind, default=argparse.SUPPRESS, help=_HELP[name]
        )
    try:
        vlm = MockVLM(**vars(parser.parse_args(argv))).start()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
    watch_parent(done)
    print(f"MOCK_VLM_READY {vlm.base_url}", flush=True)
    done.wait()
    vlm.stop()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
