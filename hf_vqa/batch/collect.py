"""Collecting a batch's results into the request store: only what was asked, first answer wins.

A results file (a provider's output or error file, or ``vllm run-batch -o``) is read line by line
from disk, never whole into memory. Each line is judged on its own (`lines.read_result`): one that
is not JSON, has a ``response`` that is not an object, a text ``status_code`` or no body fails that
request with the reason, and the other lines are still collected. The store is written only for
keys this run asked for; a line for any other key is ignored (counted in ``manifest.ignored`` and
said once). A key that comes twice keeps its first line (the copies are counted), and an answer
already in the store is never replaced (`Store.add`).

Example:
    >>> m = Manifest(model="m", endpoint="e")  # doctest: +SKIP
    >>> ingest(open("results.jsonl", "rb"), m, get_store(None), asked={"k1", "k2"})  # doctest: +SKIP
    >>> m.collected_ok, m.ignored  # doctest: +SKIP
    (2, {'unasked': 1, 'duplicate': 1})
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from hf_vqa.batch.lines import read_results
from hf_vqa.batch.manifest import Chunk, Manifest
from hf_vqa.engine import redaction
from hf_vqa.engine.store import StoredReply

__all__ = ["download_cap", "fetch_and_ingest", "ingest"]

FLOOR = 64 * 1024 * 1024  # bytes any output file may have
PER_REQUEST = 256 * 1024  # and this much more per request (a 100k-token answer is well under 1 MB)


def download_cap(chunk: Chunk, override: int | None = None) -> int:
    """The most bytes an output or error file of `chunk` may have (`override` wins when given).

    Example:
        >>> download_cap(Chunk(keys=["a"] * 1000)) // 2**20
        314
    """
    return override if override else FLOOR + len(chunk.keys) * PER_REQUEST


def ingest(
    lines: Iterable[bytes], m: Manifest, store, asked: set[str] | None, seen: set[str] | None = None
) -> None:
    """Read result lines into the store (answers) and `m.errors` (failures), for keys in `asked` only
    (None: every key, for an import without an input to check against). `seen` collects the keys met."""
    seen = set() if seen is None else seen
    for key, reply, error in read_results(lines):
        if not key:
            _count(m, "unreadable")
            continue
        if asked is not None and key not in asked:
            _count(m, "unasked")  # never written: it may be another output's key, or made up
            continue
        if key in seen:
            _count(m, "duplicate")  # the first line of a key wins
            continue
        seen.add(key)
        if reply is None:
            if store.get(key) is None:
                m.errors[key] = redaction.scrub(error) or "batch: failed"
            continue
        if not (reply.text or "").strip():  # not an answer: never stored, the row fails
            if store.get(key) is None:
                m.errors[key] = "batch: empty answer (only whitespace)"
            continue
        outcome = store.add(key, StoredReply.of(reply, 1))
        if outcome == "conflict":
            _count(m, "conflict")  # the answer stored first (online, or another output) is kept
        if outcome == "failed" and store.get(key) is None:
            m.errors[key] = "batch: the answer could not be stored (see the warning above)"
            continue
        m.errors.pop(key, None)
        m.collected_ok += 1
        m.prompt_tokens += reply.prompt_tokens
        m.completion_tokens += reply.completion_tokens


def fetch_and_ingest(
    file_id: str,
    download: Callable,
    cap: int,
    beside: Path,
    m: Manifest,
    store,
    asked: set[str],
    seen: set[str],
) -> None:
    """Download `file_id` (at most `cap` bytes) to a temporary file beside the manifest `beside`, read it
    line by line into the store, then remove it."""
    name = hashlib.sha256(file_id.encode("utf-8", "replace")).hexdigest()[:16]  # never a path from the server
    part = beside.with_name(f"{beside.name}.{name}.download")
    try:
        with open(part, "w+b") as f:
            download(file_id, f, cap)
            f.seek(0)
            ingest(f, m, store, asked, seen)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(part)


def _count(m: Manifest, what: str) -> None:
    m.ignored[what] = m.ignored.get(what, 0) + 1


def said(m: Manifest) -> str:
    """One line about the result lines that were not taken, or "" when there were none.

    Example:
        >>> m = Manifest(model="m", endpoint="e"); m.ignored = {"unasked": 2, "duplicate": 1}
        >>> said(m)
        'batch: ignored 2 result line(s) for requests this run never asked, 1 repeated line(s) (the first copy kept)'
    """
    texts = {"unasked": "result line(s) for requests this run never asked",
             "duplicate": "repeated line(s) (the first copy kept)",
             "unreadable": "unreadable line(s) (no JSON or no custom_id)",
             "conflict": "answer(s) for requests already answered in the store (the stored one kept)"}  # fmt: skip
    parts = [f"{m.ignored[k]} {texts[k]}" for k in texts if m.ignored.get(k)]
    return "batch: ignored " + ", ".join(parts) if parts else ""


__all__ += ["said"]
