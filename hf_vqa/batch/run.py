"""Submit, poll, cancel and collect a batch run; the CLI's ``--batch`` (and ``--batch-export/-import``).

`advance` does one step of the whole life cycle and is safe to call again at any time (that is what
rerunning the same command does): it uploads and creates what the manifest lacks, polls what is
running, downloads the output and error files of what ended, writes each answered line into the
request store and each failed one into ``manifest.errors``. Requests already in the store are never
uploaded, so nothing is paid twice. ``retry_failed`` resubmits the failed requests as a new batch.

Example:
    >>> m = advance(ds, vlm, "out.batch.json", request_kwargs, wait=True, poll=60)  # doctest: +SKIP
    >>> m.done, m.counts()  # doctest: +SKIP
    (True, {'batches': 1, 'requests': 1000, 'completed': 1000, 'failed': 0})
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_vqa.batch.lines import Plan, iter_requests, read_results, split_lines
from hf_vqa.batch.manifest import Chunk, Manifest
from hf_vqa.config import VLM
from hf_vqa.engine.batch_api import TERMINAL, BatchAPI
from hf_vqa.engine.store import StoredReply, get_store
from hf_vqa.errors import BatchError

__all__ = ["Limits", "advance", "export_requests", "import_results"]


@dataclass(frozen=True)
class Limits:
    """How to split and run: per-file caps (OpenAI: 50,000 requests, 200 MB), window, polling."""

    max_requests: int = 50_000
    max_bytes: int = 200 * 1024 * 1024
    window: str = "24h"
    poll: float = 60.0
    max_polls: int = 100_000  # a bound on --wait's loop


def _endpoint(vlm: VLM) -> str:
    """Scheme, host, port and path of the endpoint: no credentials in the URL, no query."""
    from urllib.parse import urlsplit

    parts = urlsplit(vlm.base_url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def advance(
    ds: Any,
    vlm: VLM,
    path: str | Path,
    request_kwargs: dict,
    *,
    limits: Limits = Limits(),
    wait: bool = False,
    cancel: bool = False,
    retry_failed: bool = False,
    say: Callable[[str], None] = print,
    api: BatchAPI | None = None,
) -> Manifest:
    """Bring the batch run recorded at `path` one step further (or to the end with `wait`); return its manifest."""
    path = Path(path)
    api = api or BatchAPI(vlm, pause=min(1.0, limits.poll))
    m = Manifest.load(path) if path.exists() else None
    if m is not None and (m.model != vlm.model or m.endpoint != _endpoint(vlm)):
        raise BatchError("the batch manifest belongs to another model or endpoint",
                         received=f"{path}: {m.model} at {m.endpoint}",
                         fix="use another --output, or delete the manifest to start over")  # fmt: skip
    if m is None and cancel:
        raise BatchError("no batch to cancel", received=str(path), fix="pass the --output of a batch run")
    if m is None:
        m = Manifest(model=vlm.model, endpoint=_endpoint(vlm), window=limits.window)
        _submit(ds, vlm, m, path, request_kwargs, limits, api, say, skip=())
    elif (
        m.done and not cancel
    ):  # rows added to the input since go out as a new batch; failed ones only with retry_failed
        if retry_failed and m.errors:
            say(f"batch: resubmitting {len(m.errors)} failed request(s) as a new batch")
        skip = () if retry_failed else set(m.errors)
        _submit(ds, vlm, m, path, request_kwargs, limits, api, say, skip=skip)
    _create_missing(m, path, limits, api, say, ds, vlm, request_kwargs)
    if cancel:
        for c in m.chunks:
            if c.batch_id and not c.collected and c.status not in TERMINAL:
                c.status = api.cancel(c.batch_id).get("status", "cancelling")
                say(f"batch: cancel requested for {c.batch_id} ({c.status})")
        m.save(path)
    started = time.monotonic()
    for _poll_count in range(limits.max_polls):
        _poll(m, path, api, vlm, say)
        if m.done or not wait:
            break
        running = [c for c in m.chunks if not c.collected]
        done = sum(c.counts.get("completed", 0) for c in running)
        failed = sum(c.counts.get("failed", 0) for c in running)
        total = sum(len(c.keys) for c in running)
        states = ",".join(sorted({c.status for c in running}))
        say(
            f"batch: {states} completed={done}/{total} failed={failed} elapsed={time.monotonic() - started:.0f}s"
        )
        time.sleep(limits.poll)
    return m


def _submit(
    ds, vlm, m: Manifest, path: Path, request_kwargs: dict, limits: Limits, api: BatchAPI, say, skip
) -> None:
    """Plan and upload file by file (at most one file's lines in memory), creating a batch per file."""
    plan = Plan()

    def lines():
        for key, line in iter_requests(ds, vlm, plan, skip=skip, **request_kwargs):
            m.errors.pop(key, None)  # resubmitted: its old error no longer stands
            yield key, line

    for chunk in split_lines(lines(), limits.max_requests, limits.max_bytes):
        data = b"".join(line + b"\n" for _key, line in chunk)
        c = Chunk(keys=[key for key, _ in chunk], bytes=len(data))
        m.chunks.append(c)
        m.save(path)  # the keys first: a kill during the upload re-plans only this file
        c.file_id = api.upload(data, f"hf_vqa-{len(m.chunks)}.jsonl")
        c.status = "uploaded"
        m.save(path)
        _create(c, m, path, limits, api, say)
    say(f"batch: {plan.rows} rows, {plan.distinct} distinct requests, {plan.stored} already in the request store, "
        f"{plan.to_send} to upload")  # fmt: skip


def _create(c: Chunk, m: Manifest, path: Path, limits: Limits, api: BatchAPI, say) -> None:
    batch = api.create(c.file_id, limits.window, metadata={"created_by": "hf_vqa"})
    c.batch_id, c.status, c.created_at = batch["id"], batch.get("status", "validating"), time.time()
    m.save(path)
    say(f"batch: submitted {c.batch_id} ({len(c.keys)} requests, {c.bytes:,} bytes, window {limits.window})")


def _create_missing(
    m: Manifest, path: Path, limits: Limits, api: BatchAPI, say, ds, vlm, request_kwargs
) -> None:
    """Finish chunks a killed process left half-done: upload (rebuilding their lines) or create."""
    for c in m.chunks:
        if c.batch_id:
            continue
        if c.file_id is None:
            wanted = set(c.keys)
            found = [(k, line) for k, line in iter_requests(ds, vlm, Plan(), **request_kwargs) if k in wanted]
            data = b"".join(line + b"\n" for _k, line in found)
            c.keys = [k for k, _ in found]
            c.file_id, c.bytes = api.upload(data, "hf_vqa-resumed.jsonl"), len(data)
            m.save(path)
        _create(c, m, path, limits, api, say)


def _poll(m: Manifest, path: Path, api: BatchAPI, vlm: VLM, say) -> None:
    for c in m.chunks:
        if c.collected or not c.batch_id:
            continue
        batch = api.get(c.batch_id)
        c.status, c.counts = batch.get("status", "?"), batch.get("request_counts") or {}
        if c.status in TERMINAL:
            _collect(c, batch, m, api, vlm)
            say(f"batch: {c.batch_id} {c.status}: {c.counts.get('completed', 0)} answered, "
                f"{sum(1 for k in c.keys if k in m.errors)} failed")  # fmt: skip
        m.save(path)


def _collect(c: Chunk, batch: dict, m: Manifest, api: BatchAPI, vlm: VLM) -> None:
    """Download the output and error files; answered lines into the store, the rest into `m.errors`."""
    store = get_store(vlm.cache_dir)
    c.output_file_id, c.error_file_id = batch.get("output_file_id"), batch.get("error_file_id")
    seen: set[str] = set()
    for file_id in (c.output_file_id, c.error_file_id):
        if file_id:
            _ingest(api.content(file_id), m, store, seen)
    reason = {"failed": "batch failed: " + _batch_errors(batch), "expired": "batch expired before this request ran",
              "cancelled": "batch cancelled before this request ran"}.get(c.status, f"batch {c.status}: no result")  # fmt: skip
    for key in c.keys:
        if key not in seen and store.get(key) is None:
            m.errors[key] = reason
    c.collected, c.ended_at = True, time.time()


def _ingest(data: bytes, m: Manifest, store, seen: set[str]) -> None:
    for key, reply, error in read_results(data):
        if not key:
            continue
        seen.add(key)
        if reply is not None:
            store.put(key, StoredReply.of(reply, 1))
            m.errors.pop(key, None)
            m.collected_ok += 1
            m.prompt_tokens += reply.prompt_tokens
            m.completion_tokens += reply.completion_tokens
        elif store.get(key) is None:
            m.errors[key] = error or "batch: failed"


def _batch_errors(batch: dict) -> str:
    data = (batch.get("errors") or {}).get("data") or []
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in data[:3]) or "no reason given"


def export_requests(ds: Any, vlm: VLM, file: str | Path, request_kwargs: dict) -> tuple[int, int]:
    """Write the requests not yet stored as one JSONL file (for ``vllm run-batch -i``); (lines, bytes)."""
    plan, size = Plan(), 0
    with open(file, "wb") as f:
        for _key, line in iter_requests(ds, vlm, plan, **request_kwargs):
            f.write(line + b"\n")
            size += len(line) + 1
    return plan.to_send, size


def import_results(vlm: VLM, file: str | Path, path: str | Path) -> Manifest:
    """Read a results file (``vllm run-batch -o``, or a provider's output/error file) into the store;
    its failed lines go into the manifest at `path` (created if missing)."""
    path = Path(path)
    m = (
        Manifest.load(path)
        if path.exists()
        else Manifest(model=vlm.model, endpoint=_endpoint(vlm), window="import")
    )
    try:
        data = Path(file).read_bytes()
    except OSError as err:
        raise BatchError("cannot read the batch results file", received=f"{file}: {err.strerror}",
                         fix="pass the file vllm run-batch wrote with -o") from None  # fmt: skip
    _ingest(data, m, get_store(vlm.cache_dir), set())
    m.save(path)
    return m
