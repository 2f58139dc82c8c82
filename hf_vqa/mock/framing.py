"""The mock VLM's HTTP/1.1 framing: read a request's head and body off a socket, write a reply back.

Just enough HTTP for the clients hf_vqa uses (keep-alive, `Content-Length` bodies, `Expect:
100-continue`), and the one fault that needs the socket itself: a reply whose body trickles one byte at
a time. What a request *means* is `routes.py`; running the server is `server.py`.

Example:
    >>> Reply.json(200, {"ok": True}).encode(keep_alive=False).startswith(b"HTTP/1.1 200 OK")
    True
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from hf_vqa.mock import answers

__all__ = ["Dispatch", "Reply", "serve_connection", "trickle"]


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    trickle: float = 0.0  # seconds between body bytes (the "trickle" reply)

    @classmethod
    def json(cls, status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        return cls(status, json.dumps(payload).encode(), headers)

    @classmethod
    def error(
        cls, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
    ) -> Reply:
        return cls.json(status, answers.error_body(message, kind, code))

    @classmethod
    def retry(cls, message: str, seconds: float) -> Reply:
        headers = (("Retry-After", str(math.ceil(seconds))), ("retry-after-ms", str(round(seconds * 1000))))
        return cls.json(429, answers.error_body(message, "requests", "rate_limit_exceeded"), headers)

    def encode(self, keep_alive: bool) -> bytes:
        phrase, connection = http.HTTPStatus(self.status).phrase, "keep-alive" if keep_alive else "close"
        head = f"HTTP/1.1 {self.status} {phrase}\r\nContent-Type: {self.content_type}\r\n"
        head += f"Content-Length: {len(self.body)}\r\nConnection: {connection}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in self.headers)
        return (head + "\r\n").encode("latin-1") + self.body


Dispatch = Callable[[str, str, dict, bytes], Awaitable["Reply | None"]]  # (method, path, headers, body)


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dispatch: Dispatch
) -> None:
    """Serve one connection: read each request's head and body, `dispatch` it, write the reply (keep-alive)."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            try:
                lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
                method, target, version = lines[0].split(" ")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
                length = int(headers.get("content-length", "0"))
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    raise ValueError("chunked request bodies are not supported; send Content-Length")
            except ValueError as exc:
                return writer.write(Reply.error(400, f"malformed HTTP request: {exc}").encode(False))
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await reader.readexactly(length)
            connection = headers.get("connection", "").lower()
            keep_alive = connection == "keep-alive" if version == "HTTP/1.0" else connection != "close"
            reply = await dispatch(method, target.partition("?")[0], headers, body)
            if reply is None:  # the "drop" fault
                return writer.transport.abort()
            if reply.trickle:
                await trickle(writer, reply.encode(keep_alive), len(reply.body), reply.trickle)
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


async def trickle(writer: asyncio.StreamWriter, data: bytes, body_bytes: int, seconds: float) -> None:
    """The head at once, then the body one byte every `seconds` (bounded by the body's length)."""
    head = len(data) - body_bytes
    writer.write(data[:head])
    for i in range(head, len(data)):
        await writer.drain()
        await asyncio.sleep(seconds)
        writer.write(data[i : i + 1])
