"""Submit, poll, cancel and collect a batch run; the CLI's ``--batch`` (and ``--batch-export/-import``).

`advance` does one step of the whole life cycle and is safe to call again at any time (that is what
rerunning the same command does): it uploads and creates what the manifest lacks, polls what is
running, downloads the output and error files of what ended, writes each answered line into the
request store and each failed one into ``manifest.errors`` (`collect.py`: only keys this run asked
for; the first answer wins). Requests already in the store are never uploaded, so nothing is paid
twice; a batch id is in the journal (`journal.py`) before anything else can fail. ``retry_failed``
resubmits the failed requests as a new batch. ``--wait`` is bounded in time (`Limits.max_wait`).

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

from hf_vqa.batch import collect
from hf_vqa.batch.journal import Journal, journal_path
from hf_vqa.batch.lines import Plan, iter_requests, split_lines
from hf_vqa.batch.manifest import Chunk, Manifest
from hf_vqa.config import VLM
from hf_vqa.engine import redaction
from hf_vqa.engine.batch_api import TERMINAL, BatchAPI
from hf_vqa.engine.store import get_store
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
    max_wait: float = 25 * 3600.0  # --wait-timeout: seconds --wait polls before it stops (the batch runs on)
    max_download_bytes: int | None = None  # per output/error file; None: `collect.download_cap`


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
        _poll(m, path, api, vlm, say, limits)
        if m.done or not wait:
            break
        running = [c for c in m.chunks if not c.collected]
        total = sum(len(c.keys) for c in running)  # the provider's counts, never more than was sent
        done = min(total, sum(_int(c.counts.get("completed")) for c in running))
        failed = min(total, sum(_int(c.counts.get("failed")) for c in running))
        states = ",".join(sorted({c.status for c in running}))
        elapsed = time.monotonic() - started
        say(f"batch: {states} completed={done}/{total} failed={failed} elapsed={elapsed:.0f}s")
        if elapsed + limits.poll > limits.max_wait:
            ids = ", ".join(f"{c.batch_id} ({c.status})" for c in running)
            raise BatchError(f"--wait stopped after {elapsed:.0f}s (--wait-timeout {limits.max_wait:g}s); "
                             f"still running: {ids}", fix="rerun the same command later to collect them "
                             "(nothing is submitted again), or raise --wait-timeout")  # fmt: skip
        time.sleep(limits.poll)
    return m


def _int(value: object) -> int:
    return value if type(value) is int else 0


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
    """Create the batch of an uploaded file; its id is in the journal before the manifest is saved."""
    journal = Journal(journal_path(path))
    slot = journal.reserve(c.file_id)  # room for the id, taken before the paid step
    batch = api.create(c.file_id, limits.window, metadata={"created_by": "hf_vqa"})
    journal.fill(slot, c.file_id, batch["id"])
    c.batch_id, c.status, c.created_at = batch["id"], str(batch.get("status", "validating")), time.time()
    m.save(path)
    say(f"batch: submitted {c.batch_id} ({len(c.keys)} requests, {c.bytes:,} bytes, window {limits.window})")


def _create_missing(
    m: Manifest, path: Path, limits: Limits, api: BatchAPI, say, ds, vlm, request_kwargs
) -> None:
    """Finish chunks a killed process left half-done: upload (rebuilding their lines) or create."""
    known = Journal(journal_path(path)).ids()
    for c in m.chunks:
        if c.batch_id:
            continue
        if c.file_id in known:  # created before a crash (or a full disk) kept it from the manifest
            c.batch_id, c.status, c.created_at = known[c.file_id], "validating", time.time()
            say(f"batch: resuming {c.batch_id} (found in {journal_path(path).name})")
            m.save(path)
            continue
        if c.file_id is None:
            wanted = set(c.keys)
            found = [(k, line) for k, line in iter_requests(ds, vlm, Plan(), **request_kwargs) if k in wanted]
            data = b"".join(line + b"\n" for _k, line in found)
            c.keys = [k for k, _ in found]
            c.file_id, c.bytes = api.upload(data, "hf_vqa-resumed.jsonl"), len(data)
            m.save(path)
        _create(c, m, path, limits, api, say)


def _poll(m: Manifest, path: Path, api: BatchAPI, vlm: VLM, say, limits: Limits) -> None:
    for c in m.chunks:
        if c.collected or not c.batch_id:
            continue
        batch = api.get(c.batch_id)
        counts = batch.get("request_counts")
        c.status, c.counts = str(batch.get("status", "?"))[:40], counts if isinstance(counts, dict) else {}
        if c.status in TERMINAL:
            answered = _collect(c, batch, m, api, vlm, path, limits)
            say(f"batch: {c.batch_id} {c.status}: {answered} of {len(c.keys)} answered, "
                f"{sum(1 for k in c.keys if k in m.errors)} failed")  # fmt: skip
            if collect.said(m):
                say(collect.said(m))
        m.save(path)


def _collect(c: Chunk, batch: dict, m: Manifest, api: BatchAPI, vlm: VLM, path: Path, limits: Limits) -> int:
    """Download the output and error files; answered lines into the store, the rest into `m.errors`.
    Returns how many of the chunk's requests got an answer (each counted once)."""
    store = get_store(vlm.cache_dir)
    ids = [batch.get("output_file_id"), batch.get("error_file_id")]
    c.output_file_id, c.error_file_id = (i if isinstance(i, str) and i else None for i in ids)
    seen: set[str] = set()
    asked = {k for chunk in m.chunks for k in chunk.keys}  # only this run's keys reach the store
    cap = collect.download_cap(c, limits.max_download_bytes)
    for file_id in dict.fromkeys(f for f in (c.output_file_id, c.error_file_id) if f):  # each file once
        collect.fetch_and_ingest(file_id, api.download, cap, path, m, store, asked, seen)
    reason = {"failed": "batch failed: " + _batch_errors(batch), "expired": "batch expired before this request ran",
              "cancelled": "batch cancelled before this request ran"}.get(c.status, f"batch {c.status}: no result")  # fmt: skip
    for key in c.keys:
        if key not in seen and store.get(key) is None:
            m.errors[key] = reason
    c.collected, c.ended_at = True, time.time()
    return sum(1 for k in c.keys if k in seen and k not in m.errors)


def _batch_errors(batch: dict) -> str:
    errors = batch.get("errors")
    data = errors.get("data") if isinstance(errors, dict) else None
    data = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in data[:3])[:300] or "no reason given"


def export_requests(ds: Any, vlm: VLM, file: str | Path, request_kwargs: dict) -> tuple[int, int]:
    """Write the requests not yet stored as one JSONL file (for ``vllm run-batch -i``); (lines, bytes)."""
    plan, size = Plan(), 0
    with open(file, "wb") as f:
        for _key, line in iter_requests(ds, vlm, plan, **request_kwargs):
            f.write(line + b"\n")
            size += len(line) + 1
    return plan.to_send, size


def import_results(vlm: VLM, file: str | Path, path: str | Path, asked: set[str] | None = None) -> Manifest:
    """Read a results file (``vllm run-batch -o``, or a provider's output/error file) into the store,
    line by line; its failed lines go into the manifest at `path` (created if missing). With `asked`
    (the keys of this run's requests not yet stored), lines for other keys are ignored and counted."""
    path = Path(path)
    m = (
        Manifest.load(path)
        if path.exists()
        else Manifest(model=vlm.model, endpoint=_endpoint(vlm), window="import")
    )
    m.ignored = {}  # this import's own counts
    redaction.remember_env(vlm.api_key_env)  # no key is read to import, but one exported is still redacted
    try:
        with open(file, "rb") as f:
            collect.ingest(f, m, get_store(vlm.cache_dir), asked)
    except OSError as err:
        raise BatchError("cannot read the batch results file", received=f"{file}: {err.strerror}",
                         fix="pass the file vllm run-batch wrote with -o") from None  # fmt: skip
    m.save(path)
    return m


def asked_keys(ds: Any, vlm: VLM, request_kwargs: dict) -> set[str]:
    """The keys of every distinct request this input asks for (stored or not)."""
    return {key for key, _line in iter_requests(ds, vlm, Plan(), keys_only=True, **request_kwargs)}


__all__ += ["asked_keys"]
