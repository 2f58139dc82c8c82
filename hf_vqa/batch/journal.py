"""The batch-id journal: a batch id is on disk before anything else can fail (write-ahead).

Creating a batch is the step that costs money. The manifest is rewritten whole after every step,
and rewriting needs free space: on a full disk the id of a batch just created would be lost, and
the rerun would create (and pay for) a second batch. So before each create, `reserve` appends a
fixed-width slot to ``<output>.batch.ids`` (synced); right after the create, `fill` writes the id
into that slot in place (the bytes already belong to the file, so a full disk cannot refuse
them). A rerun whose manifest lacks a batch id finds it here by the file id it was created from.

Example:
    >>> import tempfile, os
    >>> j = Journal(os.path.join(tempfile.mkdtemp(), "out.batch.ids"))
    >>> slot = j.reserve("file-1"); j.fill(slot, "file-1", "batch_9")
    >>> j.ids()
    {'file-1': 'batch_9'}
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from hf_vqa.errors import BatchError

__all__ = ["Journal", "journal_path"]

WIDTH = 256  # bytes per slot, newline included: a file id and a batch id fit many times over


def journal_path(manifest: str | os.PathLike) -> Path:
    """``<output>.batch.ids`` beside ``<output>.batch.json``.

    Example:
        >>> journal_path("out.batch.json").name
        'out.batch.ids'
    """
    manifest = Path(manifest)
    return manifest.with_name(manifest.name.removesuffix(".json") + ".ids")


def _slot(file_id: str, batch_id: str | None) -> bytes:
    record = json.dumps({"file_id": file_id, "batch_id": batch_id}).encode()
    if len(record) >= WIDTH:
        raise ValueError(f"ids too long for a journal slot: {record[:80]!r}")
    return record + b" " * (WIDTH - 1 - len(record)) + b"\n"


class Journal:
    """Append-only slots of ``{"file_id", "batch_id"}``, each `WIDTH` bytes."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def reserve(self, file_id: str) -> int:
        """Append an empty slot for a batch about to be created from `file_id` (synced); its offset."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                offset = os.fstat(fd).st_size
                offset -= offset % WIDTH  # a slot cut short by a crash is written over
                os.ftruncate(fd, offset)
                if os.write(fd, _slot(file_id, None)) != WIDTH:
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
                return offset
            finally:
                os.close(fd)
        except OSError as err:  # before the create: nothing was submitted, nothing is lost
            raise BatchError(f"cannot write the batch journal {self.path} ({err.strerror or err})",
                             fix=f"free some space in {self.path.parent}, then rerun the same command "
                             "(nothing was submitted yet)") from None  # fmt: skip

    def fill(self, offset: int, file_id: str, batch_id: str) -> None:
        """Write `batch_id` into the slot at `offset`, in place (no new disk blocks needed), synced."""
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, _slot(file_id, batch_id), offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    def ids(self) -> dict[str, str]:
        """file id → batch id for every filled slot (unreadable slots are skipped)."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return {}
        found: dict[str, str] = {}
        for line in data.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("batch_id"), str):
                found[str(record.get("file_id"))] = record["batch_id"]
        return found
