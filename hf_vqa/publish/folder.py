"""A local folder laid out like a Hub dataset repo: parquet shards with the images embedded, plus a card.

`save_folder` writes what `datasets.load_dataset(folder)` reads back exactly as it would read the
Hub repo. The new files are written in a hidden staging folder first and moved in only when all are
complete, so a failed write (a full disk) leaves the previous output intact (`atomic.py`).

Example:
    >>> save_folder(ds, "out_dir", card="# My data")  # doctest: +SKIP
    >>> datasets.load_dataset("out_dir", split="train")  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hf_vqa.errors import HfVqaError, OutputError
from hf_vqa.images.columns import decoded_features, image_columns, undecoded
from hf_vqa.images.fetch import FetchSettings, fetch_bytes
from hf_vqa.images.verify import image_problem
from hf_vqa.publish.atomic import staging_folder, write_error
from hf_vqa.publish.image_arrays import column_options, read_files, to_arrow

__all__ = ["SHARD_BYTES", "embed_images", "embedded_name", "save_folder", "shard_count", "write_parquet"]

SHARD_BYTES = 500 * 1024 * 1024


def save_folder(
    ds: datasets.Dataset,
    folder: str | os.PathLike,
    *,
    card: str | Callable[[], str] | None = None,
    split: str = "train",
    fetch: FetchSettings | None = None,
    spool: Any = None,
) -> Path:
    """Write `data/<split>-XXXXX-of-NNNNN.parquet` (images embedded) and `README.md` into `folder`.

    `fetch` is the URL policy for images that are URLs (use the run's, e.g. `image_settings(vlm).url`).
    The images are embedded batch by batch as the parquet is written (no embedded copy of the whole
    dataset in the datasets cache first), so memory stays flat in the number of rows. `card` may be a
    function: it is called while the parquet is written (writing is mostly the kernel's copying, and
    pyarrow releases the GIL), so building the card costs no wall time. `spool` (`publish.spool`): the
    shards written while the replies arrived, moved in instead of writing when they are exactly these.
    """
    folder = Path(folder)
    ds = undecoded(ds)
    try:
        needed = _needed_bytes(ds)
    except OSError as err:  # the datasets cache's disk
        raise write_error(err, folder) from None
    num_shards = shard_count(needed)
    with staging_folder(folder, needed=needed) as stage:
        names = [f"{split}-{index:05d}-of-{num_shards:05d}.parquet" for index in range(num_shards)]
        if spool is not None and spool.adopt(ds, [stage / name for name in names]):
            card = card() if callable(card) else card
        elif callable(card):
            card = _while_writing(card, ds, stage, names, fetch)
        else:
            _write_shards(ds, stage, names, fetch)
        if card is not None:
            (stage / "README.md").write_text(card, encoding="utf-8")
        # every new file is complete: swap them in (renames on the same disk), then drop the old shards
        data_dir = folder / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            os.replace(stage / name, data_dir / name)
        for old in data_dir.glob(f"{split}-*.parquet"):
            if old.name not in names:
                old.unlink()
        if card is not None:
            os.replace(stage / "README.md", folder / "README.md")
    return folder


def shard_count(needed: float) -> int:
    """How many parquet files `save_folder` writes for about `needed` bytes (at most SHARD_BYTES each).

    Example:
        >>> shard_count(0), shard_count(SHARD_BYTES), shard_count(SHARD_BYTES + 1)
        (1, 1, 2)
    """
    return max(1, -(-int(needed) // SHARD_BYTES))


def _write_shards(ds, stage: Path, names: list[str], fetch, stop: threading.Event | None = None) -> None:
    for index, name in enumerate(names):
        shard = ds.shard(num_shards=len(names), index=index, contiguous=True) if len(names) > 1 else ds
        write_parquet(shard, stage / name, fetch=fetch, stop=stop)


def _while_writing(card: Callable[[], str], ds, stage: Path, names: list[str], fetch) -> str:
    """`card()`, called while the shards are written on another thread; an error on either side stops both."""
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="hf_vqa-shards") as pool:
        written = pool.submit(_write_shards, ds, stage, names, fetch, stop)
        try:
            text = card()
            written.result()
        except BaseException:
            stop.set()  # the writer stops at its next batch; the staging folder goes
            raise
    return text


def write_parquet(
    ds: datasets.Dataset,
    path: str | os.PathLike,
    *,
    fetch: FetchSettings | None = None,
    rows: int = 100,
    stop: threading.Event | None = None,
) -> None:
    """Write `ds` as one parquet file that `datasets` reads back with the same features (image
    columns decodable), embedding image files (URLs fetched with `fetch`) `rows` rows at a time.

    Unlike `Dataset.to_parquet`, this never stats image paths, so an image that could not be
    embedded (its row failed) does not fail the export. The next batch's images are read while a
    writer thread writes the current one (in order; at most two batches in memory). `stop` set
    (by another thread) ends the write with an `OutputError`.
    """
    columns = image_columns(ds)
    metadata = decoded_features(ds.features).arrow_schema.metadata  # readers get PIL images back
    source = ds.with_format("arrow")
    if not len(ds):  # no row group at all: `datasets` reads an empty row group as batch size 0
        pq.ParquetWriter(str(path), source[:0].replace_schema_metadata(metadata).schema).close()
        return
    writer, pending = None, None
    with ThreadPoolExecutor(1, thread_name_prefix="hf_vqa-parquet") as pool:
        try:
            for start in range(0, len(ds), rows):
                if stop is not None and stop.is_set():
                    raise OutputError(f"writing {path} was stopped", fix="see the error that stopped it")
                table = source[start : start + rows]
                if columns:
                    table = _embedded(table, columns, fetch or FetchSettings())
                table = table.replace_schema_metadata(metadata)
                if writer is None:
                    writer = pq.ParquetWriter(str(path), table.schema, **column_options(table, columns))
                if pending is not None:
                    pending.result()  # the previous batch is written (or its error raised here)
                pending = pool.submit(writer.write_table, table, row_group_size=100)
            pending.result()
        finally:
            if pending is not None:
                futures.wait([pending])
            if writer is not None:
                writer.close()


def _embedded(table: pa.Table, columns: list[str], settings: FetchSettings) -> pa.Table:
    """`table` with the image files of `columns` read into their `bytes` (`_embed_batch`, per batch)."""
    wanted = [*columns, *(["vqa_error"] if "vqa_error" in table.column_names else [])]  # what it reads
    batch = {name: table.column(name).to_pylist() for name in wanted}
    files = read_files([path for name in columns for path in _local_files(batch[name])])
    for name, values in _embed_batch(batch, columns=columns, settings=settings, files=files).items():
        index = table.column_names.index(name)
        field = table.schema.field(index)
        table = table.set_column(index, field, to_arrow(values, field.type))
    return table


def _local_files(values: list) -> list[str]:
    """The local paths of the images in `values` that have no bytes yet, in order."""
    items = itertools.chain.from_iterable(v if isinstance(v, list) else [v] for v in values)
    return [
        v["path"] for v in items if v and v.get("bytes") is None and v.get("path") and "://" not in v["path"]
    ]


def _needed_bytes(ds: datasets.Dataset) -> int:
    """About how many bytes the parquet takes: the table, plus the local image files it will embed."""
    needed = int(ds.data.nbytes)
    for name in image_columns(ds):
        column = ds.select_columns([name]).with_format("arrow")[:][name]  # rows as selected (indices)
        if pa.types.is_list(column.type):
            column = pc.list_flatten(column)
        paths = pc.struct_field(column, "path").to_pylist()
        empty = pc.is_null(pc.struct_field(column, "bytes")).to_pylist()
        for path, missing in zip(paths, empty):
            if missing and path and "://" not in path:
                with contextlib.suppress(OSError):
                    needed += os.stat(path).st_size
    return needed


def embed_images(ds: datasets.Dataset, settings: FetchSettings | None = None) -> datasets.Dataset:
    """Put every image's bytes into the table, so the data stands alone (parquet, the Hub).

    Local files are read and URLs fetched with the safe fetcher. Only bytes that decode as an image
    are kept (`images.verify`): an image that cannot be read or is not an image (a text file, a
    symlink to a key) becomes null, and its row's `vqa_error` says why, so the output always loads.

    Example:
        >>> embedded = embed_images(ds)  # doctest: +SKIP
    """
    columns = image_columns(ds)
    if not columns:
        return ds
    ds = undecoded(ds)
    return ds.map(
        _embed_batch,
        batched=True,
        fn_kwargs={"columns": columns, "settings": settings or FetchSettings(), "version": 2},
        features=ds.features,
        desc="Embedding images",
    )


def _embed_batch(
    batch: dict[str, list],
    *,
    columns: list[str],
    settings: FetchSettings,
    version: int = 2,
    files: dict[str, collections.deque] | None = None,
) -> dict[str, list]:
    out: dict[str, list] = {}
    errors = list(batch["vqa_error"]) if "vqa_error" in batch else None
    for name in columns:
        values = []
        for row, value in enumerate(batch[name]):
            reasons: list[str] = []
            if isinstance(value, list):
                value = [_embed_one(v, settings, reasons, files) for v in value]
            else:
                value = _embed_one(value, settings, reasons, files)
            if reasons and errors is not None and not errors[row]:
                errors[row] = f"{name}: left out of the output: " + "; ".join(reasons)
            values.append(value)
        out[name] = values
    if errors is not None:
        out["vqa_error"] = errors
    return out


def embedded_name(path: str | None) -> str | None:
    """The name an embedded image keeps in the output: its file name, without a URL's query.

    Example:
        >>> embedded_name("https://example.com/a/cat.jpg?size=2"), embedded_name(None)
        ('cat.jpg', None)
    """
    return Path(path.split("?")[0]).name if path else None


def _embed_one(
    value: dict | None, settings: FetchSettings, reasons: list[str], files: dict | None = None
) -> dict | None:
    """The value with its bytes embedded, or None (reason appended) when they are not an image.

    `files` holds local files already read (`image_arrays.read_files`), taken in order."""
    if not value:
        return value
    path = value.get("path")
    data = value.get("bytes")
    name = embedded_name(path)
    if data is None:
        if not path:
            return None
        if files and files.get(path):
            data = files[path].popleft()
        try:
            if data is None:
                data = fetch_bytes(path, settings) if "://" in path else Path(path).read_bytes()
        except (OSError, HfVqaError) as err:
            reasons.append(f"{name}: cannot be read ({type(err).__name__})")
            return None
    problem = image_problem(data)
    if problem is not None:
        reasons.append(f"{name or 'image'}: {problem}")
        return None
    return {"bytes": data, "path": name}
