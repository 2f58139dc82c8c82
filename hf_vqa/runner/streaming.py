"""`run_pipeline` on an `IterableDataset`: the same steps, run lazily as the data streams by.

Streaming is how large Hub datasets are processed (`load_dataset(..., streaming=True)`). Nothing is
cached to Arrow and there is no `num_proc`: each batch's requests go out together (up to
`max_concurrency` in flight), and the request store still means nothing finished is paid for twice.
There is no lookahead across batches (it reads rows ahead from an Arrow file, which a stream has
not); a larger `batch_size` keeps more requests in flight at batch boundaries.

The `Summary` starts empty and counts each batch as it is produced, so read it after iterating.
Image columns stay undecoded (`{"bytes", "path"}`): `datasets` 5.2 does not decode a mapped stream's
images even after `cast_column`; open them with PIL, or collect the rows into a `Dataset` first.

Example:
    >>> stream = datasets.load_dataset("me/images", split="train", streaming=True)  # doctest: +SKIP
    >>> out, summary = hf_vqa.run_pipeline(stream, "image-vqa", vlm=vlm)  # doctest: +SKIP
    >>> for row in out: ...  # doctest: +SKIP
    >>> summary.line()  # doctest: +SKIP
    'rows=1000 succeeded=998 failed=2 ...'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import datasets

from hf_vqa.generate import prompted_vqa
from hf_vqa.schema import features_after

if TYPE_CHECKING:
    from hf_vqa.runner.summary import Summary
    from hf_vqa.spec import PipelineSpec

__all__ = ["run_streaming"]


def run_streaming(
    ds: datasets.IterableDataset,
    spec: PipelineSpec,
    refine: Callable,
    gen_kwargs: dict[str, Any],
    *,
    batch_size: int | None = None,
    prices: tuple[float, float] | None = None,
) -> tuple[datasets.IterableDataset, Summary]:
    """Chain generate → refine → count on `ds`; return the lazy result and its (filling) `Summary`.

    `gen_kwargs` are `prompted_vqa`'s keyword arguments (the lookahead is always off here).
    """
    from hf_vqa.runner.summary import Summary

    summary = Summary()
    vlm = gen_kwargs["vlm"]
    size = batch_size or max(64, 8 * vlm.max_concurrency)
    known = ds.features is not None
    clock: dict[str, float] = {}  # when the first batch started (iteration may begin much later)
    ds = ds.map(_start, batched=True, batch_size=size, features=ds.features, fn_kwargs={"clock": clock})
    ds = ds.map(prompted_vqa, batched=True, batch_size=size, fn_kwargs={**gen_kwargs, "lookahead": None},
                features=features_after(ds.features, prompted_vqa) if known else None)  # fmt: skip
    ds = ds.map(refine, batched=True, features=features_after(ds.features, refine) if known else None)
    ds = ds.map(_count, batched=True, batch_size=size, features=ds.features,
                fn_kwargs={"summary": summary, "refined_key": spec.refined, "prices": prices, "clock": clock})  # fmt: skip
    return ds, summary


def _count(
    batch: dict[str, list],
    *,
    summary: Summary,
    refined_key: str,
    prices: tuple[float, float] | None,
    clock: dict,
) -> dict[str, list]:
    summary.add(batch, refined_key, prices)
    summary.seconds = time.monotonic() - clock.get("start", time.monotonic())
    return batch


def _start(batch: dict[str, list], *, clock: dict) -> dict[str, list]:
    clock.setdefault("start", time.monotonic())
    return batch
