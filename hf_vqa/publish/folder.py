"""A local folder laid out like a Hub dataset repo: parquet shards with the images embedded, plus a card.

`save_folder` writes what `datasets.load_dataset(folder)` reads back exactly as it would read the
Hub repo. The new files are written in a hidden staging folder first and moved in only when all are
complete, so a failed write (a full disk) leaves the previous output intact (`atomic.py`).

Example:
    >>> save_folder(ds, "out_dir", card="# My data")  # doctest: +SKIP
    >>> datasets.load_dataset("out_dir", split="train")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pyarrow.parquet as pq

from hf_vqa.errors import HfVqaError
from hf_vqa.images.columns import decoded, image_columns, undecoded
from hf_vqa.images.fetch import FetchSettings, fetch_bytes
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
    """
    folder = Path(folder)
    try:
        ds = decoded(embed_images(ds, fetch))  # readers get PIL images back, as from the Hub
    except OSError as err:  # the datasets cache's disk
        raise write_error(err, folder) from None
    needed = int(ds.data.nbytes)
    num_shards = max(1, -(-needed // SHARD_BYTES))
    with staging_folder(folder, needed=needed) as stage:
        names = [f"{split}-{index:05d}-of-{num_shards:05d}.parquet" for index in range(num_shards)]
        for index, name in enumerate(names):
            write_parquet(ds.shard(num_shards=num_shards, index=index, contiguous=True), stage / name)
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


def write_parquet(ds: datasets.Dataset, path: str | os.PathLike) -> None:
    """Write `ds` as one parquet file that `datasets` reads back with the same features.

    Unlike `Dataset.to_parquet`, this never stats image paths, so an image that could not be
    embedded (its row failed) does not fail the export.
    """
    table = ds.with_format("arrow")[:]
    table = table.replace_schema_metadata(ds.features.arrow_schema.metadata)
    pq.write_table(table, str(path), row_group_size=100)


def embed_images(ds: datasets.Dataset, settings: FetchSettings | None = None) -> datasets.Dataset:
    """Put every image's bytes into the table, so the data stands alone (parquet, the Hub).

    Local files are read and URLs fetched with the safe fetcher. An image that cannot be read stays
    a path (its row already carries the error), instead of failing the whole export.

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
        fn_kwargs={"columns": columns, "settings": settings or FetchSettings()},
        features=ds.features,
        desc="Embedding images",
    )


def _embed_batch(batch: dict[str, list], *, columns: list[str], settings: FetchSettings) -> dict[str, list]:
    out = {}
    for name in columns:
        out[name] = [
            [_embed_one(v, settings) for v in value]
            if isinstance(value, list)
            else _embed_one(value, settings)
            for value in batch[name]
        ]
    return out


def _embed_one(value: dict | None, settings: FetchSettings) -> dict | None:
    if not value or value.get("bytes") is not None or not value.get("path"):
        return value
    path = value["path"]
    try:
        data = fetch_bytes(path, settings) if "://" in path else Path(path).read_bytes()
    except (OSError, HfVqaError):
        return value
    return {"bytes": data, "path": Path(path.split("?")[0]).name}
