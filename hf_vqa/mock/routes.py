"""What the mock VLM answers: its routes (chat completions, models, the batch API, its own stats and
config), and a chat request's whole path: the key, the concurrency cap, the schema check, the provider
profile, the injected fault, the answer.

`Routes` is a mixin of `MockVLM` (`server.py`), which holds the state these read (settings, counters,
the batch backend); the bytes on the wire are `framing.py`.

Example:
    >>> sorted(_MODEL)
    ['created', 'id', 'object', 'owned_by']
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

from hf_vqa.mock import answers, hostile, profiles
from hf_vqa.mock import requests as mock_requests
from hf_vqa.mock.answers import Settings
from hf_vqa.mock.framing import Reply
from hf_vqa.mock.hostile import HOSTILE_KINDS
from hf_vqa.mock.images import ImageRejected

__all__ = ["Routes"]

_MODEL = {"id": "mock-vlm", "object": "model", "created": 0, "owned_by": "hf_vqa"}


class Routes:
    """The mock's request handling, mixed into `MockVLM` (which provides the state it reads and counts)."""

    async def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply | None:
        if path.startswith(("/v1/files", "/v1/batches")):
            if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
                return Reply.error(401, "Incorrect API key provided to the mock VLM", code="invalid_api_key")
            loop = asyncio.get_running_loop()  # answering a batch decodes images: off the loop
            status, payload, extra = await loop.run_in_executor(
                None, self.batch.handle, method, path, headers, body
            )
            return Reply(status, payload, extra)
        if (method, path) == ("POST", "/_batch_config"):
            try:
                self.batch.configure(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return Reply.error(400, f"bad /_batch_config body: {exc}")
            return Reply.json(200, self.batch.faults)
        if (method, path) == ("GET", "/_batch_stats"):
            return Reply.json(200, self.batch.stats())
        if path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                return Reply.error(405, f"use POST for {path}, not {method}")
            return await self._chat(headers, body)
        if method == "GET" and path in ("/v1/models", "/models"):
            listed = [{**_MODEL, "id": name} for name in self.models or ("mock-vlm",)]
            return Reply.json(200, {"object": "list", "data": listed})
        if (method, path) == ("GET", "/_stats"):
            return Reply.json(200, self.stats())
        if (method, path) == ("POST", "/_reset"):
            self.reset()
            return Reply.json(200, self.stats())
        if (method, path) == ("POST", "/_config"):
            try:
                self.configure(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return Reply.error(400, f"bad /_config body: {exc}")
            return Reply.json(200, dataclasses.asdict(self.settings))
        return Reply.error(404, f"the mock VLM has no route {method} {path}", code="unknown_url")

    async def _chat(self, headers: dict[str, str], raw: bytes) -> Reply | None:
        settings = self.settings
        self._count("requests")
        self._last_headers = headers
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            self._count("unauthorized")
            payload, kind = profiles.auth_error(settings.profile)
            return Reply(401, payload, content_type=kind)
        with self._lock:
            if settings.max_concurrent is not None and self._in_flight >= settings.max_concurrent:
                self._counts["concurrency_429"] += 1
                text = f"mock VLM is at max_concurrent={settings.max_concurrent}"
                return Reply.retry(text, settings.retry_after)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return await self._answer(settings, raw, headers)
        except Exception as exc:  # a bug in the mock must surface as a 500, never as a hung client
            self._count("internal_error")
            return Reply.error(500, f"mock VLM internal error: {exc!r}", "server_error")
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _answer(self, settings: Settings, raw: bytes, headers: dict[str, str]) -> Reply | None:
        try:
            body = mock_requests.loads_request(raw)
        except ValueError as exc:
            self._count("invalid")
            return Reply.error(400, f"request body is not valid JSON: {exc}")
        problem = self._validate(body)
        if problem is None and self.models is not None and body.get("model") not in self.models:
            self._count("invalid")  # as OpenAI answers an unknown model
            return Reply.error(404, f"The model `{body.get('model')}` does not exist or you do not have access "
                                f"to it. The mock VLM serves: {', '.join(self.models)}", code="model_not_found")  # fmt: skip
        self._last_roles = [m.get("role") for m in body.get("messages") or [] if isinstance(m, dict)]
        rejected = profiles.reject(settings.profile, body) if problem is None else None
        if rejected is not None:
            self._count("invalid")
            return Reply.json(*rejected)
        if problem is None:
            try:
                completion = answers.complete(body, settings.prose_rate)
            except ImageRejected as exc:
                problem = str(exc)
        if problem is not None:
            self._count("invalid")
            return Reply.json(400, profiles.error(settings.profile, 400, problem))
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
            return Reply.retry("Rate limit reached for mock-vlm (injected fault)", settings.retry_after)
        await asyncio.sleep(max(0.0, settings.latency + jitter))
        if kind == "timeout":
            await asyncio.sleep(settings.slow_seconds)
        if kind == "drop":
            return None
        if kind in ("500", "503"):
            return Reply.error(int(kind), f"injected {kind} fault: the mock VLM failed", "server_error")
        if kind == "empty":
            completion = dataclasses.replace(
                completion, content="", completion_tokens=0, finish_reason="stop"
            )
        if kind in HOSTILE_KINDS:
            status, data, content_type, trickle = hostile.reply(
                kind, answers.completion_response(body, completion), headers
            )
            return Reply(status, data, content_type=content_type, trickle=trickle)
        with self._lock:
            serial, self._served = self._served, self._served + 1
        status, payload, content_type = profiles.render(
            settings.profile, body, answers.completion_response(body, completion), serial
        )
        payload = payload[: len(payload) // 2] if kind == "malformed" else payload
        return Reply(status, payload, content_type=content_type)
