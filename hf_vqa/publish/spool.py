"""The output parquet written while the replies arrive, used at the end only when it is exactly the output.

The CLI registers an `OutputSpool` for its run (`register`) before `run_pipeline`; `prompted_vqa`
hands this process's spool (`current`) each chunk of answered rows in order (`put`: the rows, their
output columns, the indices), every `chunk_rows` rows, so little is left to write after the last reply. A writer
thread applies the same refine step with the same kwargs, embeds the images as `write_parquet` does
(100-row row groups, same schema metadata and column options) and writes the parquet files in a hidden
staging folder inside the output folder: one file, or, for an output over `SHARD_BYTES`, the shards
`save_folder` would write (the same rows in each, row groups counted from each shard's start; the count
of shards is estimated from the images' size on disk and the first rows' table size). At the end
`save_folder` asks `OutputSpool.adopt`: the staged files replace the write only when they are as many
as its shards, the spool saw rows 0..N-1 once, in order, without an error, and the final dataset's
non-image columns and image names equal the files'; otherwise they are discarded and the output
written the ordinary way. A map served from the Arrow cache offers nothing (no spool).
`HF_VQA_SPOOL=0` turns it off.

Example:
    >>> spool = OutputSpool("out", features, n_rows=len(ds), refine=fn, refine_kwargs={})  # doctest: +SKIP
    >>> register(spool)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hf_vqa.engine.store_leases import process_alive
from hf_vqa.images.columns import decoded_features, image_feature_columns
from hf_vqa.publish.atomic import STAGING_PREFIX
from hf_vqa.publish.image_arrays import column_options
from hf_vqa.refine import forget, remembering

__all__ = ["OutputSpool", "current", "enabled", "register", "unregister"]

SPOOL_PREFIX = f"{STAGING_PREFIX}spool-"
ROWS = 100  # rows per row group, as write_parquet
QUEUED = 80  # chunks waiting at most (of ROWS rows, or a map batch's rest): 8,000 rows, as 4 map batches
# were at c=256 (the writer may lag there while the replies come in); more: the spool is dropped

_SPOOLS: dict[int, OutputSpool] = {}  # pid → this process's run's spool


def enabled() -> bool:
    """False when `HF_VQA_SPOOL=0` (tests compare outputs with and without)."""
    return os.environ.get("HF_VQA_SPOOL", "1") != "0"


def register(spool: OutputSpool) -> None:
    """Make `spool` this process's spool (`current`): `prompted_vqa` hands it the answered rows."""
    _SPOOLS[os.getpid()] = spool


def unregister() -> OutputSpool | None:
    """Stop handing rows to this process's spool; returns it (or None)."""
    return _SPOOLS.pop(os.getpid(), None)


def current() -> OutputSpool | None:
    """This process's spool, if one is registered (`prompted_vqa` hands it each chunk of answered rows)."""
    return _SPOOLS.get(os.getpid())


class OutputSpool:
    """A background writer of the output parquet fed with generation batches (see the module doc)."""

    chunk_rows = ROWS  # `prompted_vqa` hands over answered rows in chunks of this many (one row group)

    def __init__(self, folder: str | os.PathLike, features: Any, *, n_rows: int, refine: Callable,
                 refine_kwargs: dict[str, Any], fetch: Any = None, image_bytes: int | None = None) -> None:  # fmt: skip
        """`image_bytes`: the size of the image files the output embeds, to split it into shards as
        `save_folder` will (None: one file)."""
        from hf_vqa.images.fetch import FetchSettings

        self.folder = Path(folder)
        self.features, self.n_rows = features, n_rows
        self.refine, self.refine_kwargs = refine, refine_kwargs
        self.fetch = fetch or FetchSettings()
        self.columns = image_feature_columns(features)
        self.metadata = decoded_features(features).arrow_schema.metadata
        self.schema = features.arrow_schema  # built once (a property that builds it on every call)
        self.error: str | None = None
        self.key: Any = None
        self.next = 0  # the next row index expected from the map
        self.written = 0
        self._created = not self.folder.exists()
        _clean_leftovers(self.folder)
        self.stage = self.folder / f"{SPOOL_PREFIX}{os.getpid()}"
        self.stage.mkdir(parents=True, exist_ok=True)
        self.image_bytes = image_bytes
        self.bounds: list[tuple[int, int]] | None = None if image_bytes is not None else [(0, n_rows)]
        self.paths: list[Path] = []  # the staged files, one per shard begun
        self._queue: queue.Queue = queue.Queue(QUEUED)
        self._pending: pa.Table | None = None
        self._writer: pq.ParquetWriter | None = None
        self._images: dict[str, tuple[list, list]] = {name: ([], []) for name in self.columns}
        self._thread = threading.Thread(target=self._run, name="hf_vqa-spool", daemon=True)
        self._thread.start()

    def put(self, key: Any, indices: list[int], batch: Any, outputs: dict[str, list]) -> None:
        """Queue one chunk of answered rows (never blocks: a full queue drops the spool for this run)."""
        if self.error is not None:
            return
        if self.key is None:
            self.key = key
        if (
            key != self.key
            or not indices
            or list(indices) != list(range(self.next, self.next + len(indices)))
        ):
            self._fail("rows out of order, repeated, or from another map")
            return
        self.next += len(indices)
        rows = dict(batch)  # the chunk's columns (a copy: the caller's dict is not kept)
        try:
            self._queue.put_nowait((rows, dict(outputs)))
        except queue.Full:
            self._fail("the writer fell behind")

    def _fail(self, why: str) -> None:
        if self.error is None:
            self.error = why

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            try:
                self._write(*item)
            except Exception as err:  # any problem: the output is written the ordinary way
                self._fail(f"{type(err).__name__}: {err}")

    def _write(self, rows: dict[str, list], outputs: dict[str, list]) -> None:
        merged = {**rows, **outputs}
        with remembering():  # the refine map takes these rows instead of parsing them again
            merged = {**merged, **self.refine(dict(merged), **self.refine_kwargs)}
        encoded = self.features.encode_batch({name: merged[name] for name in self.features})
        table = pa.Table.from_pydict(encoded, schema=self.schema)
        if self.bounds is None:  # the shards `save_folder` will write: its size estimate, from these rows
            self.bounds = _shards(self.n_rows, self.image_bytes or 0, table.nbytes / max(1, table.num_rows))
        self._pending = table if self._pending is None else pa.concat_tables([self._pending, table])
        while self.written < self.n_rows and self._pending.num_rows >= (cut := self._group_rows()):
            self._flush(self._pending.slice(0, cut))
            self._pending = self._pending.slice(cut)

    def _group_rows(self) -> int:
        """Rows in the next row group: ROWS from its shard's start, the shard's last group shorter."""
        end = next(end for start, end in self.bounds or [] if start <= self.written < end)
        return min(ROWS, end - self.written)

    def _flush(self, table: pa.Table) -> None:
        from hf_vqa.publish.folder import _embedded

        if self.columns:
            table = _embedded(table, self.columns, self.fetch)
        table = table.replace_schema_metadata(self.metadata)
        for name in self.columns:  # what the file's images are, for `adopt` (it never reads their bytes);
            names = _image_names(table.column(name))  # the chunked column: its bytes are not copied
            for kept, got in zip(self._images[name], names):
                kept.extend(got)
        if any(start == self.written for start, _ in self.bounds or []):  # a shard begins: its own file
            if self._writer is not None:
                self._writer.close()
            self.paths.append(self.stage / f"shard-{len(self.paths):05d}.parquet")
            self._writer = pq.ParquetWriter(
                str(self.paths[-1]), table.schema, **column_options(table, self.columns)
            )
        self._writer.write_table(table, row_group_size=ROWS)
        self.written += table.num_rows

    def finish(self, wait: float | None = None) -> bool:
        """Wait for the queued batches (at most `wait` seconds) and close the file; True when it holds
        every row, in order."""
        unregister_if(self)
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=wait)
            self._thread.join(wait)
            if self._thread.is_alive():  # still writing (a slow image URL): left to end on its own
                self._fail("the writer did not stop in time")
                return False
        try:
            if self.error is None and self._pending is not None and self._pending.num_rows:
                self._flush(self._pending)
                self._pending = None
        except Exception as err:
            self._fail(f"{type(err).__name__}: {err}")
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        return self.error is None and self.next == self.n_rows == self.written

    def adopt(self, ds: Any, targets: list[Path]) -> bool:
        """Move the staged files to `targets` (`save_folder`'s shards, in order) when they are exactly what
        it would write there."""
        if (not self.finish() or len(ds) != self.n_rows or ds.features != self.features
                or len(targets) != len(self.paths) or len(self.paths) != len(self.bounds or [])):  # fmt: skip
            self._discard()
            return False
        try:
            if self._same(ds):
                for path, target in zip(self.paths, targets):
                    os.replace(path, target)
                return True
        except Exception:  # unreadable or unlike: the ordinary write
            pass
        self._discard()  # its disk space is the ordinary write's now
        return False

    def _discard(self) -> None:
        for path in self.paths:
            with contextlib.suppress(OSError):
                path.unlink()

    def close(self) -> None:
        """Stop the writer and remove the staging folder (and the output folder, if it made it empty)."""
        self._fail("closed")  # the writer skips what is still queued
        self.finish(wait=5)
        forget()  # rows the refine map did not take
        shutil.rmtree(self.stage, ignore_errors=True)
        if self._created:
            with contextlib.suppress(OSError):
                self.folder.rmdir()  # only when empty

    def _same(self, ds: Any) -> bool:
        """The files' non-image columns equal `ds`'s rows of their shards (read one shard at a time), and
        their images are `ds`'s (same names, none refused)."""
        final = ds.with_format("arrow")[:]
        others = [name for name in final.column_names if name not in self.columns]
        for path, (start, end) in zip(self.paths, self.bounds or []):
            if pq.read_schema(path).names != final.column_names:
                return False
            if not pq.read_table(path, columns=others).equals(final.select(others).slice(start, end - start)):
                return False
        for name in self.columns:
            if self._images[name] != _image_names(final.column(name).combine_chunks(), as_given=True):
                return False
        return True


def _image_names(column: pa.Array | pa.ChunkedArray, as_given: bool = False) -> tuple[list, list]:
    """(images per row for a list column, else [];  (file name, present) of each image), so the file's
    images can be checked against the final dataset's without reading their bytes again.

    `as_given`: `path`s not yet embedded, named as `_embed_one` names them in the file."""
    counts: list = []
    if pa.types.is_list(column.type):
        counts = pc.list_value_length(column).to_pylist()
        column = pc.list_flatten(column)
    paths = pc.struct_field(column, "path").to_pylist()
    present = pc.is_valid(column).to_pylist()
    if as_given:
        from hf_vqa.publish.folder import embedded_name

        paths = [embedded_name(p) if ok else None for p, ok in zip(paths, present)]
    return counts, list(zip(paths, present))


def _shards(n_rows: int, image_bytes: int, row_bytes: float) -> list[tuple[int, int]]:
    """The [start, end) rows of each shard `save_folder` writes for about this many bytes."""
    from hf_vqa.publish.folder import shard_count
    from hf_vqa.runner.lookahead import shard_bounds

    count = shard_count(image_bytes + row_bytes * n_rows)
    return [shard_bounds(n_rows, count, index) for index in range(count)]


def unregister_if(spool: OutputSpool) -> None:
    if _SPOOLS.get(os.getpid()) is spool:
        _SPOOLS.pop(os.getpid(), None)


def _clean_leftovers(folder: Path) -> None:
    """Remove the spool folders of runs that were killed (their process is gone)."""
    if not folder.is_dir():
        return
    for old in folder.glob(f"{SPOOL_PREFIX}*"):
        pid = old.name[len(SPOOL_PREFIX) :]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
