"""The batch manifest: a JSON file next to the output that makes a batch run resumable.

It records the model, the endpoint (scheme, host and path only; never the key), the window, and per
uploaded file: its request keys, file id, batch id, status, counts and whether its results were
collected; plus the per-request errors collected so far. Written atomically after every step, so a
process killed between upload, create and collect resumes where it stopped.

Example:
    >>> import tempfile, os
    >>> m = Manifest(model="m", endpoint="http://127.0.0.1:1/v1", window="24h")
    >>> path = os.path.join(tempfile.mkdtemp(), "out.batch.json")
    >>> m.save(path); Manifest.load(path).model
    'm'
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hf_vqa.errors import BatchError

__all__ = ["Chunk", "Manifest", "manifest_path"]

VERSION = 1


def manifest_path(output: str | os.PathLike) -> Path:
    """``<output>.batch.json`` (the output is a file or a folder).

    Example:
        >>> manifest_path("out/data/").name
        'data.batch.json'
    """
    return Path(str(output).rstrip("/\\") + ".batch.json")


def _free(folder: Path) -> str:
    try:
        st = os.statvfs(folder)
        return f"{st.f_bavail * st.f_frsize:,} bytes"
    except OSError:
        return "unknown bytes"


@dataclass
class Chunk:
    """One uploaded file and its batch."""

    keys: list[str]
    bytes: int = 0
    file_id: str | None = None
    batch_id: str | None = None
    status: str = "not uploaded"
    counts: dict = field(default_factory=dict)
    collected: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: float | None = None
    ended_at: float | None = None


@dataclass
class Manifest:
    """Everything a rerun needs to poll, collect and build the output (no secrets)."""

    model: str
    endpoint: str
    window: str = "24h"
    chunks: list[Chunk] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)  # result lines not taken, by reason (collect.py)
    collected_ok: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    version: int = VERSION
    created: float = field(default_factory=time.time)

    @property
    def done(self) -> bool:
        """Every chunk collected."""
        return all(c.collected for c in self.chunks)

    def counts(self) -> dict[str, int]:
        """Totals over the chunks: requests, completed, failed."""
        total = sum(len(c.keys) for c in self.chunks)
        return {"batches": len(self.chunks), "requests": total, "completed": self.collected_ok,
                "failed": len(self.errors)}  # fmt: skip

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically (temp file + rename). On a full disk: `BatchError` naming this file and its
        free space (the previous manifest stays; batch ids are safe in the journal, `journal.py`)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(asdict(self), indent=1))
            os.replace(tmp, path)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            ids = [c.batch_id for c in self.chunks if c.batch_id]
            raise BatchError(
                f"cannot save the batch manifest {path} ({err.strerror or err}; {_free(path.parent)} free there)",
                received=f"batch ids so far: {', '.join(ids) or 'none'} (also kept in {path.name[:-5]}.ids)",
                fix=f"free some space in {path.parent}, then rerun the same command: it resumes these batches "
                "and submits nothing twice",
            ) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Manifest:
        """Read a manifest; `BatchError` if it is not one this version wrote."""
        try:
            data = json.loads(Path(path).read_text())
            data["chunks"] = [Chunk(**c) for c in data.get("chunks", [])]
            return cls(**data)
        except (OSError, ValueError, TypeError) as err:
            raise BatchError("unreadable batch manifest", received=f"{path}: {err}",
                             fix="delete it to start the batch over (stored replies are kept)") from None  # fmt: skip
