"""Image columns of a dataset: find them, and switch them between raw `{bytes, path}` and decoded.

`Image(decode=False)` gives raw bytes and path without decoding pixels: generation works on those.
Readers of the output (and the Hub viewer) want `Image()` back: `decoded` flips the feature only.

Example:
    >>> import datasets
    >>> ds = datasets.Dataset.from_dict({"image": [{"bytes": None, "path": "a.png"}]},
    ...     features=datasets.Features({"image": datasets.Image(decode=False)}))
    >>> image_columns(ds), decoded(ds).features["image"].decode
    (['image'], True)
"""

from __future__ import annotations

import datasets
from datasets import Image, List

__all__ = ["decoded", "decoded_features", "image_columns", "undecoded"]


def image_columns(ds: datasets.Dataset | datasets.IterableDataset) -> list[str]:
    """Names of columns that hold `Image` or `List(Image())` values."""
    return [
        name
        for name, feat in (ds.features or {}).items()  # an IterableDataset may not know its features
        if isinstance(feat, Image) or (isinstance(feat, List) and isinstance(feat.feature, Image))
    ]


def undecoded(ds: datasets.Dataset | datasets.IterableDataset) -> datasets.Dataset | datasets.IterableDataset:
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


def decoded(ds: datasets.Dataset | datasets.IterableDataset) -> datasets.Dataset | datasets.IterableDataset:
    """The same dataset with image columns marked to decode (metadata only; no pixels touched)."""
    if ds.features is None:
        return ds
    target = decoded_features(ds.features)
    for name, feat in target.items():
        if feat != ds.features[name]:
            ds = ds.cast_column(name, feat)
    return ds
