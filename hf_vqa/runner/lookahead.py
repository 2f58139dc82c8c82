"""Keep requests flowing across `map` batch boundaries.

`Dataset.map` hands `prompted_vqa` one batch at a time and waits for its results, so without help
each batch would wait for its slowest request (a retry, a Retry-After) before the next batch's
requests could start. With a `Source` (plain data: the dataset's Arrow file and its shape), each
process runs one prefetch thread that walks its own shard in order, a bounded distance ahead of
the map, and submits requests as admission slots free up. The map thread then only collects.

It is used only where it is safe: a dataset backed by exactly one Arrow file with no indices
mapping, whose shard bounds match what `datasets` hands this process; otherwise the map falls back
to per-batch submission. Results are identical either way; only the timing changes.

Example:
    >>> src = source_for(ds, num_proc=2)  # doctest: +SKIP
    >>> ds.map(prompted_vqa, batched=True, with_indices=True, with_rank=True, num_proc=2,  # doctest: +SKIP
    ...        fn_kwargs={"vlm": vlm, "lookahead": src})
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `datasets` loads inside the functions: a warm start (`runner/warm.py`) runs without it
    import datasets

__all__ = [
    "CHUNK",
    "MAX_AHEAD",
    "Prefetcher",
    "Source",
    "adopt_warm",
    "get_prefetcher",
    "reread_warm",
    "shard_bounds",
    "source_for",
]

MAX_AHEAD = 4096  # rows produced but not yet collected, at most
CHUNK = 64  # rows read, prepared and submitted together
FIRST_CHUNK = 8  # the first chunk: its requests go out before 64 rows are prepared


@dataclass(frozen=True)
class Source:
    """Where a worker can read the rows ahead of its batch. Plain and picklable."""

    path: str
    num_rows: int
    num_shards: int
    fingerprint: str


def source_for(ds: datasets.Dataset, num_proc: int | None) -> Source | None:
    """A `Source` for `ds`, or None when the rows cannot be read back safely by position.

    A contiguous `ds.shard(...)`/`select(range(...))` is a slice of its Arrow file with no indices
    mapping: its row 0 is not the file's row 0, so it gets no Source either.
    """
    from hf_vqa.runner.datasets_internals import fingerprint, has_indices

    if has_indices(ds) or len(ds.cache_files) != 1 or _file_rows(ds.cache_files[0]["filename"]) != len(ds):
        return None
    return Source(ds.cache_files[0]["filename"], len(ds), max(1, num_proc or 1), fingerprint(ds))


def _file_rows(path: str) -> int:
    import pyarrow as pa

    with pa.memory_map(path) as source:  # no copy: only the record batches' headers are read
        return pa.ipc.open_stream(source).read_all().num_rows


def shard_bounds(num_rows: int, num_shards: int, index: int) -> tuple[int, int]:
    """The [start, end) rows of contiguous shard `index`, exactly as `Dataset.shard` computes them."""
    div, mod = divmod(num_rows, num_shards)
    start = div * index + min(index, mod)
    return start, start + div + (1 if index < mod else 0)


class Prefetcher:
    """One background thread that submits rows [start, end) in order, at most MAX_AHEAD ahead.

    The rows are read from `source`'s Arrow file, or taken from `rows` (a warm start: the records
    file's rows, read before `datasets` was loaded; each is checked against the map's own row in
    `take`, so a row that differs is never answered with another row's reply).

    It prepares and submits `CHUNK` rows at a time (the first chunk smaller, so the first requests go
    out at once): `submit_rows` takes a list of rows and gives their results in order. Each chunk's
    results are handed over at once: one lock and one wake-up of the map thread per chunk, not per row.
    """

    def __init__(self, source: Source | None, start: int, end: int,
                 submit_rows: Callable[[list[dict]], list[Any]], rows: Iterable[dict] | None = None) -> None:  # fmt: skip
        self.start, self.end = start, end
        self._source, self._submit_rows, self._rows = source, submit_rows, rows
        self._given: dict[int, dict] = {}  # a warm start's rows, kept until the map checks them
        self._reread: Source | None = None  # the loaded dataset's file: a warm start's rows, read back
        self._checking = rows is not None  # the rows being produced are checked by the map (`take`)
        self.mismatched = 0  # warm rows that were not the map's (the map sent its own request)
        self._results: dict[int, Any] = {}
        self._next = start  # the next row the thread will produce
        self._taken = start  # rows below this were collected
        self._failure: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="hf_vqa-lookahead", daemon=True)
        self._thread.start()

    def covers(self, index: int) -> bool:
        return self.start <= index < self.end

    @property
    def started_collecting(self) -> bool:
        """True once the map has taken a row: a later batch starting at `start` is a new map pass."""
        return self._taken > self.start

    def close(self) -> None:
        """Stop producing (a thread waiting to get further ahead returns)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, index: int, row: Callable[[], dict] | None = None) -> Any:
        """The submitted result (a future or a `Reply`) for row `index`, waiting for the thread if needed.

        For a warm start, `row` gives the map's own row: if it is not the row this thread submitted,
        None is returned and the map submits the row itself.
        """
        return self.take_many([index], None if row is None else lambda _j: row())[0]

    def take_many(self, indices: list[int], row: Callable[[int], dict] | None = None) -> list[Any]:
        """`take` for several rows under one lock, in their order; `row(j)` gives the map's own row for
        `indices[j]` (a warm start's check)."""
        out, given = [], []
        with self._cond:
            for index in indices:
                while index not in self._results and self._failure is None:
                    if index < self._next or not self._thread.is_alive():  # produced and taken already
                        raise RuntimeError(f"lookahead: row {index} was already handed out (a new map pass?)")
                    self._cond.wait(timeout=1.0)
                if index not in self._results:
                    raise RuntimeError(f"lookahead stopped: {self._failure!r}")
                self._taken = max(self._taken, index + 1)
                out.append(self._results.pop(index))
                given.append(self._given.pop(index, None))
            self._cond.notify_all()  # the thread may be waiting to get further ahead
        for j, submitted in enumerate(given):
            if submitted is not None and row is not None and not same_request_inputs(submitted, row(j)):
                self.mismatched += 1
                out[j] = None
        return out

    def _run(self) -> None:
        try:
            for chunk in self._chunks():
                with self._cond:
                    while self._next - self._taken >= MAX_AHEAD and not self._closed:
                        self._cond.wait()
                    if self._closed or self._next >= self.end:
                        return
                chunk = chunk[: self.end - self._next]
                results = self._submit_rows(chunk)
                with self._cond:
                    positions = range(self._next, self._next + len(chunk))
                    if self._checking:
                        self._given.update(zip(positions, chunk))
                    self._results.update(zip(positions, results))
                    self._next += len(chunk)
                    self._cond.notify_all()  # once per chunk
        except BaseException as err:  # surfaced by take(); the map then fails loudly, not silently
            with self._cond:
                self._failure = err
                self._cond.notify_all()

    def _chunks(self) -> Iterator[list[dict]]:
        """The rows in chunks. A warm start's rows are the records read before `datasets` loaded: once
        they are in an Arrow file (`reread_warm`: the loaded dataset's, each row still checked by the
        map; or the map's own `Source`, given when it adopts this thread) the rest are read from there,
        as a cold start reads them, and the records are let go (held to the end, they made the peak
        memory grow with the number of rows)."""
        rows = iter(self._rows) if self._rows is not None else self._arrow_rows(self._source, self.start)
        produced, size = self.start, FIRST_CHUNK
        while True:
            if produced < self.end and self._rows is not None and (source := self._source or self._reread):
                self._checking = source is not self._source  # the map's own rows need no check
                self._rows = None
                rows = self._arrow_rows(source, produced)
            chunk = list(itertools.islice(rows, size))
            if not chunk:
                return
            produced += len(chunk)
            yield chunk
            size = CHUNK

    def _arrow_rows(self, source: Source, first: int) -> Iterator[dict]:
        import datasets

        from hf_vqa.images.columns import undecoded

        table = undecoded(datasets.Dataset.from_file(source.path))  # rows as the map sees them
        for chunk_start in range(first, self.end, 64):
            rows = table[chunk_start : min(self.end, chunk_start + 64)]
            for offset in range(len(next(iter(rows.values())))):
                yield {key: values[offset] for key, values in rows.items()}


def same_request_inputs(given: dict, row: dict) -> bool:
    """True when a warm start's row and the map's row ask the same: same images, same conversation.

    Example:
        >>> same_request_inputs({"image": [{"bytes": None, "path": "/a.jpg"}]}, {"image": [{"path": "/a.jpg", "bytes": None}]})
        True
    """
    return all(given.get(key) == row.get(key) for key in given)


_PREFETCHERS: dict[tuple, Prefetcher | None] = {}
_WARM: dict[tuple, Prefetcher] = {}  # (pid, settings key) → a warm start waiting for its map
_LOCK = threading.Lock()


def adopt_warm(prefetcher: Prefetcher, key: Any) -> None:
    """Offer a warm start's prefetcher (rows [0, end) of a one-process map) to the next map pass with
    settings `key`; `get_prefetcher` takes it when the map's shape matches, else closes it."""
    with _LOCK:
        old = _WARM.pop((os.getpid(), key), None)
        if old is not None:
            old.close()
        _WARM[(os.getpid(), key)] = prefetcher


def reread_warm(ds: datasets.Dataset) -> None:
    """The records of this process's warm start are in `ds`'s Arrow file now (the loaded input): its
    thread reads the rest from there (the map still checks each row) and lets the records go."""
    if not any(pid == os.getpid() for pid, _key in list(_WARM)):
        return
    source = source_for(ds, None)
    if source is None:
        return
    with _LOCK:
        for (pid, _key), prefetcher in _WARM.items():
            if pid == os.getpid() and prefetcher.start == 0 and prefetcher.end == source.num_rows:
                prefetcher._reread = source


def drop_warm() -> None:
    """Close any warm start this process has not handed to a map (the run ended first)."""
    with _LOCK:
        for prefetcher in _WARM.values():
            prefetcher.close()
        _WARM.clear()


def get_prefetcher(source: Source, rank: int | None, first_index: int, submit_rows: Callable[[list[dict]], list[Any]],
                   key: Any) -> Prefetcher | None:  # fmt: skip
    """This process's prefetcher for `source` and settings `key`, or None if its shard does not start
    at `first_index` (then the map submits per batch)."""
    cache_key = (os.getpid(), source, rank, key)
    with _LOCK:
        old = _PREFETCHERS.get(cache_key)
        if old is not None and first_index == old.start and old.started_collecting:
            old.close()  # the same map runs again in this process (a notebook rerun, caching off)
            del _PREFETCHERS[cache_key]
        warm = _WARM.pop((os.getpid(), key), None)
        if warm is not None and cache_key not in _PREFETCHERS:
            if source.num_shards == 1 and first_index == 0 and warm.end == source.num_rows:
                warm._source = source
                _PREFETCHERS[cache_key] = warm
            else:  # not the map it was started for: stop it (rows it sent are in the store)
                warm.close()
        elif warm is not None:
            warm.close()
        if cache_key not in _PREFETCHERS:
            start, end = shard_bounds(source.num_rows, source.num_shards, rank or 0)
            ok = start == first_index and end <= source.num_rows
            _PREFETCHERS[cache_key] = Prefetcher(source, start, end, submit_rows) if ok else None
        return _PREFETCHERS[cache_key]
