"""The parts of `datasets` that hf_vqa leans on beyond its documented API, in one place.

Each entry names what is used, by which module, and why. They were checked against the versions in
`CHECKED_WITH`; `tests/test_datasets_internals.py` runs `check()` (and a live `num_proc` map) so
that an upgrade that changes any of them fails loudly in the test suite instead of quietly changing
results. Code that needs one of these reads it through the accessors below.

Example:
    >>> check()  # raises `InternalsChanged` naming what moved
    >>> [i.name for i in INTERNALS][:2]
    ['Dataset._fingerprint', 'Dataset._indices']
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

import datasets

from hf_vqa.errors import HfVqaError

__all__ = [
    "CHECKED_WITH",
    "INTERNALS",
    "Internal",
    "InternalsChanged",
    "check",
    "fingerprint",
    "has_indices",
    "with_metadata_of",
]

CHECKED_WITH = ("5.2.0",)


@dataclass(frozen=True)
class Internal:
    """One undocumented thing: `name` (module path or attribute), who uses it and why."""

    name: str
    used_by: str
    why: str


INTERNALS: tuple[Internal, ...] = (
    Internal("Dataset._fingerprint", "lookahead.source_for, cli.jobs.holds",
             "the map cache key of the data, to tell whether an output already holds this data"),
    Internal("Dataset._indices", "lookahead.source_for",
             "None when rows are read in file order (no select/shuffle mapping): the prefetcher may read ahead"),
    Internal("Dataset.map(num_proc=N) gives rank i the contiguous shard i", "lookahead.shard_bounds",
             "the prefetcher walks the same rows the map will hand this process"),
    Internal("datasets.utils.metadata.MetadataConfigs", "publish.hub_layout.set_data_yaml",
             "write `configs` in the card exactly as push_to_hub does, so both kinds of push merge"),
    Internal("datasets.info.DatasetInfosDict", "publish.hub_layout.set_data_yaml", "the card's dataset_info"),
    Internal("datasets.splits.SplitDict / SplitInfo", "publish.hub_layout.set_data_yaml", "per-split sizes"),
    Internal("datasets.arrow_dataset.update_metadata_with_features", "images.columns (decoded, undecoded)",
             "switch Image(decode=...) on the same Arrow table as cast_column does for Image(), without "
             "the full-table \"Casting the dataset\" map it runs for List(Image())"),
    Internal("Ctrl-C under num_proc surfaces as an error whose chain holds KeyboardInterrupt",
             "cli.interrupts.caused_by_ctrl_c", "exit 130 with the resume hint instead of a traceback"),
)  # fmt: skip


class InternalsChanged(HfVqaError):
    """A `datasets` internal that hf_vqa relies on is missing or behaves differently."""


def fingerprint(ds: datasets.Dataset) -> str:
    """The dataset's cache fingerprint (`Dataset._fingerprint`)."""
    return ds._fingerprint


def with_metadata_of(table, features: datasets.Features):
    """`table` (a `datasets.table.Table`) with `features` written into its schema's metadata."""
    from datasets.arrow_dataset import update_metadata_with_features

    return update_metadata_with_features(table, features)


def has_indices(ds: datasets.Dataset) -> bool:
    """True when `ds` reads its rows through an indices mapping (after select/shuffle/filter)."""
    return ds._indices is not None


def check() -> None:
    """Raise `InternalsChanged` if an attribute or module listed in `INTERNALS` is gone."""
    ds = datasets.Dataset.from_dict({"x": [1, 2, 3]})
    problems = []
    if not isinstance(getattr(ds, "_fingerprint", None), str):
        problems.append("Dataset._fingerprint is not a str")
    if not hasattr(ds, "_indices") or has_indices(ds) or not has_indices(ds.select([2, 0])):
        problems.append("Dataset._indices no longer marks an indices mapping")
    for module, names in (
        ("datasets.utils.metadata", ["MetadataConfigs"]),
        ("datasets.info", ["DatasetInfo", "DatasetInfosDict"]),
        ("datasets.splits", ["SplitDict", "SplitInfo"]),
    ):
        try:
            found = importlib.import_module(module)
        except ImportError:
            problems.append(f"{module} cannot be imported")
            continue
        problems += [f"{module}.{name} is gone" for name in names if not hasattr(found, name)]
    configs = getattr(importlib.import_module("datasets.utils.metadata"), "MetadataConfigs", None)
    for method in ("from_dataset_card_data", "to_dataset_card_data"):
        if configs is not None and not callable(getattr(configs, method, None)):
            problems.append(f"MetadataConfigs.{method} is gone")
    if not callable(
        getattr(importlib.import_module("datasets.arrow_dataset"), "update_metadata_with_features", None)
    ):
        problems.append("datasets.arrow_dataset.update_metadata_with_features is gone")
    if "contiguous" not in inspect.signature(datasets.Dataset.shard).parameters:
        problems.append("Dataset.shard has no contiguous= parameter")
    if problems:
        raise InternalsChanged(
            "datasets internals that hf_vqa relies on changed",
            received=f"datasets {datasets.__version__}: " + "; ".join(problems),
            fix=f"hf_vqa was checked with datasets {', '.join(CHECKED_WITH)}; install one of those, or "
            "update hf_vqa/runner/datasets_internals.py and the modules it names",
        )
