"""A loopback, OpenAI-compatible mock VLM: a real HTTP/1.1 server built on ``asyncio.start_server``.

Every request is validated against OpenAI's schema (`hf_vqa.mock.requests`) and every distinct image
is decoded (`hf_vqa.mock.images`); answers are computed from the images (`hf_vqa.mock.answers`).
Latency, faults and a concurrency cap are injected on demand. Tests run it in-process; the CLI's
``--mock`` flag runs ``python -m hf_vqa.mock.server``.

Example:
    >>> with MockVLM(latency=0.01, faults={"500": 0.1}) as vlm:  # doctest: +SKIP
    ...     client = openai.OpenAI(base_url=vlm.base_url, api_key="test")
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import http
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Any

from hf_vqa.errors import ConfigError
from hf_vqa.mock import answers as answers
from hf_vqa.mock import hostile, profiles
from hf_vqa.mock import requests as mock_requests
from hf_vqa.mock.answers import FAULT_KINDS, Settings
from hf_vqa.mock.batch import BatchBackend
from hf_vqa.mock.hostile import HOSTILE_KINDS
from hf_vqa.mock.images import ImageRejected, image_tag, parse_tags

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
EXIT_OK, EXIT_USAGE = 0, 2  # as the hf-vqa command line (cli.command): done; bad arguments, one line
_MODEL = {"id": "mock-vlm", "object": "model", "created": 0, "owned_by": "hf_vqa"}
# what `--mock` serves: its own name and well-known vision model ids, so a typo is refused like a real server
SERVED_MODELS = ("mock-vlm", "gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5",
                 "gpt-5-mini", "gpt-5-nano", "o3", "o4-mini")  # fmt: skip
_FLAGS = {"host": str, "port": int, "latency": float, "jitter": float, "fault_rate": float, "seed": int}
_FLAGS |= {"faults": json.loads, "max_concurrent": int, "retry_after": float, "slow_seconds": float}
_FLAGS |= {"api_key": str, "profile": str, "models": str}
_HELP = {
    "host": "address to listen on (default: 127.0.0.1; keep it on loopback)",
    "port": "port to listen on (default: 0, a free port; the ready line names it)",
    "latency": "seconds each answer waits (default: 0)",
    "jitter": "random extra +/- seconds on each answer's latency (default: 0)",
    "fault_rate": "share of requests that fail, spread over the fault kinds (default: 0)",
    "seed": "random seed for faults and jitter (default: 0)",
    "faults": f"JSON {{kind: share}}, kinds: {', '.join(FAULT_KINDS)} (default: none), e.g. '{{\"500\": 0.1}}'",
    "max_concurrent": "requests in flight before it answers 429 (default: no cap)",
    "retry_after": "seconds its 429s ask the client to wait (default: 1)",
    "slow_seconds": "how long a 'slow' fault stalls (default: 30)",
    "api_key": "require this bearer key (default: accept any)",
    "models": "comma-separated model names it serves; others get 404 model_not_found (default: any name)",
    "profile": "a provider's documented quirks: openai, openai-reasoning, stream-only-thinking, vllm, gateway, no-structured "
    "(default: openai; see hf_vqa/mock/profiles.py)",
}


@dataclasses.dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    trickle: float = 0.0  # seconds between body bytes (the "trickle" reply)

    @classmethod
    def json(cls, status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
        return cls(status, json.dumps(payload).encode(), headers)

    @classmethod
    def error(
        cls, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
    ) -> _Reply:
        return cls.json(status, answers.error_body(message, kind, code))

    @classmethod
    def retry(cls, message: str, seconds: float) -> _Reply:
        headers = (("Retry-After", str(math.ceil(seconds))), ("retry-after-ms", str(round(seconds * 1000))))
        return cls.json(429, answers.error_body(message, "requests", "rate_limit_exceeded"), headers)

    def encode(self, keep_alive: bool) -> bytes:
        phrase, connection = http.HTTPStatus(self.status).phrase, "keep-alive" if keep_alive else "close"
        head = f"HTTP/1.1 {self.status} {phrase}\r\nContent-Type: {self.content_type}\r\n"
        head += f"Content-Length: {len(self.body)}\r\nConnection: {connection}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in self.headers)
        return (head + "\r\n").encode("latin-1") + self.body


class MockVLM:
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
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                try:
                    lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
                    method, target, version = lines[0].split(" ")
                    headers = {
                        k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
                    }
                    length = int(headers.get("content-length", "0"))
                    if "chunked" in headers.get("transfer-encoding", "").lower():
                        raise ValueError("chunked request bodies are not supported; send Content-Length")
                except ValueError as exc:
                    return writer.write(_Reply.error(400, f"malformed HTTP request: {exc}").encode(False))
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await reader.readexactly(length)
                connection = headers.get("connection", "").lower()
                keep_alive = connection == "keep-alive" if version == "HTTP/1.0" else connection != "close"
                reply = await self._dispatch(method, target.partition("?")[0], headers, body)
                if reply is None:  # the "drop" fault
                    return writer.transport.abort()
                if reply.trickle:
                    await self._trickle(writer, reply.encode(keep_alive), len(reply.body), reply.trickle)
                else:
                    writer.write(reply.encode(keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except asyncio.CancelledError:  # stop(): end quietly (3.11 streams log cancelled handler tasks)
            pass
        finally:
            writer.close()

    @staticmethod
    async def _trickle(writer: asyncio.StreamWriter, data: bytes, body_bytes: int, seconds: float) -> None:
        """The head at once, then the body one byte every `seconds` (bounded by the body's length)."""
        head = len(data) - body_bytes
        writer.write(data[:head])
        for i in range(head, len(data)):
            await writer.drain()
            await asyncio.sleep(seconds)
            writer.write(data[i : i + 1])

    async def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Reply | None:
        if path.startswith(("/v1/files", "/v1/batches")):
            if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
                return _Reply.error(401, "Incorrect API key provided to the mock VLM", code="invalid_api_key")
            loop = asyncio.get_running_loop()  # answering a batch decodes images: off the loop
            status, payload, extra = await loop.run_in_executor(
                None, self.batch.handle, method, path, headers, body
            )
            return _Reply(status, payload, extra)
        if (method, path) == ("POST", "/_batch_config"):
            try:
                self.batch.configure(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return _Reply.error(400, f"bad /_batch_config body: {exc}")
            return _Reply.json(200, self.batch.faults)
        if (method, path) == ("GET", "/_batch_stats"):
            return _Reply.json(200, self.batch.stats())
        if path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                return _Reply.error(405, f"use POST for {path}, not {method}")
            return await self._chat(headers, body)
        if method == "GET" and path in ("/v1/models", "/models"):
            listed = [{**_MODEL, "id": name} for name in self.models or ("mock-vlm",)]
            return _Reply.json(200, {"object": "list", "data": listed})
        if (method, path) == ("GET", "/_stats"):
            return _Reply.json(200, self.stats())
        if (method, path) == ("POST", "/_reset"):
            self.reset()
            return _Reply.json(200, self.stats())
        if (method, path) == ("POST", "/_config"):
            try:
                self.configure(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return _Reply.error(400, f"bad /_config body: {exc}")
            return _Reply.json(200, dataclasses.asdict(self.settings))
        return _Reply.error(404, f"the mock VLM has no route {method} {path}", code="unknown_url")

    async def _chat(self, headers: dict[str, str], raw: bytes) -> _Reply | None:
        settings = self.settings
        self._count("requests")
        self._last_headers = headers
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            self._count("unauthorized")
            payload, kind = profiles.auth_error(settings.profile)
            return _Reply(401, payload, content_type=kind)
        with self._lock:
            if settings.max_concurrent is not None and self._in_flight >= settings.max_concurrent:
                self._counts["concurrency_429"] += 1
                text = f"mock VLM is at max_concurrent={settings.max_concurrent}"
                return _Reply.retry(text, settings.retry_after)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return await self._answer(settings, raw, headers)
        except Exception as exc:  # a bug in the mock must surface as a 500, never as a hung client
            self._count("internal_error")
            return _Reply.error(500, f"mock VLM internal error: {exc!r}", "server_error")
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _answer(self, settings: Settings, raw: bytes, headers: dict[str, str]) -> _Reply | None:
        try:
            body = mock_requests.loads_request(raw)
        except ValueError as exc:
            self._count("invalid")
            return _Reply.error(400, f"request body is not valid JSON: {exc}")
        problem = self._validate(body)
        if problem is None and self.models is not None and body.get("model") not in self.models:
            self._count("invalid")  # as OpenAI answers an unknown model
            return _Reply.error(404, f"The model `{body.get('model')}` does not exist or you do not have access "
                                f"to it. The mock VLM serves: {', '.join(self.models)}", code="model_not_found")  # fmt: skip
        self._last_roles = [m.get("role") for m in body.get("messages") or [] if isinstance(m, dict)]
        rejected = profiles.reject(settings.profile, body) if problem is None else None
        if rejected is not None:
            self._count("invalid")
            return _Reply.json(*rejected)
        if problem is None:
            try:
                completion = answers.complete(body, settings.prose_rate)
            except ImageRejected as exc:
                problem = str(exc)
        if problem is not None:
            self._count("invalid")
            return _Reply.json(400, profiles.error(settings.profile, 400, problem))
        with self._lock:
            self._counts["images_decoded"] += completion.images
            draw, jitter = self._rng.random(), self._jitter_rng.uniform(-settings.jitter, settings.jitter)
        kind = settings.pick(draw)
        key = mock_requests.request_key(body) if kind is None else ""
        with self._lock:
            self._counts[kind or "ok"] += 1
            if key:
                self._duplicates += key in self._answered
                self._answered[key] = self._answered.get(key, 0) + 1
        if kind == "429":
            return _Reply.retry("Rate limit reached for mock-vlm (injected fault)", settings.retry_after)
        await asyncio.sleep(max(0.0, settings.latency + jitter))
        if kind == "timeout":
            await asyncio.sleep(settings.slow_seconds)
        if kind == "drop":
            return None
        if kind in ("500", "503"):
            return _Reply.error(int(kind), f"injected {kind} fault: the mock VLM failed", "server_error")
        if kind == "empty":
            completion = dataclasses.replace(
                completion, content="", completion_tokens=0, finish_reason="stop"
            )
        if kind in HOSTILE_KINDS:
            status, data, content_type, trickle = hostile.reply(
                kind, answers.completion_response(body, completion), headers
            )
            return _Reply(status, data, content_type=content_type, trickle=trickle)
        with self._lock:
            serial, self._served = self._served, self._served + 1
        status, payload, content_type = profiles.render(
            settings.profile, body, answers.completion_response(body, completion), serial
        )
        payload = payload[: len(payload) // 2] if kind == "malformed" else payload
        return _Reply(status, payload, content_type=content_type)


def start_subprocess(*, timeout: float = 30.0, **kwargs: Any) -> tuple[subprocess.Popen, str]:
    """Run ``python -m hf_vqa.mock.server`` with `MockVLM` kwargs; return ``(process, base_url)`` when ready.

    Example: ``proc, url = start_subprocess(latency=0.05); ...; proc.terminate(); proc.wait()``.
    """
    if set(kwargs) - set(_FLAGS):
        raise ConfigError("unknown mock option", received=sorted(kwargs), fix=f"use {sorted(_FLAGS)}")
    argv = [sys.executable, "-m", "hf_vqa.mock.server"]
    for name, value in {"port": 0, **kwargs}.items():
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", json.dumps(value) if name == "faults" else str(value)]
    with tempfile.TemporaryFile() as stderr:
        env = {
            **os.environ,
            PARENT_ENV: str(os.getpid()),
        }  # it stops when this process is gone (a SIGKILL too)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        found: list[str] = []
        ready = threading.Event()

        def drain() -> None:  # keeps reading stdout so the child never blocks on a full pipe
            for line in proc.stdout or ():
                if not found and line.startswith("MOCK_VLM_READY "):
                    found.append(line.split()[1])
                    ready.set()
            ready.set()

        threading.Thread(target=drain, name="mock-vlm-stdout", daemon=True).start()
        ready.wait(timeout)
        if not found:
            try:  # stdout closed (ready is set) means the child is exiting: collect its code
                code: int | None = proc.wait(timeout=2 if ready.is_set() else 0.01)
            except subprocess.TimeoutExpired:
                code = None
            status = f"exited with code {code}" if code is not None else f"was not ready within {timeout}s"
            proc.kill()
            proc.wait()
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-2000:] or " ".join(argv)
            said = [line[len("error: ") :] for line in tail.splitlines() if line.startswith("error: ")]
            if code == EXIT_USAGE and said:  # its own one-line error already says what to fix
                raise ConfigError(f"the mock VLM did not start: {said[-1]}")
            what = f"mock VLM subprocess {status} without printing MOCK_VLM_READY"
            raise ConfigError(
                what, received=tail, fix="check the options; see python -m hf_vqa.mock.server --help"
            )
    return proc, found[0]


PARENT_ENV = "HF_VQA_MOCK_PARENT"  # set by `start_subprocess`: the pid whose end stops the mock


def watch_parent(done: threading.Event, every: float = 0.5) -> None:
    """When started by `start_subprocess`, set `done` once the parent process is gone (killed with
    SIGKILL, it cannot stop us itself): a thread checks every `every` seconds whether we were
    re-parented. (Not PR_SET_PDEATHSIG: it fires when the parent *thread* that started us ends.)"""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return

    def watch() -> None:
        while not done.wait(every):
            if os.getppid() != int(parent):  # re-parented: the process that started us died
                done.set()

    threading.Thread(target=watch, name="mock-vlm-parent", daemon=True).start()


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
