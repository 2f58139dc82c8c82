"""Lookahead keeps requests in flight across batch boundaries without changing any result."""

import time

import datasets
import pytest
from test_generate import assert_row_matches_its_image, write_records

import hf_vqa
from hf_vqa.pipeline import run_pipeline
from hf_vqa.runner.lookahead import shard_bounds, source_for


@pytest.mark.parametrize("n, shards", [(10, 1), (10, 3), (7, 2), (3, 4), (1000, 7)])
def test_shard_bounds_match_datasets_shard(n, shards):
    ds = datasets.Dataset.from_dict({"i": list(range(n))})
    for index in range(shards):
        start, end = shard_bounds(n, shards, index)
        if start == end:
            assert start == n  # datasets cannot even build an empty shard; map never asks for one
            continue
        assert list(range(start, end)) == ds.shard(shards, index, contiguous=True)["i"]


def test_source_only_for_plain_file_backed_datasets(tmp_path):
    ds = hf_vqa.load_records(write_records(tmp_path, 4), cache_dir=str(tmp_path / "c"))
    assert source_for(ds, 2).num_shards == 2
    assert source_for(ds.select([3, 1]), 2) is None  # an indices mapping: positions differ
    assert source_for(datasets.Dataset.from_dict({"a": [1]}), None) is None  # in memory


@pytest.mark.parametrize("num_proc", [None, 2])
def test_results_identical_with_and_without_lookahead(tmp_path, make_mock_vlm, num_proc):
    server = make_mock_vlm(latency=0.02)
    ds = hf_vqa.load_records(write_records(tmp_path, 40), cache_dir=str(tmp_path / "c"))
    runs = {}
    for flag in (True, False):
        vlm = hf_vqa.VLM(
            model="m", base_url=server.base_url, api_key_env="", cache_dir=str(tmp_path / f"s{flag}")
        )
        out, summary = run_pipeline(ds, "image-vqa", vlm=vlm, batch_size=7, num_proc=num_proc, lookahead=flag)
        runs[flag] = out
        assert summary.succeeded == 40
        for i, row in enumerate(out):
            assert_row_matches_its_image(row, i)
    assert list(runs[True]["vqa"]) == list(runs[False]["vqa"])
    assert server.stats()["duplicates"] == 40  # each request twice in total: once per run, never more


@pytest.mark.slow
def test_a_slow_row_does_not_stall_the_next_batches(tmp_path, make_mock_vlm):
    # every 5th request stalls 0.5 s (a "timeout" fault held shorter than the client timeout)
    server = make_mock_vlm(latency=0.05, faults={"timeout": 0.2}, slow_seconds=0.5, seed=1)
    ds = hf_vqa.load_records(write_records(tmp_path, 60), cache_dir=str(tmp_path / "c"))
    timings = {}
    for flag in (True, False):
        vlm = hf_vqa.VLM(model="m", base_url=server.base_url, api_key_env="", max_concurrency=8,
                         cache_dir=str(tmp_path / f"s{flag}"))  # fmt: skip
        t0 = time.monotonic()
        run_pipeline(ds, "image-vqa", vlm=vlm, batch_size=10, lookahead=flag)
        timings[flag] = time.monotonic() - t0
    # with 6 batches each waiting for a 0.5 s straggler, per-batch submission pays ~6 stalls;
    # lookahead overlaps them. A loose bound: this is a behaviour check, not a benchmark.
    assert timings[True] < timings[False], timings


def test_a_contiguous_shard_is_answered_with_its_own_rows(tmp_path, make_mock_vlm):
    """`ds.shard(N, I, contiguous=True)` slices the same Arrow file without an indices mapping: the
    lookahead must not read the file's first rows in place of the shard's (`--shard I/N`, Ray shards)."""
    server = make_mock_vlm()
    ds = hf_vqa.load_records(write_records(tmp_path, 20), cache_dir=str(tmp_path / "c"))
    part = ds.shard(4, 2, contiguous=True)
    vlm = hf_vqa.VLM(model="m", base_url=server.base_url, api_key_env="", cache_dir=str(tmp_path / "s"))
    out, summary = run_pipeline(part, "image-vqa", vlm=vlm)
    assert summary.succeeded == 5
    for offset, row in enumerate(out):
        assert_row_matches_its_image(row, 10 + offset)


def test_the_same_map_twice_in_one_process_with_caching_off_does_not_hang(tmp_path, make_mock_vlm):
    """A notebook rerun with `datasets.disable_caching()`: the second pass must get a new prefetcher
    (the first one's rows were all handed out; waiting for them again used to hang forever)."""
    server = make_mock_vlm()
    ds = hf_vqa.load_records(write_records(tmp_path, 12), cache_dir=str(tmp_path / "c"))
    vlm = hf_vqa.VLM(model="m", base_url=server.base_url, api_key_env="", cache_dir=str(tmp_path / "s"))
    datasets.disable_caching()
    try:
        for _ in range(3):
            out, summary = run_pipeline(ds, "image-vqa", vlm=vlm, batch_size=5)
            assert summary.succeeded == 12
            for i, row in enumerate(out):
                assert_row_matches_its_image(row, i)
    finally:
        datasets.enable_caching()


def test_the_lookahead_reads_the_store_once_per_chunk_of_rows(tmp_path, make_mock_vlm, monkeypatch):
    from hf_vqa.engine.client import Engine
    from hf_vqa.runner.lookahead import CHUNK

    sizes = []
    lookup_many = Engine.lookup_many

    def spy(self, keys):
        sizes.append(len(keys))
        return lookup_many(self, keys)

    monkeypatch.setattr(Engine, "lookup_many", spy)
    server = make_mock_vlm(latency=0.01)
    ds = hf_vqa.load_records(write_records(tmp_path, 2 * CHUNK + 5), cache_dir=str(tmp_path / "c"))
    vlm = hf_vqa.VLM(model="m", base_url=server.base_url, api_key_env="", cache_dir=str(tmp_path / "s"))
    out, summary = run_pipeline(ds, "image-vqa", vlm=vlm, batch_size=16, lookahead=True)
    assert summary.succeeded == 2 * CHUNK + 5
    for i, row in enumerate(out):
        assert_row_matches_its_image(row, i)
    assert sum(sizes) == 2 * CHUNK + 5 and len(sizes) == 3 and max(sizes) == CHUNK, sizes  # one read a chunk


@pytest.mark.parametrize("how", ["adopted by its map", "told the input is loaded"])
def test_a_warm_start_reads_the_rest_from_the_arrow_file_and_lets_the_records_go(tmp_path, how):
    import threading
    import weakref

    from hf_vqa.inputs.records import read_records
    from hf_vqa.runner.lookahead import CHUNK, FIRST_CHUNK, Prefetcher, adopt_warm, drop_warm, reread_warm

    n = FIRST_CHUNK + 3 * CHUNK
    path = write_records(tmp_path, n)
    ds = hf_vqa.load_records(path, cache_dir=str(tmp_path / "c"))

    class Records(list):  # the warm start's records (a list that can be weakly referenced)
        pass

    records = Records(read_records(path, keep=False))
    gone = weakref.ref(records)

    class WarmRow(dict):  # tells the records' rows from the file's (and equals the map's row)
        pass

    def warm_rows(records):  # as runner/warm.py makes them
        for r in records:
            yield WarmRow(
                image=[{"bytes": None, "path": p} for p in r["image"]], conversation=r["conversation"]
            )

    adopted, checked = threading.Event(), threading.Event()
    seen: list[tuple[bool, str]] = []

    def submit(chunk):
        if not seen:
            adopted.wait(10)  # the map adopts the thread while its first chunk is being sent
        elif len(seen) == FIRST_CHUNK + CHUNK:
            checked.wait(10)  # the third chunk waits until the test has looked at the records
        seen.extend((isinstance(row, WarmRow), row["image"][0]["path"]) for row in chunk)
        return [row["image"][0]["path"] for row in chunk]

    prefetcher = Prefetcher(None, 0, n, submit, rows=warm_rows(records))
    del records
    if how == "adopted by its map":
        prefetcher._source = source_for(ds, None)  # what get_prefetcher does when the map adopts it
    else:
        adopt_warm(prefetcher, "settings")  # waiting for its map
        reread_warm(ds)  # the CLI, once load_input has built the Arrow file
    adopted.set()
    deadline = time.monotonic() + 10
    while len(seen) < FIRST_CHUNK + CHUNK and time.monotonic() < deadline:
        time.sleep(0.01)
    import gc

    gc.collect()
    released = gone() is None  # before the last rows were even produced
    checked.set()
    rows = list(ds.with_format(None))
    paths = prefetcher.take_many(list(range(n)), row=lambda j: rows[j])  # the map checks what it is given
    drop_warm()
    assert released, "the warm start's records are still held once they are in the Arrow file"
    assert prefetcher.mismatched == 0
    assert [warm for warm, _ in seen] == [True] * FIRST_CHUNK + [False] * (n - FIRST_CHUNK)
    assert paths == [p for _, p in seen] == [row["image"][0]["path"] for row in ds.with_format(None)]
