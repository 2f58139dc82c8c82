"""Reading an output folder back: its parquet files as a `Dataset`, never through the `datasets` cache.

Example:
    >>> ds = read_output_folder("out/")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def read_output_folder(folder: str | os.PathLike, split: str = "train") -> Any:
    """An output folder's parquet files as a `Dataset`, read directly (never through `load_dataset`'s
    cache, which can hand back an older version of a rewritten folder)."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hf_vqa.errors import InputError

    files = sorted((Path(folder) / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise InputError(f"no parquet files for split {split!r}", received=str(folder),
                         fix="pass the --output folder of a finished run (it holds data/<split>-*.parquet)")  # fmt: skip
    table = pa.concat_tables([pq.read_table(f) for f in files])
    return datasets.Dataset(table)


__all__ = ["read_output_folder"]
