"""A hostile OpenAI-style batch API on loopback for tests: every byte of every reply is the test's.

It answers ``/v1/chat/completions`` honestly (the bundled mock's answers, after `latency` seconds),
and ``/v1/files``, ``/v1/batches`` like OpenAI, except where the test says otherwise:

- ``output(lines) -> bytes``: the output file's bytes, from the uploaded request lines (parsed);
  default: one honest answer line per request (`answer_line`).
- ``poll_trickle``: a poll reply sends its headers, then one byte every that many seconds.
- ``content_claims``: the output download declares this Content-Length and streams zeros (0: no
  Content-Length, 128 MiB of zeros or until the client hangs up).
- ``never_ends``: batches stay ``in_progress``.
- ``output_suffix``: appended to the output file id the poll names (e.g. ``"/../x\x00"``).

`counts` says how many calls of each kind came (``chat``, ``upload``, ``create``, ``poll``,
``content``) and `sent` how many bytes the downloads sent.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from hf_vqa.mock import answers
from hf_vqa.mock.batch import parse_multipart


def answer_line(line: dict, text: str | None = None) -> dict:
    """An OpenAI result line answering request `line` (its honest answer, or `text`)."""
    body = answers.completion_response(line["body"], answers.complete(line["body"]))
    if text is not None:
        body["choices"][0]["message"]["content"] = text
    return {"id": "r", "custom_id": line["custom_id"], "error": None,
            "response": {"status_code": 200, "request_id": "q", "body": body}}  # fmt: skip


def jsonl(rows: list[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


class HostileBatchServer:
    """Start with `start()` (or as a context manager); `base_url` ends in ``/v1``."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.output: Callable[[list[dict]], bytes] = lambda lines: jsonl([answer_line(x) for x in lines])
        self.poll_trickle: float | None = None
        self.content_claims: int | None = None
        self.never_ends = False
        self.output_suffix = ""
        self.counts = {"chat": 0, "upload": 0, "create": 0, "poll": 0, "content": 0}
        self.sent = 0
        self.files: dict[str, list[dict]] = {}
        self.batches: dict[str, str] = {}  # batch id -> input file id
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._route(self, "GET", b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                server._route(self, "POST", body)

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def start(self) -> HostileBatchServer:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> HostileBatchServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- routes -------------------------------------------------------------------------------
    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _route(self, h: http.server.BaseHTTPRequestHandler, method: str, body: bytes) -> None:
        parts = h.path.split("?")[0].strip("/").split("/")[1:]
        try:
            if parts == ["chat", "completions"]:
                self._count("chat")
                time.sleep(self.latency)
                request = json.loads(body)
                return _send(h, 200, answers.completion_response(request, answers.complete(request)))
            if parts == ["files"] and method == "POST":
                self._count("upload")
                _name, data = parse_multipart(h.headers.get("content-type", ""), body)["file"]
                file_id = f"file-{len(self.files)}"
                self.files[file_id] = [json.loads(x) for x in data.splitlines() if x.strip()]
                return _send(h, 200, {"id": file_id, "object": "file", "purpose": "batch"})
            if parts == ["batches"] and method == "POST":
                self._count("create")
                batch_id = f"batch_{len(self.batches)}"
                self.batches[batch_id] = json.loads(body)["input_file_id"]
                return _send(h, 200, {"id": batch_id, "status": "validating"})
            if len(parts) == 2 and parts[0] == "batches":
                self._count("poll")
                return self._poll(h, parts[1])
            if len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
                self._count("content")
                return self._content(h, parts[1])
        except (BrokenPipeError, ConnectionResetError):
            return None
        return _send(h, 404, {"error": {"message": f"no route {method} {h.path}"}})

    def _poll(self, h, batch_id: str) -> None:
        if self.never_ends:
            return _send(h, 200, {"id": batch_id, "status": "in_progress", "request_counts": {"total": 1}})
        reply = json.dumps({"id": batch_id, "status": "completed", "output_file_id": f"out-{batch_id}{self.output_suffix}",
                            "error_file_id": None, "request_counts": {"total": 1, "completed": 1}}).encode()  # fmt: skip
        if self.poll_trickle is None:
            return _send(h, 200, reply)
        _head(h, 200, len(reply))
        for byte in reply:  # the whole reply, one byte at a time
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(self.poll_trickle)

    def _content(self, h, file_id: str) -> None:
        batch_id = urllib.parse.unquote(file_id).removeprefix("out-")[: len("batch_0")]
        lines = self.files[self.batches[batch_id]]
        if self.content_claims is None:
            data = self.output(lines)
            _head(h, 200, len(data))
            h.wfile.write(data)
            self.sent += len(data)
            return
        _head(h, 200, self.content_claims or None)
        block = b"0" * 65536
        while self.sent < (self.content_claims or 2**27):  # 128 MiB at most when unbounded
            h.wfile.write(block)
            self.sent += len(block)


def _head(h, status: int, length: int | None) -> None:
    size = "" if length is None else f"Content-Length: {length}\r\n"
    h.wfile.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{size}"
                  "Connection: close\r\n\r\n".encode())  # fmt: skip
    h.close_connection = True


def _send(h, status: int, payload: Any) -> None:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    _head(h, status, len(data))
    h.wfile.write(data)
