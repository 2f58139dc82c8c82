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

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hf_vqa.engine.outcomes import USAGE_TYPES
from hf_vqa.quality.row_checks import PAIR_CHECKS, ROW_CHECKS

if TYPE_CHECKING:  # `datasets` loads when a schema is asked for, not with the map functions' modules
    import datasets
    from datasets import Features


def string_column(values: Sequence[str | None]) -> Any:
    """A column of optional strings that `datasets` types as string even when all are None.

    Example:
        >>> string_column(["a", None]).tolist() if _string_dtype() else ["a", None]
        ['a', None]
    """
    dtype = _string_dtype()
    if dtype is None:
        return list(values)
    import numpy as np

    return np.array(list(values), dtype=dtype)


@functools.cache
def _string_dtype() -> Any:
    """NumPy's `StringDType` with None as its missing value; None for numpy < 2 (plain lists, typed by
    `features=` instead). NumPy loads with the first column, not with the map functions' modules: a warm
    start sends its first requests before it."""
    try:
        from numpy.dtypes import StringDType
    except ImportError:
        return None
    return StringDType(na_object=None)


def __getattr__(name: str) -> Any:  # QA, QA_LIST: built when first asked for (they need `datasets`)
    if name == "QA":
        from datasets import Value

        return {"question": Value("string"), "answer": Value("string")}
    if name == "QA_LIST":
        from datasets import List

        return List(__getattr__("QA"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def vqa_columns(output_key: str = "vqa", **_: Any) -> dict[str, Any]:
    """`prompted_vqa`'s columns: `<output_key>` (reply text), `_reasoning`, `_error`, `_usage`."""
    from datasets import Value

    usage = {name: Value(dtype) for name, dtype in USAGE_TYPES.items()}
    return {output_key: Value("string"), f"{output_key}_reasoning": Value("string"),
            f"{output_key}_error": Value("string"), f"{output_key}_usage": usage}  # fmt: skip


def qa_pairs_columns(output_key: str = "qas", **_: Any) -> dict[str, Any]:
    """`refine_qa_pairs`'s columns: `<output_key>` (the pairs) and `<output_key>_error`."""
    from datasets import Value

    return {output_key: __getattr__("QA_LIST"), f"{output_key}_error": Value("string")}


def wiki_qa_columns(output_key: str = "context_vqa", **_: Any) -> dict[str, Any]:
    """`refine_wiki_qa`'s columns: the record, its error, the per-pair checks and the row flags."""
    from datasets import List, Value

    checks = {
        PAIR_CHECKS: List(
            {**{check.name: Value("bool") for check in ROW_CHECKS}, "grounded_by": Value("string")}
        ),
        **{check.column: Value("bool") for check in ROW_CHECKS},
    }
    record = {"context": Value("string"), "qas": __getattr__("QA_LIST")}
    return {output_key: record, f"{output_key}_error": Value("string"), **checks}


# step name → its output columns (a function of the step's fn_kwargs); the built-in steps are known
# here by name (so `features_after(ds, "prompted_vqa")` needs no import of the step), others by `declares`.
_DECLARED: dict[str, Callable[..., dict[str, Any]]] = {
    "prompted_vqa": vqa_columns,
    "refine_qa_pairs": qa_pairs_columns,
    "refine_wiki_qa": wiki_qa_columns,
}


def declares(columns: Callable[..., dict[str, Any]]) -> Callable[[Callable], Callable]:
    """Decorator: the map step below adds the columns `columns(**fn_kwargs)` returns.

    Example:
        >>> from datasets import Value
        >>> @declares(lambda output_key="n", **_: {output_key: Value("int64")})
        ... def count(batch, output_key="n"): ...
        >>> step_features(count)
        {'n': Value('int64')}
    """

    def register(step: Callable) -> Callable:
        _DECLARED[step.__name__] = columns
        return step

    return register


def step_features(step: str | Callable, **fn_kwargs: Any) -> dict[str, Any]:
    """The columns a step adds, by step name or map function (as the step itself declares them)."""
    name = step if isinstance(step, str) else step.__name__
    if name not in _DECLARED:
        raise ValueError(
            f"unknown step {name!r}; expected one of {', '.join(sorted(_DECLARED))} "
            "(for another step, pass the map function itself: its module declares its columns on import)"
        )
    return _DECLARED[name](**fn_kwargs)


def features_after(
    ds_or_features: datasets.Dataset | Features, step: str | Callable, **fn_kwargs: Any
) -> Features:
    """The dataset's features plus the columns `step` adds: pass as `ds.map(..., features=...)`.

    Example:
        >>> ds.map(hf_vqa.refine_qa_pairs, batched=True,  # doctest: +SKIP
        ...        features=hf_vqa.features_after(ds, hf_vqa.refine_qa_pairs))
    """
    import datasets
    from datasets import Features

    base = ds_or_features.features if isinstance(ds_or_features, datasets.Dataset) else ds_or_features
    return Features({**base, **step_features(step, **fn_kwargs)})


__all__ = [
    "QA",  # noqa: F822 (built by the module's __getattr__)
    "QA_LIST",  # noqa: F822
    "declares",
    "features_after",
    "qa_pairs_columns",
    "step_features",
    "string_column",
    "vqa_columns",
    "wiki_qa_columns",
]
