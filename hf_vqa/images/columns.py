"""Image columns of a dataset: find them, and switch them between raw `{bytes, path}` and decoded.

`Image(decode=False)` gives raw bytes and path without decoding pixels: generation works on those.
Readers of the output (and the Hub viewer) want `Image()` back: `decoded` flips the feature only.
Both flips keep the Arrow data as it is (the storage of `Image()` and `Image(decode=False)` is the same
struct): `datasets`' `cast_column` would rewrite every row in a "Casting the dataset" map for a
`List(Image())` column; `_with_features` swaps the features on the same table instead.

Example:
    >>> import datasets
    >>> ds = datasets.Dataset.from_dict({"image": [{"bytes": None, "path": "a.png"}]},
    ...     features=datasets.Features({"image": datasets.Image(decode=False)}))
    >>> image_columns(ds), decoded(ds).features["image"].decode
    (['image'], True)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import datasets
from datasets import Image, List

from hf_vqa.runner.datasets_internals import fingerprint, has_indices, with_metadata_of

__all__ = ["decoded", "decoded_features", "image_columns", "image_feature_columns", "undecoded"]


def image_columns(ds: datasets.Dataset | datasets.IterableDataset) -> list[str]:
    """Names of columns that hold `Image` or `List(Image())` values."""
    return image_feature_columns(ds.features or {})  # an IterableDataset may not know its features


def image_feature_columns(features: Mapping[str, Any]) -> list[str]:
    """`image_columns` of a dataset with these `features`."""
    return [
        name
        for name, feat in features.items()
        if isinstance(feat, Image) or (isinstance(feat, List) and isinstance(feat.feature, Image))
    ]


def undecoded(ds: datasets.Dataset | datasets.IterableDataset) -> datasets.Dataset | datasets.IterableDataset:
    """The same dataset with image columns as raw `{"bytes", "path"}` values (no decoding)."""
    target = _undecoded_features(ds.features) if ds.features is not None else None
    if target is not None and (swapped := _with_features(ds, target)) is not None:
        return swapped
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


def decoded(ds: datasets.Dataset | datasets.IterableDataset) -> datasets.Dataset | datasets.IterableDataset:
    """The same dataset with image columns marked to decode (metadata only; no pixels touched)."""
    if ds.features is None:
        return ds
    target = decoded_features(ds.features)
    if (swapped := _with_features(ds, target)) is not None:
        return swapped
    for name, feat in target.items():
        if feat != ds.features[name]:
            ds = ds.cast_column(name, feat)
    return ds


def _undecoded_features(features: datasets.Features) -> datasets.Features:
    out = {}
    for name, feat in features.items():
        if isinstance(feat, Image) and feat.decode:
            feat = Image(decode=False)
        elif isinstance(feat, List) and isinstance(feat.feature, Image) and feat.feature.decode:
            feat = List(Image(decode=False), length=feat.length)
        out[name] = feat
    return datasets.Features(out)


def _with_features(ds, features: datasets.Features) -> datasets.Dataset | None:
    """`ds` with `features` on the same Arrow table (no map, no copy), or None when that cannot be
    done here (an `IterableDataset`, an indices mapping, a format set, or a different Arrow type).
    The new fingerprint is derived from the old one and the features: a rerun gets the same one."""
    if features == ds.features:
        return ds
    if not isinstance(ds, datasets.Dataset):  # an IterableDataset: its own cast_column (no map either)
        return None
    shown = ds.format["columns"]
    formatted = (
        ds.format["type"] is not None or ds.format["format_kwargs"] or shown not in (None, ds.column_names)
    )
    if has_indices(ds) or formatted or features.type != ds.features.type:
        return None
    info = ds.info.copy()
    info.features = features
    spec = json.dumps([fingerprint(ds), features.to_dict()], sort_keys=True, default=str)
    new_fingerprint = hashlib.sha256(spec.encode()).hexdigest()[:16]
    return datasets.Dataset(with_metadata_of(ds.data, features), info=info, split=ds.split,
                            fingerprint=new_fingerprint)  # fmt: skip
