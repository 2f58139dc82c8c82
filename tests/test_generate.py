"""prompted_vqa through real HTTP on loopback: alignment, faults, caching, num_proc."""

import json

import datasets
import pytest
from PIL import Image

import hf_vqa
from hf_vqa.mock.server import parse_tags


def colour(i: int) -> tuple[int, int, int]:
    """A distinct, JPEG-robust colour per row index (steps of 16 per channel)."""
    return (16 * (i % 16) + 8, 16 * ((i // 16) % 16) + 8, 16 * ((i // 256) % 16) + 8)


def write_records(folder, n: int) -> str:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        Image.new("RGB", (32 + i % 5, 24), colour(i)).save(folder / "img" / f"{i}.png")
        records.append(
            {"image": [f"img/{i}.png"], "conversation": [{"from": "human", "value": f"<image>\nRow {i}?"}]}
        )
    path = folder / "records.json"
    path.write_text(json.dumps(records))
    return str(path)


def assert_row_matches_its_image(row, i):
    (w, h, rgb), *_ = parse_tags(row["vqa"])
    assert (w, h) == (32 + i % 5, 24), f"row {i} got the answer for another image: {row['vqa'][:80]}"
    assert all(abs(a - b) <= 3 for a, b in zip(rgb, colour(i))), f"row {i} colour {rgb} != {colour(i)}"


@pytest.fixture
def vlm_for(tmp_path):
    def make(server, **kw):
        kw.setdefault("cache_dir", str(tmp_path / "store"))
        return hf_vqa.VLM(model="mock", base_url=server.base_url, api_key_env="", **kw)

    return make


def test_each_row_gets_the_answer_for_its_own_image(tmp_path, mock_vlm, vlm_for):
    ds = hf_vqa.load_records(write_records(tmp_path, 20), cache_dir=str(tmp_path / "ds"))
    out = ds.map(hf_vqa.prompted_vqa, batched=True, batch_size=7, fn_kwargs={"vlm": vlm_for(mock_vlm)})
    assert out.column_names[:2] == ["image", "conversation"]
    for i, row in enumerate(out):
        assert row["vqa_error"] is None
        assert_row_matches_its_image(row, i)
        assert row["vqa_usage"]["prompt_tokens"] > 0 and row["vqa_usage"]["attempts"] == 1
    assert mock_vlm.stats()["images_decoded"] == 20


@pytest.mark.slow
def test_500_rows_with_20_percent_faults_lose_nothing(tmp_path, make_mock_vlm, vlm_for):
    server = make_mock_vlm(fault_rate=0.2, retry_after=0.05, slow_seconds=2.0, seed=7)
    ds = hf_vqa.load_records(write_records(tmp_path, 500), cache_dir=str(tmp_path / "ds"))
    vlm = vlm_for(server, max_concurrency=32, timeout=0.5, max_retries=8)
    out = ds.map(hf_vqa.prompted_vqa, batched=True, batch_size=100, fn_kwargs={"vlm": vlm})
    assert len(out) == 500
    failed = 0
    for i, row in enumerate(out):
        if row["vqa"] is None:
            failed += 1
            assert row["vqa_error"] and "attempt" in row["vqa_error"]
        else:
            assert row["vqa_error"] is None
            assert_row_matches_its_image(row, i)
    stats = server.stats()
    faults = sum(stats.get(k, 0) for k in ("429", "500", "503", "drop", "timeout", "malformed", "empty"))
    assert faults > 50, stats  # the faults really happened
    assert failed <= 2, f"{failed} rows failed despite retries"
    attempts = sum(u["attempts"] for u in out["vqa_usage"])
    assert attempts <= 500 * 9


def test_an_all_failed_first_batch_does_not_break_the_map(tmp_path, make_mock_vlm, vlm_for):
    server = make_mock_vlm()
    records = write_records(tmp_path, 6)
    ds = hf_vqa.load_records(records, cache_dir=str(tmp_path / "ds"))
    # rows 0-2 point at a missing file: the first batch fails entirely, later batches succeed
    ds = ds.map(lambda r, i: {"image": [{"path": "/nope.png", "bytes": None}] if i < 3 else r["image"]},
                with_indices=True, features=ds.features).cast_column("image", datasets.List(datasets.Image(decode=False)))  # fmt: skip
    out = ds.map(hf_vqa.prompted_vqa, batched=True, batch_size=3, fn_kwargs={"vlm": vlm_for(server)})
    assert out.features["vqa"] == datasets.Value("string")
    assert [r is None for r in out["vqa"]] == [True] * 3 + [False] * 3
    assert all("/nope.png" in e for e in out["vqa_error"][:3])


def test_second_identical_map_reuses_the_arrow_cache_with_zero_requests(tmp_path, mock_vlm, vlm_for):
    records = write_records(tmp_path, 12)
    vlm = vlm_for(mock_vlm, use_store=False)  # prove it is the Arrow cache, not the store
    ds = hf_vqa.load_records(records, cache_dir=str(tmp_path / "ds"))
    first = ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm})
    sent = mock_vlm.stats()["requests"]
    assert sent == 12
    ds2 = hf_vqa.load_records(records, cache_dir=str(tmp_path / "ds"))
    second = ds2.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm})
    assert mock_vlm.stats()["requests"] == sent
    assert second._fingerprint == first._fingerprint
    assert list(second["vqa"]) == list(first["vqa"])


def test_store_answers_a_rerun_when_the_arrow_cache_cannot(tmp_path, mock_vlm, vlm_for):
    records = write_records(tmp_path, 8)
    vlm = vlm_for(mock_vlm)
    ds = hf_vqa.load_records(records, cache_dir=str(tmp_path / "ds"))
    ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm}, load_from_cache_file=False)
    again = ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm}, load_from_cache_file=False)
    assert mock_vlm.stats()["requests"] == 8
    assert all(u["cached"] for u in again["vqa_usage"])


def test_num_proc_two_gives_the_same_aligned_rows(tmp_path, mock_vlm, vlm_for):
    ds = hf_vqa.load_records(write_records(tmp_path, 24), cache_dir=str(tmp_path / "ds"))
    out = ds.map(
        hf_vqa.prompted_vqa, batched=True, batch_size=5, num_proc=2, fn_kwargs={"vlm": vlm_for(mock_vlm)}
    )
    for i, row in enumerate(out):
        assert_row_matches_its_image(row, i)


def test_bad_requests_are_not_retried_and_missing_column_is_a_clear_error(tmp_path, make_mock_vlm, vlm_for):
    server = make_mock_vlm(api_key="right-key")
    ds = hf_vqa.load_records(write_records(tmp_path, 2), cache_dir=str(tmp_path / "ds"))
    import os

    os.environ["HF_VQA_WRONG_KEY"] = "wrong-key"
    try:
        vlm = hf_vqa.VLM(
            model="m", base_url=server.base_url, api_key_env="HF_VQA_WRONG_KEY", cache_dir=str(tmp_path)
        )
        with pytest.raises(hf_vqa.errors.EndpointError, match="HTTP 401") as caught:  # the run stops at once
            ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm})
    finally:
        del os.environ["HF_VQA_WRONG_KEY"]
    assert "wrong-key" not in str(caught.value) and "HF_VQA_WRONG_KEY" in str(caught.value)
    assert server.stats()["requests"] == 1  # the first request goes alone: nothing more is sent
    with pytest.raises(hf_vqa.ConfigError, match="no image column 'picture'"):
        ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm_for(server), "image_key": "picture"})


def test_a_missing_prompt_stops_the_map_instead_of_failing_every_row(tmp_path, mock_vlm):
    from clitools import ROOT

    from hf_vqa import load_image_folder
    from hf_vqa.errors import ConfigError

    ds = load_image_folder(ROOT / "examples" / "sample" / "images")  # no conversations: a prompt is needed
    vlm = hf_vqa.VLM(model="m", base_url=mock_vlm.base_url, api_key_env="", cache_dir=str(tmp_path / "store"))
    with pytest.raises(
        ConfigError, match="every row of a batch failed: the conversation has no human turn"
    ) as info:
        ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm, "system_prompt": None})
    assert "prompt=" in info.value.fix
    assert mock_vlm.stats()["requests"] == 0
    out = ds.map(
        hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm, "prompt": "Ask one question. Q: / A:"}
    )
    assert all(out["vqa"])  # with the prompt, the same call works


def test_the_clis_output_spool_gets_each_chunk_of_answered_rows_in_order(
    tmp_path, mock_vlm, vlm_for, monkeypatch
):
    import os

    from hf_vqa.publish import spool as spooling

    class Recorder:  # stands in for the CLI's OutputSpool: what `prompted_vqa` hands it, and when
        chunk_rows = 4

        def __init__(self):
            self.puts = []

        def put(self, key, indices, rows, outputs):
            self.puts.append((key, list(indices), list(rows["conversation"]), list(outputs["vqa"])))

    recorder = Recorder()
    monkeypatch.setitem(spooling._SPOOLS, os.getpid(), recorder)
    ds = hf_vqa.load_records(write_records(tmp_path, 11), cache_dir=str(tmp_path / "ds"))
    out = ds.map(hf_vqa.prompted_vqa, batched=True, batch_size=10, with_indices=True,
                 fn_kwargs={"vlm": vlm_for(mock_vlm)})  # fmt: skip
    assert [p[1] for p in recorder.puts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [10]]  # a batch's rest too
    assert len({p[0] for p in recorder.puts}) == 1  # one map's key
    got = [(c, v) for _, _, convs, texts in recorder.puts for c, v in zip(convs, texts)]
    assert got == list(zip(out["conversation"], out["vqa"]))  # each row with its own reply
    for i, row in enumerate(out):
        assert_row_matches_its_image(row, i)


def test_the_map_thread_sleeps_once_per_batch_not_once_per_reply():
    # A per-future result() woke the map thread (and made it take the GIL) nearly once per reply;
    # `_collect` waits for the whole batch first, so no result() call blocks.
    import concurrent.futures
    import threading
    import time

    from hf_vqa.engine.outcomes import Reply
    from hf_vqa.generate import _collect

    blocked = []

    class Watched(concurrent.futures.Future):
        def result(self, timeout=None):
            blocked.append(not self.done())
            return super().result(timeout)

    futures = [Watched() for _ in range(20)]

    def answer() -> None:
        for i, fut in enumerate(futures):
            time.sleep(0.005)
            fut.set_result(Reply(text=f"a{i}"))

    thread = threading.Thread(target=answer)
    thread.start()
    replies = _collect([Reply(text="kept"), *futures])
    thread.join()
    assert [r.text for r in replies] == ["kept"] + [f"a{i}" for i in range(20)]
    assert blocked == [False] * 20
