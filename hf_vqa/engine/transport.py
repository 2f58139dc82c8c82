"""The only code that sends HTTP to the VLM: one POST of prepared JSON bytes, one `Response` back.

The URL and headers are those `openai.AsyncOpenAI` would use (the base URL normalised, the key,
organisation and project from the environment, the user agent and the SDK's platform headers), built
by `connection.py` without importing the SDK (its import costs ~0.5–1 s of CPU before the first
request). The bytes go out through `aiohttp` (installed with `openai[aiohttp]`; the same library as
the SDK's documented `DefaultAioHttpClient`), or, without it or with ``HF_VQA_HTTP=httpx``, through
the SDK's own httpx client factory (`openai.DefaultAsyncHttpxClient`: only that path imports the
SDK). The SDK's request layer is skipped on purpose: at high concurrency it costs more client CPU per
request than the HTTP itself (docs/benchmarks.md, "Why aiohttp").

Everything here runs inside the engine's event loop (`client.py`); `Transport.open` must be called
there, because connection pools belong to the loop that made them. Which client library sends, and the
proxy, are chosen in `http_client.py`; what comes back (a `Response`, or a `TransportError`, and the byte
cap counted as the body arrives) is `http_reply.py`. Neither sends anything: this module alone does.

Example:
    >>> t = Transport.open("http://127.0.0.1:8000/v1", "sk-...", max_connections=64, timeout=60)  # doctest: +SKIP
    >>> (await t.post(b'{"model": "m", "messages": []}')).status  # doctest: +SKIP
    200
"""

from __future__ import annotations

import asyncio
from typing import Any

from hf_vqa.engine.connection import chat_url, headers_for
from hf_vqa.engine.http_client import httpx_module, kind, proxy_for
from hf_vqa.engine.http_reply import Response, TransportError, gather_body, refuse_length

MAX_REPLY_BYTES = 8 * 1024 * 1024  # a completion of 100k tokens is well under 1 MB
CONNECTIONS_PER_HTTPX_CLIENT = 16  # httpcore's per-request scheduling work grows with the pool's size


class Transport:
    """Sends POSTs to one endpoint's ``/chat/completions`` over a pool of `max_connections`."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        senders: list[Any],
        timeout: float,
        kind: str,
        proxy: str | None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.url, self.headers, self.timeout, self.kind, self.proxy = url, headers, timeout, kind, proxy
        self.max_reply_bytes = max_reply_bytes
        self._senders = senders

    @classmethod
    def open(
        cls,
        base_url: str,
        api_key: str,
        *,
        max_connections: int,
        timeout: float,
        use: str | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> Transport:
        """Build the pool (inside the running event loop). `use` overrides `kind()`. `timeout` is a
        deadline for a whole request (connect, headers, body); `max_reply_bytes` caps a reply's body."""
        use = use or kind()
        if use == "aiohttp":
            import aiohttp

            connector = aiohttp.TCPConnector(limit=max_connections)  # TLS: aiohttp's verified default
            timeouts = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
            # trust_env=False: aiohttp would look the proxy up again on every request (in a thread);
            # `proxy_for` reads the same environment once instead
            senders: list[Any] = [
                aiohttp.ClientSession(connector=connector, timeout=timeouts, trust_env=False)
            ]
        else:
            import openai  # its httpx client factory (this path only)

            hx = httpx_module()
            per = hx.Limits(max_connections=CONNECTIONS_PER_HTTPX_CLIENT,
                            max_keepalive_connections=CONNECTIONS_PER_HTTPX_CLIENT)  # fmt: skip
            count = max(1, -(-max_connections // CONNECTIONS_PER_HTTPX_CLIENT))
            senders = [openai.DefaultAsyncHttpxClient(limits=per, timeout=timeout) for _ in range(count)]
        from hf_vqa.engine.gateway import extra_headers, extra_query  # --header / --query (gateways)

        url = chat_url(base_url, extra_query())  # as AsyncOpenAI would build them (connection.py)
        headers = headers_for(api_key, extra_headers())
        proxy = proxy_for(url) if use == "aiohttp" else None
        return cls(url, headers, senders, timeout, use, proxy=proxy, max_reply_bytes=max_reply_bytes)

    async def post(self, content: bytes, spread: int = 0) -> Response:
        """POST `content`; raises `TransportError` when no whole HTTP reply came back within `timeout`
        seconds (`ReplyTooLarge` for a body over `max_reply_bytes`). `spread` picks one of several
        httpx pools (any int, e.g. a hash of the request)."""
        try:
            async with asyncio.timeout(self.timeout):  # a deadline: a trickling body cannot outlast it
                if self.kind == "aiohttp":
                    return await self._post_aiohttp(content)
                return await self._post_httpx(self._senders[spread % len(self._senders)], content)
        except TimeoutError:
            raise TransportError(
                f"no whole reply within the {self.timeout:g}s deadline", timeout=True
            ) from None

    async def _post_aiohttp(self, content: bytes) -> Response:
        import aiohttp

        session = self._senders[0]
        try:
            async with session.post(self.url, data=content, headers=self.headers, proxy=self.proxy) as resp:
                refuse_length(resp.content_length, self.max_reply_bytes)
                # Count as it arrives, decompressed (aiohttp inflates gzip/deflate in bounded pieces):
                # a Content-Length counts compressed bytes, and 0.5 MB of gzip can be 512 MB.
                body = await gather_body(resp.content.iter_any(), self.max_reply_bytes)
                return Response(resp.status, resp.headers, body, resp.reason or "")
        except aiohttp.ServerTimeoutError as err:
            raise TransportError(f"{type(err).__name__}: {err}", timeout=True) from None
        except (aiohttp.ClientError, OSError) as err:
            raise TransportError(f"{type(err).__name__}: {err}", timeout=False) from None

    async def _post_httpx(self, client: Any, content: bytes) -> Response:
        hx = httpx_module()
        cap = self.max_reply_bytes
        try:
            request = client.build_request("POST", self.url, content=content, headers=self.headers,
                                           timeout=self.timeout)  # fmt: skip
            resp = await client.send(request, stream=True)
            try:
                length = resp.headers.get("content-length")
                refuse_length(int(length) if length is not None and length.isdigit() else None, cap)
                body = await gather_body(resp.aiter_bytes(), cap)  # decoded: the cap holds after gzip too
            finally:
                await resp.aclose()
        except hx.TimeoutException as err:
            raise TransportError(f"{type(err).__name__}: {err}", timeout=True) from None
        except hx.HTTPError as err:
            raise TransportError(f"{type(err).__name__}: {err}", timeout=False) from None
        return Response(resp.status_code, resp.headers, body, resp.reason_phrase or "")

    async def call(
        self,
        method: str,
        path: str,
        content: bytes = b"",
        content_type: str = "application/json",
        *,
        deadline: float | None = None,
        max_bytes: int | None = None,
        sink: Any = None,
    ) -> Response:
        """Any other request to the same API (the batch endpoints, `engine/batch_api.py`): `path`
        is relative to the base URL (``"files"``, ``"batches/b1/cancel"``). Same pool, headers and
        errors as `post`. `deadline` (default `timeout`) bounds the whole call; `max_bytes` (default
        `max_reply_bytes`) caps the body as its decoded bytes arrive (`ReplyTooLarge`); with `sink`
        (a binary file) the body is written there as it arrives instead of kept in memory.

        Example:
            >>> (await t.call("GET", "batches/batch_1")).status  # doctest: +SKIP
            200
        """
        base, _, query = self.url.partition("?")  # the --query parameters go with every call
        url = base.rsplit("/chat/completions", 1)[0] + "/" + path.lstrip("/")
        url += ("&" if "?" in url else "?") + query if query else ""
        headers = {**self.headers, "Content-Type": content_type}
        limit = self.timeout if deadline is None else deadline
        cap = self.max_reply_bytes if max_bytes is None else max_bytes
        try:
            async with asyncio.timeout(limit):  # a trickling reply cannot outlast it
                if self.kind == "aiohttp":
                    return await self._call_aiohttp(method, url, content, headers, cap, sink)
                return await self._call_httpx(method, url, content, headers, cap, sink)
        except TimeoutError:
            raise TransportError(f"no whole reply within the {limit:g}s deadline", timeout=True) from None

    async def _call_aiohttp(self, method, url, content, headers, cap, sink) -> Response:
        import aiohttp

        try:
            async with self._senders[0].request(method, url, data=content or None, headers=headers,
                                                proxy=self.proxy) as resp:  # fmt: skip
                refuse_length(resp.content_length, cap)
                body = await gather_body(resp.content.iter_any(), cap, sink)  # decoded bytes, counted
                return Response(resp.status, resp.headers, body, resp.reason or "")
        except aiohttp.ServerTimeoutError as err:
            raise TransportError(f"{type(err).__name__}: {err}", timeout=True) from None
        except (aiohttp.ClientError, OSError) as err:
            raise TransportError(f"{type(err).__name__}: {err}", timeout=False) from None

    async def _call_httpx(self, method, url, content, headers, cap, sink) -> Response:
        hx = httpx_module()
        try:
            request = self._senders[0].build_request(method, url, content=content or None, headers=headers,
                                                     timeout=self.timeout)  # fmt: skip
            resp = await self._senders[0].send(request, stream=True)
            try:
                length = resp.headers.get("content-length")
                refuse_length(int(length) if length is not None and length.isdigit() else None, cap)
                body = await gather_body(resp.aiter_bytes(), cap, sink)
            finally:
                await resp.aclose()
        except hx.TimeoutException as err:
            raise TransportError(f"{type(err).__name__}: {err}", timeout=True) from None
        except hx.HTTPError as err:
            raise TransportError(f"{type(err).__name__}: {err}", timeout=False) from None
        return Response(resp.status_code, resp.headers, body, resp.reason_phrase or "")

    async def aclose(self) -> None:
        """Close every pool (their connections)."""
        for sender in self._senders:
            await (sender.close() if self.kind == "aiohttp" else sender.aclose())
        self._senders = []


__all__ = ["CONNECTIONS_PER_HTTPX_CLIENT", "MAX_REPLY_BYTES", "Transport"]
