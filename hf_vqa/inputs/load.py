"""Loading inputs: a seed JSON/JSONL records file, an image folder, a saved dataset, or a Hub dataset.

Every loader returns a `datasets.Dataset`. Records files become an `image` column of type
`List(Image(decode=False))` (relative paths resolved against the file's folder; URLs kept as URLs)
and a `conversation` column; other fields are kept as they are.

Images stay undecoded (`{"bytes", "path"}`) on purpose: with `decode=True`, `datasets` opens every
image while building each batch, before `prompted_vqa` runs, so one missing or corrupt file would
crash the whole map instead of failing one row. `export.decoded(ds)` turns decoding back on (saving
and publishing do it for you); to look at an image, `ds.cast_column("image", List(Image()))`.

Example:
    >>> ds = load_records("examples/sample/records.json")  # doctest: +SKIP
    >>> ds.features["image"]  # doctest: +SKIP
    List(Image(mode=None, decode=False))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import datasets
from datasets import Features, Image, List, Value

from hf_vqa.errors import InputError
from hf_vqa.inputs.records import read_records
from hf_vqa.inputs.stamps import IMAGE_EXTENSIONS, file_stamp, folder_stamp, image_files, input_kind

TURN = {"from": Value("string"), "value": Value("string")}


def load_records(path: str | os.PathLike, *, cache_dir: str | None = None) -> datasets.Dataset:
    """Read the seed's `{"image": [...], "conversation": [...]}` records from .json or .jsonl.

    The result is backed by an Arrow cache file with a fingerprint derived from the file's path,
    size and mtime, so `map` steps on it are cached and a rerun reuses them.

    Example:
        >>> ds = load_records("records.jsonl")  # doctest: +SKIP
    """
    path = Path(path).resolve()
    stamp = file_stamp(path)
    rows = read_records(path, keep=False)  # checks everything up front: a bad file fails before any work
    extra = [{k: v for k, v in r.items() if k not in ("image", "conversation")} for r in rows]
    inferred = datasets.Dataset.from_list(extra).features if any(extra) else {}  # other fields' types
    features = Features({"image": List(Image(decode=False)), "conversation": List(TURN), **inferred})
    _READ[(str(path), stamp)] = rows  # the generator below takes them instead of reading the file again
    try:
        return datasets.Dataset.from_generator(
            _generate_records,
            # strings only: datasets treats list-valued gen_kwargs as shards
            gen_kwargs={"path": str(path), "stamp": stamp},
            features=features,
            cache_dir=cache_dir,
        )
    finally:
        _READ.pop((str(path), stamp), None)


def load_image_folder(folder: str | os.PathLike, *, cache_dir: str | None = None) -> datasets.Dataset:
    """Every image file under `folder` (recursive, sorted), one per row, as `image: List(Image(decode=False))`."""
    folder = Path(folder).resolve()
    files = image_files(folder)
    if not files:
        listing = sorted(os.listdir(folder))[:10]
        raise InputError(f"no image files in {folder}", received=listing,
                         fix=f"put {', '.join(sorted(IMAGE_EXTENSIONS))} files there")  # fmt: skip
    return datasets.Dataset.from_generator(
        _generate_folder,
        gen_kwargs={"folder": str(folder), "stamp": folder_stamp(files)},
        features=Features({"image": List(Image(decode=False)), "file_name": Value("string")}),
        cache_dir=cache_dir,
    )


def _generate_folder(folder: str, stamp: str) -> Any:
    del stamp  # only part of the fingerprint
    for p in image_files(Path(folder)):
        yield {"image": [str(p)], "file_name": str(p.relative_to(folder))}


# rows `load_records` has just read and checked, keyed by (path, stamp): never read twice in one call
_READ: dict[tuple[str, str], list[dict]] = {}


def _generate_records(path: str, stamp: str) -> Any:
    rows = _READ.get((path, stamp))
    yield from rows if rows is not None else read_records(Path(path))


def load_input(source: str, *, split: str = "train") -> datasets.Dataset:
    """Load any supported input: records file, image folder, saved dataset folder, or Hub id.

    Example:
        >>> load_input("examples/sample/images")  # doctest: +SKIP
    """
    path = Path(source)
    kind = input_kind(source)  # the same dispatch as the CLI's up-to-date check (stamps.py)
    if kind == "records":
        return load_records(path)
    if kind == "parquet":
        return datasets.Dataset.from_parquet(str(path))
    if kind == "file":
        raise InputError(
            f"don't know how to read {path}", fix="pass a .json/.jsonl records file, a folder or a Hub id"
        )
    if kind == "saved":
        loaded = datasets.load_from_disk(str(path))
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    if kind == "dataset":
        return load_folder(path, split=split)
    if kind == "images":
        return load_image_folder(path)
    if path.suffix.lower() in (".json", ".jsonl") or (os.sep in source.strip("/") and source.count("/") != 1):
        raise InputError("input not found", received=source, fix="check the path")
    try:
        return datasets.load_dataset(source, split=split)
    except Exception as err:
        raise InputError(f"cannot load {source!r} as a file, folder or Hub dataset",
                         received=f"{type(err).__name__}: {err}", fix="check the path or dataset id") from None  # fmt: skip


def load_folder(folder: str | os.PathLike, *, split: str = "train") -> datasets.Dataset:
    """A local dataset folder (parquet + card, as `save_folder` writes it), read as it is now.

    `datasets.load_dataset(folder)` can return the first version it cached after the folder's files
    are rewritten (its cache key hashes the card's `configs` patterns, not the files). This resolves
    the split's files the same way, then reads them by name: the cache key then covers each file's
    modification time, so both the data and its fingerprint (which later `map` caches key on) follow
    every rewrite.

    Example:
        >>> load_folder("out/sample_vqa", split="train")  # doctest: +SKIP
    """
    builder = datasets.load_dataset_builder(str(folder))
    files = (builder.config.data_files or {}).get(split)
    if not files:
        found = sorted((builder.config.data_files or {}).keys())
        raise InputError(
            f"no {split!r} split in {folder}", received=found, fix="pass --split with one of those"
        )
    return datasets.load_dataset(builder.name, data_files={split: list(files)}, split=split)


__all__ = [
    "TURN",
    "load_folder",
    "load_image_folder",
    "load_input",
    "load_records",
]
