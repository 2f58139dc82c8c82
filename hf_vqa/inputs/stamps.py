"""Cheap identities of local inputs (paths, sizes, mtimes), computed without importing `datasets`.

`inputs/load.py` puts these stamps into its loaders' Arrow fingerprints and `cli/jobs.py` into its job keys, so
"the input changed" means the same thing to both. `input_kind` is the dispatch `io.load_input` uses.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.jpg").write_bytes(b"x")
    >>> input_kind(str(folder)), [p.name for p in image_files(folder)]
    ('images', ['a.jpg'])
    >>> len(folder_stamp(image_files(folder)))
    64
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
RECORDS_SUFFIXES = (".json", ".jsonl")


def input_kind(source: str) -> str:
    """What `source` is: 'records', 'parquet', 'file' (unknown), 'saved', 'dataset', 'images' or 'other'.

    'saved' is a `save_to_disk` folder, 'dataset' a folder `load_dataset` reads (parquet or a card),
    'images' any other folder, 'other' a Hub id or a missing path.

    Example:
        >>> input_kind("me/some-dataset")
        'other'
    """
    path = Path(source)
    if path.is_file():
        suffix = path.suffix.lower()
        return "records" if suffix in RECORDS_SUFFIXES else "parquet" if suffix == ".parquet" else "file"
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return "saved"
        if any(path.glob("**/*.parquet")) or (path / "README.md").exists():
            return "dataset"
        return "images"
    return "other"


def file_stamp(path: str | os.PathLike) -> str:
    """`"<mtime_ns>:<size>"` of one file (what a records file's Arrow fingerprint uses).

    Example:
        >>> file_stamp(__file__).count(":")
        1
    """
    stat = Path(path).stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def image_files(folder: Path) -> list[Path]:
    """Every image file under `folder`, recursive and sorted (the rows of an image-folder input)."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def folder_stamp(files: Iterable[Path]) -> str:
    """SHA-256 over each file's `path:mtime_ns:size`, one per line (an image folder's fingerprint).

    Example:
        >>> folder_stamp([]) == hashlib.sha256(b"").hexdigest()
        True
    """
    return hashlib.sha256("\n".join(f"{p}:{file_stamp(p)}" for p in files).encode()).hexdigest()


def input_stamp(source: str) -> str | None:
    """A stamp of a local records file or image folder; None for any other input (not stamped).

    Example:
        >>> input_stamp("me/some-dataset") is None
        True
    """
    kind = input_kind(source)
    path = Path(source).resolve()
    if kind == "records":
        return f"records:{path}:{file_stamp(path)}"
    if kind == "images":
        return f"images:{path}:{folder_stamp(image_files(path))}"
    return None


__all__ = [
    "IMAGE_EXTENSIONS",
    "RECORDS_SUFFIXES",
    "file_stamp",
    "folder_stamp",
    "image_files",
    "input_kind",
    "input_stamp",
]
