"""Writing results: the seed's JSON/JSONL records, or a local folder laid out like a Hub dataset repo.

`save_folder` writes parquet shards with the images embedded plus a `README.md` card, so
`datasets.load_dataset(folder)` reads it back exactly as it would read the Hub repo.

Example:
    >>> save_folder(ds, "out_dir", card="# My data")  # doctest: +SKIP
    >>> datasets.load_dataset("out_dir", split="train")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
from datasets import Image, List

from .errors import HfVqaError, InputError
from .fetch import FetchSettings, fetch_bytes

SHARD_BYTES = 500 * 1024 * 1024


def image_columns(ds: datasets.Dataset) -> list[str]:
    """Names of columns that hold `Image` or `List(Image())` values."""
    return [
        name
        for name, feat in ds.features.items()
        if isinstance(feat, Image) or (isinstance(feat, List) and isinstance(feat.feature, Image))
    ]


def undecoded(ds: datasets.Dataset) -> datasets.Dataset:
    """The same dataset with image columns as raw `{"bytes", "path"}` values (no decoding)."""
    for name in image_columns(ds):
        feat = ds.features[name]
        if not (feat.feature if isinstance(feat, List) else feat).decode:
            continue
        ds = ds.cast_column(
            name, List(Image(decode=False)) if isinstance(feat, List) else Image(decode=False)
        )
    return ds


def decoded_features(features: datasets.Features) -> datasets.Features:
    """The same features with `Image(decode=False)` turned back into `Image()`."""
    out = {}
    for name, feat in features.items():
        if isinstance(feat, Image) and not feat.decode:
            feat = Image()
        elif isinstance(feat, List) and isinstance(feat.feature, Image) and not feat.feature.decode:
            feat = List(Image(), length=feat.length)
        out[name] = feat
    return datasets.Features(out)


def decoded(ds: datasets.Dataset) -> datasets.Dataset:
    """The same dataset with image columns marked to decode (metadata only; no pixels touched)."""
    target = decoded_features(ds.features)
    for name, feat in target.items():
        if feat != ds.features[name]:
            ds = ds.cast_column(name, feat)
    return ds


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
    ds = decoded(embed_images(ds, fetch))  # readers get PIL images back, as from the Hub
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob(f"{split}-*.parquet"):
        old.unlink()
    num_shards = max(1, -(-int(ds.data.nbytes) // SHARD_BYTES))
    for index in range(num_shards):
        shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
        write_parquet(shard, data_dir / f"{split}-{index:05d}-of-{num_shards:05d}.parquet")
    if card is not None:
        (folder / "README.md").write_text(card, encoding="utf-8")
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


def export_records(
    ds: datasets.Dataset, path: str | os.PathLike, *, columns: Iterable[str] | None = None
) -> Path:
    """Write the seed's record shape: `image` as path/URL strings, plus the other columns.

    `.jsonl` writes one record per line; `.json` writes a list. Local paths are written relative
    to the output file's folder when they sit below it; embedded images without a path are saved
    into `<name>_images/` beside the output.
    """
    path = Path(path)
    if path.suffix.lower() not in (".json", ".jsonl"):
        raise InputError(
            "records export needs a .json or .jsonl path", received=str(path), fix="use out.json"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = undecoded(ds)
    keep = list(columns) if columns is not None else list(ds.column_names)
    img_cols = set(image_columns(ds))
    records: list[dict[str, Any]] = []
    for index, row in enumerate(ds.select_columns(keep)):
        record = {}
        for key, value in row.items():
            if key in img_cols:
                values = value if isinstance(value, list) else [value]
                paths = [_image_ref(v, path, f"{index}_{j}") for j, v in enumerate(values) if v is not None]
                value = paths if isinstance(row[key], list) else (paths[0] if paths else None)
            record[key] = value
        records.append(record)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        if path.suffix.lower() == ".jsonl":
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            json.dump(records, f, ensure_ascii=False, indent=2)
    tmp.replace(path)
    return path


def _image_ref(value: dict, out: Path, stem: str) -> str:
    ref = value.get("path")
    if ref and ("://" in ref or (Path(ref).is_absolute() and Path(ref).exists())):
        if "://" in ref:
            return ref
        rel = os.path.relpath(ref, out.resolve().parent)
        return ref if rel.startswith("..") else rel
    if value.get("bytes"):
        folder = out.parent / f"{out.stem}_images"
        folder.mkdir(exist_ok=True)
        suffix = Path(ref).suffix if ref and Path(ref).suffix else ".png"
        target = folder / f"{stem}{suffix}"
        target.write_bytes(value["bytes"])
        return os.path.relpath(target, out.parent)
    return ref or ""
