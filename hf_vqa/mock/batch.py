"""The mock VLM's batch API: ``/v1/files`` and ``/v1/batches``, in OpenAI's formats, with faults.

Upload is ``multipart/form-data`` (fields ``purpose`` and ``file``). A batch moves validating →
in_progress → finalizing → completed, one step per `polls_per_step` GETs of it. When it ends, each
input line is answered exactly as ``/v1/chat/completions`` would answer it (`answers.complete`), and
written in OpenAI's line format ``{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}``: 200 lines to the output file; non-2xx lines and unexecuted (expired) requests
to the error file.

Faults (`configure(**faults)`, or ``POST /_batch_config``): ``fail=True`` (the batch fails
validation), ``expire=True`` (expires with half its lines answered), ``line_4xx``/``line_5xx``
(fractions of lines answered 400 / 500), ``upload_413=N`` and ``create_429=N`` (the next N uploads /
creates are refused). ``POST /v1/batches/{id}/cancel`` ends it as cancelled with half its lines
answered. `stats()` counts calls, uploaded lines and the lines answered ("paid") per custom_id.

Example:
    >>> with MockVLM() as vlm:  # doctest: +SKIP
    ...     vlm.batch.configure(expire=True)
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from hf_vqa.mock import answers
from hf_vqa.mock.images import ImageRejected

__all__ = ["BatchBackend", "parse_multipart"]

_STEPS = ("validating", "in_progress", "finalizing", "completed")
_FAULTS = {"fail": False, "expire": False, "line_4xx": 0.0, "line_5xx": 0.0, "upload_413": 0, "create_429": 0}


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a ``multipart/form-data`` body: name → (filename or None, bytes).

    Example:
        >>> b = b'--x\\r\\nContent-Disposition: form-data; name="purpose"\\r\\n\\r\\nbatch\\r\\n--x--\\r\\n'
        >>> parse_multipart("multipart/form-data; boundary=x", b)["purpose"]
        (None, b'batch')
    """
    boundary = content_type.partition("boundary=")[2].strip().strip('"').encode()
    if not boundary:
        raise ValueError("no multipart boundary in Content-Type")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        disposition = next(
            (h for h in head.decode("latin-1").split("\r\n") if h.lower().startswith("content-disposition")),
            "",
        )
        params = dict(p.strip().split("=", 1) for p in disposition.split(";")[1:] if "=" in p)
        name = params.get("name", "").strip('"')
        filename = params.get("filename", "").strip('"') or None
        fields[name] = (filename, data[:-2] if data.endswith(b"\r\n") else data)
    return fields


class BatchBackend:
    """Files and batches held in memory; `handle` answers one HTTP request as (status, body bytes, headers)."""

    def __init__(self, validate: Callable[[Any], str | None], polls_per_step: int = 1, seed: int = 0) -> None:
        self._validate, self.polls_per_step = validate, polls_per_step
        self._lock = threading.Lock()
        self.faults = dict(_FAULTS)
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self._rng = random.Random(seed)
        self.counts = {"calls": 0, "uploads": 0, "uploaded_lines": 0, "batches": 0, "paid_lines": 0,
                       "paid_twice": 0, "cancels": 0}  # fmt: skip
        self.paid: dict[str, int] = {}

    def reset(self) -> None:
        """Zero the counters (the mock's ``POST /_reset`` calls this); files and batches stay."""
        with self._lock:
            self.counts = dict.fromkeys(self.counts, 0)
            self.paid = {}

    def configure(self, **faults: Any) -> None:
        """Set faults (see the module doc); ``polls_per_step=N`` too."""
        if "polls_per_step" in faults:
            self.polls_per_step = int(faults.pop("polls_per_step"))
        unknown = set(faults) - set(_FAULTS)
        if unknown:
            raise ValueError(f"unknown batch fault(s) {sorted(unknown)}; use {sorted(_FAULTS)}")
        self.faults.update(faults)

    def stats(self) -> dict[str, int]:
        """Counters: calls, uploads, uploaded_lines, batches, paid_lines, paid_twice, cancels."""
        with self._lock:
            return dict(self.counts)

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, tuple]:
        with self._lock:
            self.counts["calls"] += 1
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        try:
            if parts == ["files"] and method == "POST":
                return self._upload(headers, body)
            if len(parts) == 3 and parts[0] == "files" and parts[2] == "content" and method == "GET":
                f = self.files.get(parts[1])
                return (200, f["data"], ()) if f else _error(404, f"No such File object: {parts[1]}")
            if parts == ["batches"] and method == "POST":
                return self._create(json.loads(body or b"{}"))
            if len(parts) == 2 and parts[0] == "batches" and method == "GET":
                return self._poll(parts[1])
            if len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel" and method == "POST":
                return self._cancel(parts[1])
        except (ValueError, KeyError) as exc:
            return _error(400, f"bad batch request: {exc}")
        return _error(404, f"the mock batch API has no route {method} {path}")

    # -- routes -------------------------------------------------------------------------------
    def _upload(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes, tuple]:
        if self.faults["upload_413"] > 0:
            self.faults["upload_413"] -= 1
            return _error(413, "File too large (injected fault)")
        fields = parse_multipart(headers.get("content-type", ""), body)
        if fields.get("purpose", (None, b""))[1] != b"batch" or "file" not in fields:
            return _error(400, "send purpose=batch and a file part")
        filename, data = fields["file"]
        file_id = "file-" + uuid.uuid4().hex[:24]
        self.files[file_id] = {"data": data, "filename": filename}
        with self._lock:
            self.counts["uploads"] += 1
            self.counts["uploaded_lines"] += sum(1 for line in data.splitlines() if line.strip())
        return _ok({"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                    "filename": filename, "purpose": "batch"})  # fmt: skip

    def _create(self, payload: dict) -> tuple[int, bytes, tuple]:
        if self.faults["create_429"] > 0:
            self.faults["create_429"] -= 1
            status, body, _ = _error(
                429, "Enqueued token limit reached (injected fault)", "rate_limit_exceeded"
            )
            return status, body, (("Retry-After", "0"),)
        file_id = payload["input_file_id"]
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}")
        if payload.get("endpoint") != "/v1/chat/completions":
            return _error(400, f"endpoint must be /v1/chat/completions, not {payload.get('endpoint')}")
        batch_id = "batch_" + uuid.uuid4().hex[:24]
        lines = [json.loads(x) for x in self.files[file_id]["data"].splitlines() if x.strip()]
        batch = {"id": batch_id, "object": "batch", "endpoint": payload["endpoint"], "errors": None,
                 "input_file_id": file_id, "completion_window": payload.get("completion_window", "24h"),
                 "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": int(time.time()), "metadata": payload.get("metadata"),
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}  # fmt: skip
        self.batches[batch_id] = {"obj": batch, "lines": lines, "polls": 0, "cancel": False}
        with self._lock:
            self.counts["batches"] += 1
        return _ok(batch)

    def _poll(self, batch_id: str) -> tuple[int, bytes, tuple]:
        state = self.batches.get(batch_id)
        if state is None:
            return _error(404, f"No such Batch object: {batch_id}")
        obj = state["obj"]
        if obj["status"] in ("completed", "failed", "expired", "cancelled"):
            return _ok(obj)
        if state["cancel"]:
            self._finish(state, "cancelled", answered=len(state["lines"]) // 2)
            return _ok(obj)
        state["polls"] += 1
        step = min(state["polls"] // max(1, self.polls_per_step), len(_STEPS) - 1)
        if step >= 1 and self.faults["fail"]:
            obj["status"] = "failed"
            obj["errors"] = {"object": "list", "data": [{"code": "invalid_request", "line": 1,
                                                         "message": "injected fault: the batch failed validation", "param": None}]}  # fmt: skip
            return _ok(obj)
        if _STEPS[step] == "completed" and self.faults["expire"]:
            self._finish(state, "expired", answered=len(state["lines"]) // 2)
            return _ok(obj)
        if _STEPS[step] == "completed":
            self._finish(state, "completed", answered=len(state["lines"]))
            return _ok(obj)
        obj["status"] = _STEPS[step]
        if obj["status"] == "in_progress":
            obj["request_counts"]["completed"] = len(state["lines"]) // 3
        return _ok(obj)

    def _cancel(self, batch_id: str) -> tuple[int, bytes, tuple]:
        state = self.batches.get(batch_id)
        if state is None:
            return _error(404, f"No such Batch object: {batch_id}")
        with self._lock:
            self.counts["cancels"] += 1
        if state["obj"]["status"] not in ("completed", "failed", "expired", "cancelled"):
            state["cancel"] = True
            state["obj"]["status"] = "cancelling"
        return _ok(state["obj"])

    def _finish(self, state: dict, status: str, answered: int) -> None:
        """Answer the first `answered` lines, write the output and error files, set the counts."""
        out, err = [], []
        for n, line in enumerate(state["lines"]):
            custom_id = line.get("custom_id")
            if n >= answered:
                if status == "expired":
                    err.append(_line(custom_id, None, {"code": "batch_expired", "message":
                               "This request could not be executed before the completion window expired."}))  # fmt: skip
                continue
            code, body = self._answer(line)
            with self._lock:
                self.counts["paid_lines"] += 1
                self.counts["paid_twice"] += custom_id in self.paid
                self.paid[custom_id] = self.paid.get(custom_id, 0) + 1
            (out if code == 200 else err).append(_line(custom_id, {"status_code": code, "request_id":
                                                 "req_" + uuid.uuid4().hex[:16], "body": body}, None))  # fmt: skip
        obj = state["obj"]
        for kind, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                file_id = "file-" + uuid.uuid4().hex[:24]
                self.files[file_id] = {"data": b"".join(json.dumps(r).encode() + b"\n" for r in rows),
                                       "filename": f"{obj['id']}_{kind}.jsonl"}  # fmt: skip
                obj[kind] = file_id
        failed = sum(1 for r in err if r["response"] is not None)
        obj["request_counts"] = {"total": len(state["lines"]), "completed": len(out), "failed": failed}
        obj["status"] = status
        obj[f"{status}_at"] = int(time.time())

    def _answer(self, line: dict) -> tuple[int, dict]:
        body = line.get("body")
        if line.get("method") != "POST" or line.get("url") != "/v1/chat/completions":
            return 400, answers.error_body("each line needs method POST and url /v1/chat/completions")
        problem = self._validate(body)
        if problem is not None:
            return 400, answers.error_body(problem)
        draw = self._rng.random()
        if draw < self.faults["line_4xx"]:
            return 400, answers.error_body("injected per-line 400 fault")
        if draw < self.faults["line_4xx"] + self.faults["line_5xx"]:
            return 500, answers.error_body("injected per-line 500 fault", "server_error")
        try:
            return 200, answers.completion_response(body, answers.complete(body))
        except ImageRejected as exc:
            return 400, answers.error_body(str(exc))


def _line(custom_id: str | None, response: dict | None, error: dict | None) -> dict:
    return {
        "id": "batch_req_" + uuid.uuid4().hex[:24],
        "custom_id": custom_id,
        "response": response,
        "error": error,
    }


def _ok(payload: dict) -> tuple[int, bytes, tuple]:
    return 200, json.dumps(payload).encode(), ()


def _error(status: int, message: str, code: str | None = None) -> tuple[int, bytes, tuple]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return status, json.dumps(answers.error_body(message, kind, code)).encode(), ()
