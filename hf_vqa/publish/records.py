"""The seed's record shape: JSON/JSONL with `image` as path or URL strings, plus the other columns.

Example:
    >>> export_records(ds, "out.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import datasets

from hf_vqa.errors import InputError
from hf_vqa.images.columns import image_columns, undecoded
from hf_vqa.publish.atomic import replacing, write_error

__all__ = ["export_records"]


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
    try:
        return _export(ds, path, columns)
    except OSError as err:  # the images folder beside it (the file itself is replaced atomically)
        raise write_error(err, path) from None


def _export(ds: datasets.Dataset, path: Path, columns: Iterable[str] | None) -> Path:
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
    with replacing(path) as tmp, tmp.open("w", encoding="utf-8") as f:  # the old file stays until complete
        if path.suffix.lower() == ".jsonl":
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            json.dump(records, f, ensure_ascii=False, indent=2)
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
