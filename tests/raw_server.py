"""A loopback HTTP server that sends exactly the bytes a test scripts: no framework between the test and
the wire, so a reply can lie about its length, stop mid-stream, trickle, or be a gzip bomb.

A handler gets the parsed request and returns the pieces to send: ``bytes`` are written as they are,
a ``float`` is a pause in seconds. The connection is closed after each reply.

Example:
    >>> with RawServer(lambda req: [http(200, b'{"ok": 1}')]) as srv:  # doctest: +SKIP
    ...     srv.base_url
    'http://127.0.0.1:PORT/v1'
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Pieces = Iterable["bytes | float"]


@dataclass
class Request:
    """One request as it arrived: method, path, lower-case headers, body, and its parsed JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    index: int
    json: Any = None


@dataclass
class Log:
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def http(status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None,
         length: bool = True) -> bytes:  # fmt: skip
    """A whole HTTP/1.1 reply (with Content-Length unless `length` is False: then the body ends at close)."""
    head = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close"]
    if length:
        head.append(f"Content-Length: {len(body)}")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def head(status: int = 200, content_type: str = "text/event-stream", headers: dict | None = None) -> bytes:
    """Only the status line and headers of a reply whose body ends when the connection closes."""
    return http(status, b"", content_type, headers, length=False)


def completion(text: str, finish: str | None = "stop") -> bytes:
    """A plain chat completion carrying `text`."""
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
    return json.dumps({"id": "c", "object": "chat.completion", "choices": [choice],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 2}}).encode()  # fmt: skip


def chunk(content: str | None = None, finish: str | None = None, raw: str | None = None) -> bytes:
    """One SSE event with a delta; `raw` puts text into the JSON string as it is (``\\ud83d``)."""
    delta = '{"content": %s}' % (f'"{raw}"' if raw is not None else json.dumps(content))
    fin = json.dumps(finish)
    return f'data: {{"choices": [{{"index": 0, "delta": {delta}, "finish_reason": {fin}}}]}}\n\n'.encode()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data:
            got = sock.recv(65536)
            if not got:
                return
            data += got
        top, _, rest = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" "), "", ""][:3]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        size = int(headers.get("content-length") or 0)
        while len(rest) < size:
            got = sock.recv(65536)
            if not got:
                break
            rest += got
        server: RawServer = self.server.owner  # type: ignore[attr-defined]
        with server.log.lock:
            req = Request(method, path, headers, rest, len(server.log.requests))
            server.log.requests.append(req)
        try:
            req.json = json.loads(rest) if rest else None
        except ValueError:
            req.json = None
        try:
            for piece in server.handler(req):
                if isinstance(piece, (int, float)):
                    if server.stopping.wait(piece):
                        return
                else:
                    sock.sendall(piece)
        except OSError:  # the client hung up (a deadline, a cap): that is the point of many tests
            pass


class _TCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class RawServer:
    """Serve `handler` on a free loopback port; `base_url` ends in ``/v1``. Use as a context manager."""

    def __init__(self, handler: Callable[[Request], Pieces]) -> None:
        self.handler = handler
        self.log = Log()
        self.stopping = threading.Event()
        self._tcp = _TCP(("127.0.0.1", 0), _Handler)
        self._tcp.owner = self  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self._tcp.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)  # fmt: skip

    @property
    def requests(self) -> list[Request]:
        with self.log.lock:
            return list(self.log.requests)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self._tcp.shutdown()
        self._tcp.server_close()
