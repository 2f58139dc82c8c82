"""Where a push's files go in a Hub dataset repo, and the card's data YAML that tells `datasets` so.

- `parse_shard("I/N")`, `check_shard`: a shard is `(I, N)` with 0 <= I < N.
- Files: `data/<split>-*.parquet`, or `data/<split>-shard{I:05d}-of-{N:05d}-*.parquet` for shard I of N;
  `is_stale` says which files of the split a push replaces (a shard never deletes its siblings).
- `set_data_yaml`: `configs` and `dataset_info` for the split, as `datasets` writes them, with the sizes
  summed over the shards recorded in the card.

Example:
    >>> parse_shard("2/3")
    (2, 3)
    >>> is_stale("data/train-shard00001-of-00003-00000-of-00001.parquet", "data", "train", (2, 3))
    False
"""

from __future__ import annotations

import re
from pathlib import Path

import datasets

from hf_vqa.errors import ConfigError
from hf_vqa.images.columns import decoded_features

__all__ = ["check_shard", "is_stale", "parquet_stats", "parse_shard", "set_data_yaml"]


def parse_shard(text: str) -> tuple[int, int]:
    """`"I/N"` → `(I, N)` with 0 ≤ I < N.

    Example:
        >>> parse_shard("2/3")
        (2, 3)
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise ConfigError("a shard is written I/N", received=text, fix="pass e.g. --shard 0/4 (shard 0 of 4)")
    return check_shard((int(match[1]), int(match[2])))


def check_shard(shard: tuple[int, int] | None) -> tuple[int, int]:
    index, num = shard or (0, 1)
    if not (isinstance(index, int) and isinstance(num, int) and 0 <= index < num):
        raise ConfigError(
            "a shard needs 0 <= I < N",
            received=f"{index}/{num}",
            fix=f"use one of 0/{num} .. {num - 1}/{num}",
        )
    return index, num


def parquet_stats(files: list[Path]) -> tuple[int, int, datasets.Features]:
    import pyarrow.parquet as pq

    rows = num_bytes = 0
    for f in files:
        meta = pq.read_metadata(f)
        rows += meta.num_rows
        num_bytes += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return rows, num_bytes, decoded_features(datasets.Features.from_arrow_schema(pq.read_schema(files[0])))


def is_stale(path: str, data_dir: str, split: str, shard: tuple[int, int] | None) -> bool:
    """Files of this split to delete: all of them for a full push; for shard I of N, shard I's own
    files and any other layout (a full push, or shards of a different N), but never shard J of N."""
    prefix = f"{data_dir}/{split}-"
    if not path.startswith(prefix) or "/" in path[len(prefix) :]:
        return False
    if shard is None:
        return True
    found = re.match(r"shard(\d{5})-of-(\d{5})-", path[len(prefix) :])
    return not found or int(found[2]) != shard[1] or int(found[1]) == shard[0]


def set_data_yaml(card, config_name: str, split: str, data_dir: str, features: datasets.Features) -> None:
    """Write `configs` and `dataset_info` for this split as `datasets` does, with summed shard sizes."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs

    data = card.data
    ours = data.pop("hf_vqa")
    shards = ours["data"][config_name][split]["shards"]
    configs = MetadataConfigs.from_dataset_card_data(data)
    files = {}
    for item in configs.get(config_name, {}).get("data_files") or []:
        if isinstance(item, dict):
            files[item["split"]] = item["path"]
    files[split] = f"{data_dir}/{split}-*"
    entry = {
        **configs.get(config_name, {}),
        "data_files": [{"split": s, "path": p} for s, p in files.items()],
    }
    MetadataConfigs({config_name: entry}).to_dataset_card_data(data)
    info = DatasetInfosDict.from_dataset_card_data(data).get(config_name)
    if info is None or info.features != features:
        info = DatasetInfo(features=features, splits=SplitDict())
    tracked = ours["data"][config_name]
    info.splits[split] = SplitInfo(
        name=split, num_bytes=sum(s["num_bytes"] for s in shards), num_examples=sum(s["rows"] for s in shards)
    )
    info.dataset_size = sum(s.num_bytes or 0 for s in info.splits.values())
    if set(info.splits) <= set(tracked) or not info.download_size:  # else: pushed by others, keep theirs
        info.download_size = sum(s["download_size"] for e in tracked.values() for s in e["shards"])
    info.size_in_bytes = None
    DatasetInfosDict({config_name: info}).to_dataset_card_data(data)
    data["hf_vqa"] = ours
