"""Output column types, so a batch of all-failed (all-None) rows never breaks `Dataset.map`.

`datasets` fixes a column's type from the first batch it writes; a column that is all None there
becomes `null` and later values crash the map. String columns are returned as NumPy `StringDType`
arrays, which keep their type even when every value is None. Nested columns (`qas`) cannot be
typed that way: pass `features=hf_vqa.features_after(ds, step, **fn_kwargs)` to `map` (the CLI
always does).

Example:
    >>> import datasets
    >>> feats = features_after(datasets.Features({"image": datasets.Value("string")}), "refine_qa_pairs")
    >>> sorted(feats)
    ['image', 'qas', 'qas_error']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import datasets
from datasets import Features, List, Value

try:
    import numpy as np
    from numpy.dtypes import StringDType

    _STRING = StringDType(na_object=None)
except ImportError:  # numpy < 2: plain lists (typed by features= instead)
    np = None
    _STRING = None


def string_column(values: Sequence[str | None]) -> Any:
    """A column of optional strings that `datasets` types as string even when all are None."""
    if _STRING is None:
        return list(values)
    return np.array(list(values), dtype=_STRING)


QA = {"question": Value("string"), "answer": Value("string")}
QA_LIST = List(QA)
USAGE = {
    "prompt_tokens": Value("int64"),
    "completion_tokens": Value("int64"),
    "attempts": Value("int64"),
    "finish_reason": Value("string"),
    "cached": Value("bool"),
}
CHECKS = {
    "qa_checks": List({"grounded": Value("bool"), "duplicate": Value("bool"), "leak": Value("bool")}),
    "all_grounded": Value("bool"),
    "has_duplicate": Value("bool"),
    "has_leak": Value("bool"),
}


def step_features(step: str | Callable, **fn_kwargs: Any) -> dict[str, Any]:
    """The columns a step adds, by step name or map function."""
    name = step if isinstance(step, str) else step.__name__
    if name == "prompted_vqa":
        key = fn_kwargs.get("output_key", "vqa")
        return {key: Value("string"), f"{key}_error": Value("string"), f"{key}_usage": USAGE}
    if name == "refine_qa_pairs":
        key = fn_kwargs.get("output_key", "qas")
        return {key: QA_LIST, f"{key}_error": Value("string")}
    if name == "refine_wiki_qa":
        key = fn_kwargs.get("output_key", "context_vqa")
        return {key: {"context": Value("string"), "qas": QA_LIST}, f"{key}_error": Value("string"), **CHECKS}
    raise ValueError(f"unknown step {name!r}; expected prompted_vqa, refine_qa_pairs or refine_wiki_qa")


def features_after(
    ds_or_features: datasets.Dataset | Features, step: str | Callable, **fn_kwargs: Any
) -> Features:
    """The dataset's features plus the columns `step` adds: pass as `ds.map(..., features=...)`.

    Example:
        >>> ds.map(hf_vqa.refine_qa_pairs, batched=True,  # doctest: +SKIP
        ...        features=hf_vqa.features_after(ds, hf_vqa.refine_qa_pairs))
    """
    base = ds_or_features.features if isinstance(ds_or_features, datasets.Dataset) else ds_or_features
    return Features({**base, **step_features(step, **fn_kwargs)})
