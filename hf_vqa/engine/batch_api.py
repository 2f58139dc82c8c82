"""The OpenAI-style batch endpoints (`/files`, `/batches`), sent through `transport.py`'s pool.

`transport.Transport.call` stays the only code that puts bytes on the wire; this module builds the
multipart upload and the JSON bodies, retries 429/5xx a bounded number of times, and turns the
replies into dicts or a `BatchError`. Synchronous: each call runs in its own short event loop.

Every call has a whole-call deadline (``--timeout``; an upload or download gets one more second per
`MIN_RATE` bytes) and a byte cap counted as the reply arrives (``--max-reply-bytes`` for the JSON
replies; the caller's cap for a download, which goes to a file, never into memory). A reply over
its cap is refused once, never fetched again.

Example:
    >>> api = BatchAPI(VLM(base_url="http://127.0.0.1:8000/v1", api_key_env=""))  # doctest: +SKIP
    >>> file_id = api.upload(b'{"custom_id": "k", ...}\\n', "requests.jsonl")  # doctest: +SKIP
    >>> api.create(file_id, "24h")["status"]  # doctest: +SKIP
    'validating'
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from hf_vqa.config import VLM, public_url
from hf_vqa.engine.http_reply import ReplyTooLarge, Response, TransportError
from hf_vqa.engine.replies import redact, retry_after
from hf_vqa.engine.transport import Transport
from hf_vqa.errors import BatchError, one_line

__all__ = ["ENDPOINT", "TERMINAL", "BatchAPI", "multipart"]

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")
ATTEMPTS = 5
MIN_RATE = 1_000_000  # bytes/s an upload or a download is given on top of the timeout


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with `fields` and one file part named ``file``; returns (body, content type).

    Example:
        >>> body, kind = multipart({"purpose": "batch"}, "a.jsonl", b"{}")
        >>> kind.startswith("multipart/form-data; boundary="), b'name="purpose"' in body
        (True, True)
    """
    boundary = "hfvqa" + uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
               "Content-Type: application/jsonl\r\n\r\n".encode())  # fmt: skip
    out += [data, f"\r\n--{boundary}--\r\n".encode()]
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


class BatchAPI:
    """Upload, create, poll, download and cancel batches at `vlm.base_url` with `vlm`'s key."""

    def __init__(self, vlm: VLM, *, pause: float = 1.0) -> None:
        self.vlm, self.pause = vlm, pause
        self._key = vlm.api_key()

    def upload(self, data: bytes, filename: str) -> str:
        """POST /files (purpose ``batch``); the new file's id."""
        body, kind = multipart({"purpose": "batch"}, filename, data)
        what = f"uploading {filename} ({len(data):,} bytes)"
        reply = self._json(
            "POST", "files", body, kind, what=what, deadline=self.vlm.timeout + len(body) / MIN_RATE
        )
        return _id(reply, what)

    def create(self, file_id: str, window: str = "24h", metadata: dict | None = None) -> dict:
        """POST /batches over an uploaded file; the batch object."""
        payload = {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": window}
        if metadata:
            payload["metadata"] = metadata
        what = f"creating a batch of {file_id}"
        batch = self._json("POST", "batches", json.dumps(payload).encode(), what=what)
        _id(batch, what)
        return batch

    def get(self, batch_id: str) -> dict:
        """GET /batches/{id}: status, request_counts, output_file_id, error_file_id."""
        return self._json("GET", f"batches/{_seg(batch_id)}", what=f"polling {batch_id}")

    def cancel(self, batch_id: str) -> dict:
        """POST /batches/{id}/cancel."""
        return self._json("POST", f"batches/{_seg(batch_id)}/cancel", what=f"cancelling {batch_id}")

    def content(self, file_id: str) -> bytes:
        """GET /files/{id}/content: the raw JSONL, in memory (capped like any reply)."""
        return self._send(
            "GET", f"files/{_seg(file_id)}/content", b"", "application/json", f"downloading {file_id}"
        ).content

    def download(self, file_id: str, sink, max_bytes: int) -> None:
        """GET /files/{id}/content into the binary file `sink`, at most `max_bytes` bytes (decoded);
        `BatchError` if the file is larger (it is not downloaded again). Deadline: the timeout plus a
        second per `MIN_RATE` bytes of the cap."""

        def rewind() -> None:  # a retry after a dropped connection starts the file over
            sink.seek(0)
            sink.truncate()

        deadline = self.vlm.timeout + max_bytes / MIN_RATE
        self._send("GET", f"files/{_seg(file_id)}/content", b"", "application/json", f"downloading {file_id}",
                   deadline=deadline, max_bytes=max_bytes, sink=_Sink(sink, file_id), before=rewind,
                   retry_timeouts=False)  # fmt: skip

    # -- internals ----------------------------------------------------------------------------
    def _json(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        kind: str = "application/json",
        *,
        what: str,
        deadline: float | None = None,
    ) -> dict:
        resp = self._send(method, path, body, kind, what, deadline=deadline)
        try:
            reply = json.loads(resp.content)
        except ValueError:
            raise BatchError(f"{what}: the reply is not JSON", received=resp.content[:200]) from None
        if not isinstance(reply, dict):
            raise BatchError(f"{what}: the reply is not a JSON object", received=resp.content[:200])
        return reply

    def _send(
        self,
        method: str,
        path: str,
        body: bytes,
        kind: str,
        what: str,
        *,
        deadline: float | None = None,
        max_bytes: int | None = None,
        sink=None,
        before=None,
        retry_timeouts: bool = True,
    ) -> Response:
        for attempt in range(1, ATTEMPTS + 1):
            if before is not None:
                before()
            try:
                resp = asyncio.run(self._once(method, path, body, kind, deadline, max_bytes, sink))
            except ReplyTooLarge as err:  # the same file is as large the next time: never fetched again
                flag = "--batch-max-download-bytes" if sink is not None else "--max-reply-bytes"
                raise BatchError(f"{what}: refused a reply larger than its cap", received=str(err),
                                 fix=f"check the endpoint; if a real reply is this large, raise {flag}") from None  # fmt: skip
            except TransportError as err:
                if attempt == ATTEMPTS or (err.timeout and not retry_timeouts):
                    raise BatchError(f"{what}: no reply from {public_url(self.vlm.base_url)}",
                                     received=redact(str(err), self._key),
                                     fix="check --base-url, then rerun the same command (it resumes)") from None  # fmt: skip
                time.sleep(self.pause * attempt)
                continue
            if resp.status < 300:
                return resp
            if sink is not None:  # an error body went to the file: read it back for the message
                sink.seek(0)
                resp = Response(resp.status, resp.headers, sink.read(4096), resp.reason)
            text = one_line(redact(resp.content.decode("utf-8", "replace"), self._key))
            if (resp.status == 429 or resp.status >= 500) and attempt < ATTEMPTS:
                time.sleep(min(60.0, retry_after(resp.headers) or self.pause * attempt))
                continue
            fix = {413: "lower --batch-max-bytes (the provider refused a file this large)",
                   401: "check the API key variable (--api-key-env)",
                   404: "the endpoint may not offer the batch API; run without --batch"}.get(resp.status, "rerun the same command to resume")  # fmt: skip
            raise BatchError(f"{what}: HTTP {resp.status}", received=text, fix=fix)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method, path, body, kind, deadline, max_bytes, sink) -> Response:
        transport = Transport.open(self.vlm.base_url, self._key, max_connections=2, timeout=self.vlm.timeout,
                                   max_reply_bytes=self.vlm.max_reply_bytes)  # fmt: skip
        try:
            return await transport.call(
                method, path, body, kind, deadline=deadline, max_bytes=max_bytes, sink=sink
            )
        finally:
            await transport.aclose()


def _seg(value: str) -> str:
    """An id the provider gave, as one URL path segment (a hostile id cannot reach another path).

    Example:
        >>> _seg("../files/x?y")
        '..%2Ffiles%2Fx%3Fy'
    """
    from urllib.parse import quote

    return quote(str(value), safe="")


class _Sink:
    """A download's file: a failed write (a full disk) is a `BatchError` naming the file, never taken
    for a dropped connection (and so never retried)."""

    def __init__(self, f, file_id: str) -> None:
        self.f, self.file_id = f, file_id

    def write(self, data: bytes) -> None:
        try:
            self.f.write(data)
        except OSError as err:
            name = getattr(self.f, "name", "a temporary file")
            raise BatchError(f"cannot write the download of {self.file_id} to {name} ({err.strerror or err})",
                             fix="free some space beside the --output, then rerun the same command (it resumes)") from None  # fmt: skip

    def seek(self, offset: int) -> None:
        self.f.seek(offset)

    def read(self, size: int) -> bytes:
        return self.f.read(size)


def _id(reply: dict, what: str) -> str:
    """The ``id`` of a created object, or a `BatchError` saying what came back instead."""
    found = reply.get("id")
    if not isinstance(found, str) or not found or len(found) > 200:
        raise BatchError(f"{what}: the reply has no usable id", received=json.dumps(reply)[:200])
    return found


def describe(batch: dict) -> str:
    """A one-line status: ``batch_1 in_progress 10/100 done, 2 failed``."""
    counts = batch.get("request_counts") or {}
    return (f"{batch.get('id')} {batch.get('status')} {counts.get('completed', 0)}/{counts.get('total', 0)} done, "
            f"{counts.get('failed', 0)} failed")  # fmt: skip


__all__ += ["describe"]
