"""A local folder laid out like a Hub dataset repo: parquet shards with the images embedded, plus a card.

`save_folder` writes what `datasets.load_dataset(folder)` reads back exactly as it would read the
Hub repo. The new files are written in a hidden staging folder first and moved in only when all are
complete, so a failed write (a full disk) leaves the previous output intact (`atomic.py`).

Example:
    >>> save_folder(ds, "out_dir", card="# My data")  # doctest: +SKIP
    >>> datasets.load_dataset("out_dir", split="train")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hf_vqa.errors import HfVqaError
from hf_vqa.images.columns import decoded_features, image_columns, undecoded
from hf_vqa.images.fetch import FetchSettings, fetch_bytes
from hf_vqa.images.verify import image_problem
from hf_vqa.publish.atomic import staging_folder, write_error

__all__ = ["SHARD_BYTES", "embed_images", "save_folder", "write_parquet"]

SHARD_BYTES = 500 * 1024 * 1024


def save_folder(
    ds: datasets.Dataset,
    folder: str | os.PathLike,
    *,
    card: str | None = None,
    split: str = "train",
    fetch: FetchSettings | None = None,
) -> Path:
    """Write `data/<split>-XXXXX-of-NNNNN.parquet` (images embedded) and `README.md` into `folder`.

    `fetch` is the URL policy for images that are URLs (use the run's, e.g. `image_settings(vlm).url`).
    The images are embedded batch by batch as the parquet is written (no embedded copy of the whole
    dataset in the datasets cache first), so memory stays flat in the number of rows.
    """
    folder = Path(folder)
    ds = undecoded(ds)
    try:
        needed = _needed_bytes(ds)
    except OSError as err:  # the datasets cache's disk
        raise write_error(err, folder) from None
    num_shards = max(1, -(-needed // SHARD_BYTES))
    with staging_folder(folder, needed=needed) as stage:
        names = [f"{split}-{index:05d}-of-{num_shards:05d}.parquet" for index in range(num_shards)]
        for index, name in enumerate(names):
            shard = ds.shard(num_shards=num_shards, index=index, contiguous=True) if num_shards > 1 else ds
            write_parquet(shard, stage / name, fetch=fetch)
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


def write_parquet(
    ds: datasets.Dataset, path: str | os.PathLike, *, fetch: FetchSettings | None = None, rows: int = 100
) -> None:
    """Write `ds` as one parquet file that `datasets` reads back with the same features (image
    columns decodable), embedding image files (URLs fetched with `fetch`) `rows` rows at a time.

    Unlike `Dataset.to_parquet`, this never stats image paths, so an image that could not be
    embedded (its row failed) does not fail the export.
    """
    columns = image_columns(ds)
    metadata = decoded_features(ds.features).arrow_schema.metadata  # readers get PIL images back
    source = ds.with_format("arrow")
    if not len(ds):  # no row group at all: `datasets` reads an empty row group as batch size 0
        pq.ParquetWriter(str(path), source[:0].replace_schema_metadata(metadata).schema).close()
        return
    writer = None
    try:
        for start in range(0, len(ds), rows):
            table = source[start : start + rows]
            if columns:
                table = _embedded(table, columns, fetch or FetchSettings())
            table = table.replace_schema_metadata(metadata)
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema, **_column_options(table, columns))
            writer.write_table(table, row_group_size=100)
    finally:
        if writer is not None:
            writer.close()


def _column_options(table: pa.Table, images: list[str]) -> dict:
    """ParquetWriter options: every column dictionary-encoded, compressed and with statistics, but the
    image bytes. Photos hardly ever repeat (hashing each for a dictionary cost ~0.2 ms per photo for a
    file of the same size), min/max of image bytes tell a reader nothing, and JPEG/PNG/WEBP bytes do
    not compress: when the first batch's images are all such files, they are written as they are."""
    if not images:
        return {"use_dictionary": True}
    buf = io.BytesIO()
    pq.write_table(table.schema.empty_table(), buf)
    leaves = pq.ParquetFile(pa.BufferReader(buf.getvalue())).schema
    paths = [leaves.column(i).path for i in range(len(leaves))]
    image_bytes = [p for p in paths if p.split(".")[0] in images and p.endswith(".bytes")]
    others = [p for p in paths if p not in image_bytes]
    options: dict = {"use_dictionary": others, "write_statistics": others}
    if all(_compressed_format(table.column(name)) for name in images):
        options["compression"] = {p: ("none" if p in image_bytes else "snappy") for p in paths}
    return options


def _compressed_format(column: pa.ChunkedArray) -> bool:
    """Whether every image in `column` is JPEG, PNG or WEBP (already-compressed data)."""
    values = column.combine_chunks()
    if pa.types.is_list(values.type):
        values = pc.list_flatten(values)
    for data in pc.struct_field(values, "bytes").to_pylist():
        if data is not None and not (data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"
                                     or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")):  # fmt: skip
            return False
    return True


def _embedded(table: pa.Table, columns: list[str], settings: FetchSettings) -> pa.Table:
    """`table` with the image files of `columns` read into their `bytes` (`_embed_batch`, per batch)."""
    wanted = [*columns, *(["vqa_error"] if "vqa_error" in table.column_names else [])]  # what it reads
    batch = {name: table.column(name).to_pylist() for name in wanted}
    for name, values in _embed_batch(batch, columns=columns, settings=settings).items():
        index = table.column_names.index(name)
        field = table.schema.field(index)
        table = table.set_column(index, field, _to_arrow(values, field.type))
    return table


def _to_arrow(values: list, kind: pa.DataType) -> pa.Array:
    """`values` as an Arrow array of `kind`; image structs (and lists of them) are built column-wise,
    which copies each image's bytes once (`pa.array` on the dicts grows its buffer copy by copy)."""
    if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
        offsets, flat = [0], []
        for row in values:
            flat.extend(row or ())
            offsets.append(len(flat))
        mask = pa.array([row is None for row in values], type=pa.bool_())
        items = _to_arrow(flat, kind.value_type)
        return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), items, type=kind, mask=mask)
    if pa.types.is_struct(kind) and all(isinstance(v, dict) or v is None for v in values):
        children = [_to_arrow([v.get(f.name) if v else None for v in values], f.type) for f in kind]
        mask = pa.array([v is None for v in values], type=pa.bool_())
        return pa.StructArray.from_arrays(children, fields=list(kind), mask=mask)
    if kind == pa.binary() and all(isinstance(v, bytes) or v is None for v in values):
        return _binary_array(values)
    return pa.array(values, type=kind)


def _binary_array(values: list[bytes | None]) -> pa.Array:
    """A binary array of `values` with one copy of each value into one buffer of the right size.

    `pa.array` grows its data buffer value by value: for 100 photos of ~130 KB that is several
    copies and fresh pages on each batch (~0.2 ms per photo, half of it in the kernel)."""
    sizes = [len(v) if v is not None else 0 for v in values]
    offsets = pa.array(itertools.accumulate(sizes, initial=0), type=pa.int64())
    if offsets[-1].as_py() > 2**31 - 1:  # `binary` has 32-bit offsets: let pyarrow say so
        return pa.array(values, type=pa.binary())
    data = pa.allocate_buffer(offsets[-1].as_py())
    view, at = memoryview(data).cast("B"), 0
    for value, size in zip(values, sizes):
        if size:
            view[at : at + size] = value
            at += size
    validity = None
    if None in values:
        validity = pa.array([v is not None for v in values], type=pa.bool_()).buffers()[1]
    offsets32 = offsets.cast(pa.int32()).buffers()[1]
    return pa.Array.from_buffers(pa.binary(), len(values), [validity, offsets32, data])


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
    batch: dict[str, list], *, columns: list[str], settings: FetchSettings, version: int = 2
) -> dict[str, list]:
    out: dict[str, list] = {}
    errors = list(batch["vqa_error"]) if "vqa_error" in batch else None
    for name in columns:
        values = []
        for row, value in enumerate(batch[name]):
            reasons: list[str] = []
            if isinstance(value, list):
                value = [_embed_one(v, settings, reasons) for v in value]
            else:
                value = _embed_one(value, settings, reasons)
            if reasons and errors is not None and not errors[row]:
                errors[row] = f"{name}: left out of the output: " + "; ".join(reasons)
            values.append(value)
        out[name] = values
    if errors is not None:
        out["vqa_error"] = errors
    return out


def _embed_one(value: dict | None, settings: FetchSettings, reasons: list[str]) -> dict | None:
    """The value with its bytes embedded, or None (reason appended) when they are not an image."""
    if not value:
        return value
    path = value.get("path")
    data = value.get("bytes")
    name = Path(path.split("?")[0]).name if path else None
    if data is None:
        if not path:
            return None
        try:
            data = fetch_bytes(path, settings) if "://" in path else Path(path).read_bytes()
        except (OSError, HfVqaError) as err:
            reasons.append(f"{name}: cannot be read ({type(err).__name__})")
            return None
    problem = image_problem(data)
    if problem is not None:
        reasons.append(f"{name or 'image'}: {problem}")
        return None
    return {"bytes": data, "path": name}
