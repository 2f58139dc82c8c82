"""`hf_vqa.runner.datasets_internals`: the undocumented parts of `datasets` we rely on still exist and behave."""

from __future__ import annotations

import datasets

from hf_vqa.runner import datasets_internals as internals
from hf_vqa.runner.lookahead import shard_bounds


def test_every_listed_internal_is_still_there():
    internals.check()  # raises InternalsChanged naming what moved


def test_num_proc_map_gives_rank_i_the_contiguous_shard_i_as_lookahead_assumes():
    ds = datasets.Dataset.from_dict({"x": list(range(11))})
    seen = ds.map(
        lambda batch, idx, rank: {"rank": [rank] * len(idx), "idx": idx},
        batched=True,
        with_indices=True,
        with_rank=True,
        num_proc=3,
        batch_size=2,
    )
    for rank in range(3):
        start, end = shard_bounds(len(ds), 3, rank)
        assert [i for i, r in zip(seen["idx"], seen["rank"]) if r == rank] == list(range(start, end))


def test_a_missing_internal_fails_loudly(monkeypatch):
    monkeypatch.setattr(datasets.Dataset, "shard", lambda self, num_shards, index: self)
    try:
        internals.check()
    except internals.InternalsChanged as err:
        assert "contiguous" in str(err) and datasets.__version__ in str(err)
    else:
        raise AssertionError("check() did not notice a changed Dataset.shard")


def test_every_internal_names_its_user():
    assert all(i.used_by and i.why for i in internals.INTERNALS)
