"""The output parquet written while the replies arrive (`publish/spool.py`): used only when it is exactly
the output, so a run loads the same with or without it."""

from __future__ import annotations

import json
import os
import re

import datasets
import pytest
from clitools import SAMPLE

from hf_vqa.cli.main import main
from hf_vqa.publish import folder as folder_module
from hf_vqa.publish import spool as spooling


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_VQA_CACHE", str(tmp_path / "store"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hfds"))


def _records(tmp_path, n=150, bad_at=()):
    """`n` records over the sample's images (absolute paths); rows in `bad_at` point at a non-image."""
    rows = json.loads(SAMPLE.read_text())
    bad = tmp_path / "not_an_image.jpg"
    bad.write_bytes(b"this is text, not a JPEG")
    out = []
    for i in range(n):
        row = json.loads(json.dumps(rows[i % len(rows)]))
        row["conversation"][0]["value"] += f" (record {i})"  # each row its own request
        row["image"] = [str(bad) if i in bad_at else str(SAMPLE.parent / p) for p in row["image"]]
        out.append(row)
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out))
    return path


def _run(server, records, output, *extra):
    return main(["image-vqa", "--input", str(records), "--output", str(output), "--base-url", server.base_url,
                 "--api-key-env", "", "--model", "m", "--batch-size", "64", "--max-concurrency", "8",
                 *extra])  # fmt: skip


def _loaded(output):
    ds = datasets.load_dataset(str(output), split="train", cache_dir=str(output.parent / "load_cache"))
    rows = [{k: (v.tobytes() if hasattr(v, "tobytes") else v) for k, v in row.items()} for row in ds]
    for row in rows:
        row["image"] = [im and (im.size, im.mode, im.tobytes()) for im in row["image"]]
    return ds.features, rows


def _counting_writes(monkeypatch):
    calls = []
    original = folder_module.write_parquet
    monkeypatch.setattr(folder_module, "write_parquet", lambda *a, **k: (calls.append(1), original(*a, **k)))
    return calls


def _both(server, tmp_path, monkeypatch, records, *extra):
    """(spooled output, ordinary output, whether the spooled run wrote the parquet the ordinary way)."""
    calls = _counting_writes(monkeypatch)
    assert _run(server, records, tmp_path / "spooled", *extra) in (0, 1)
    wrote = bool(calls)
    monkeypatch.setenv("HF_VQA_SPOOL", "0")
    # the same data again (the Arrow cache), written the ordinary way
    assert _run(server, records, tmp_path / "plain", *extra) in (0, 1)
    monkeypatch.delenv("HF_VQA_SPOOL")
    return _loaded(tmp_path / "spooled"), _loaded(tmp_path / "plain"), wrote


def test_a_spooled_output_loads_the_same_as_one_written_at_the_end(env, make_mock_vlm, tmp_path, monkeypatch):
    server = make_mock_vlm()
    spooled, plain, wrote = _both(server, tmp_path, monkeypatch, _records(tmp_path))
    assert not wrote  # the file written while the replies arrived was moved in
    assert spooled == plain
    assert len(spooled[1]) == 150
    assert sorted(p.name for p in (tmp_path / "spooled").iterdir()) == ["README.md", "data"]  # nothing left
    cards = [
        (tmp_path / name / "README.md").read_text().replace(f"/{name}", "/OUT")
        for name in ("spooled", "plain")
    ]
    kept = [re.sub(r"\d+\.\d+", "N", card) for card in cards]  # timings differ
    assert kept[0] == kept[1]


def test_a_refused_image_falls_back_to_the_ordinary_write(env, make_mock_vlm, tmp_path, monkeypatch):
    server = make_mock_vlm()
    spooled, plain, wrote = _both(server, tmp_path, monkeypatch, _records(tmp_path, bad_at={5, 120}))
    assert wrote
    assert spooled == plain
    assert sum(1 for row in spooled[1] if row["vqa_error"]) == 2


def test_failed_rows_load_the_same(env, make_mock_vlm, tmp_path, monkeypatch):
    server = make_mock_vlm(faults={"500": 0.5}, seed=3)
    spooled, plain, _ = _both(server, tmp_path, monkeypatch, _records(tmp_path), "--max-retries", "0")
    assert spooled == plain
    assert any(row["vqa_error"] for row in spooled[1])


def test_a_filter_writes_the_ordinary_way(env, make_mock_vlm, tmp_path, monkeypatch):
    server = make_mock_vlm()
    spooled, plain, wrote = _both(server, tmp_path, monkeypatch, _records(tmp_path), "--filter", "parsed")
    assert wrote
    assert spooled == plain


def test_a_rerun_from_the_arrow_cache_writes_the_ordinary_way(env, make_mock_vlm, tmp_path, monkeypatch):
    server = make_mock_vlm()
    records = _records(tmp_path)
    assert _run(server, records, tmp_path / "first") == 0
    calls = _counting_writes(monkeypatch)
    assert _run(server, records, tmp_path / "second") == 0  # the map comes from the cache: nothing offered
    assert calls
    assert _loaded(tmp_path / "first") == _loaded(tmp_path / "second")


def test_a_killed_runs_spool_folder_is_cleaned_and_ignored(env, make_mock_vlm, tmp_path, monkeypatch):
    server = make_mock_vlm()
    records = _records(tmp_path)
    out = tmp_path / "out"
    left = out / f"{spooling.SPOOL_PREFIX}999999999"  # no such process: a run that was killed
    left.mkdir(parents=True)
    (left / "spooled.parquet").write_bytes(b"half a parquet")
    assert _run(server, records, out) == 0
    assert not left.exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert len(_loaded(out)[1]) == 150


def test_no_spool_is_current_without_a_registered_one():
    assert os.getpid() not in spooling._SPOOLS
    assert spooling.current() is None


@pytest.mark.slow
def test_a_run_killed_while_spooling_leaves_the_output_loadable_and_a_rerun_completes(
    tmp_path, make_mock_vlm
):
    import signal
    import subprocess
    import sys
    import time

    from clitools import ROOT
    from test_interrupt import write_records

    server = make_mock_vlm(latency=0.05)
    write_records(tmp_path, 400)
    out = tmp_path / "out"
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hfds"), "HF_HOME": str(tmp_path / "hf_home")}
    env.pop("OPENAI_BASE_URL", None)
    cmd = [sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "image-vqa", "--input",
           str(tmp_path / "records.json"), "--output", str(out), "--base-url", server.base_url, "--api-key-env",
           "", "--model", "mock", "--max-concurrency", "4", "--batch-size", "64", "--cache-dir",
           str(tmp_path / "store")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        staged = out / f"{spooling.SPOOL_PREFIX}{proc.pid}" / "shard-00000.parquet"
        while not (staged.is_file() and staged.stat().st_size) and proc.poll() is None:
            assert time.monotonic() < deadline, "the run never spooled"
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed mid-run"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert staged.parent.is_dir() and not (out / "data").exists()  # a half-written spool, no output
        again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        assert again.returncode == 0, again.stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data"]
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "load_cache"))
    assert len(ds) == 400 and all(row["vqa"] for row in ds)
    assert [ds[i]["image"][0].size for i in (0, 399)] == [(20, 16), (20 + 399 % 9, 16 + 399 // 9 % 7)]


def test_a_writer_that_falls_behind_drops_the_spool_without_blocking_the_map(tmp_path):
    import threading

    release = threading.Event()

    def slow_refine(batch):
        release.wait(10)
        return {"answer": [t.upper() for t in batch["text"]]}

    features = datasets.Features({"text": datasets.Value("string"), "answer": datasets.Value("string")})
    n = 5 * (spooling.QUEUED + 4)
    spool = spooling.OutputSpool(tmp_path / "out", features, n_rows=n, refine=slow_refine, refine_kwargs={})
    try:
        for start in range(0, n, 5):  # more chunks than the queue holds while the writer is stuck
            spool.put("key", list(range(start, start + 5)), {"text": ["a"] * 5}, {})
        assert spool.error == "the writer fell behind"
    finally:
        release.set()
        spool.close()
    assert not spool.finish() and not (tmp_path / "out").exists()


def test_rows_out_of_order_or_from_another_map_are_refused(tmp_path):
    features = datasets.Features({"text": datasets.Value("string")})
    spool = spooling.OutputSpool(tmp_path / "out", features, n_rows=4, refine=lambda b: {}, refine_kwargs={})
    try:
        spool.put("key", [0, 1], {"text": ["a", "b"]}, {})
        spool.put("other map", [2, 3], {"text": ["c", "d"]}, {})
        assert spool.error and not spool.finish()
    finally:
        spool.close()


def test_an_output_of_several_shards_is_spooled_into_the_same_files(
    env, make_mock_vlm, tmp_path, monkeypatch
):
    records = _records(tmp_path, n=210)
    images = {p for row in map(json.loads, records.read_text().splitlines()) for p in row["image"]}
    per_row = sum(os.path.getsize(p) for p in images) / len(images)
    # two shards of 105 rows: each file's row groups are 100 rows and 5, counted from its own start
    monkeypatch.setattr(folder_module, "SHARD_BYTES", int(per_row * 210 / 1.5))
    server = make_mock_vlm()
    spooled, plain, wrote = _both(server, tmp_path, monkeypatch, records)
    assert not wrote  # the shards written while the replies arrived were moved in
    assert spooled == plain
    files = {name: sorted((tmp_path / name / "data").iterdir()) for name in ("spooled", "plain")}
    assert [f.name for f in files["spooled"]] == [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]
    assert [f.name for f in files["plain"]] == [f.name for f in files["spooled"]]
    for mine, theirs in zip(files["spooled"], files["plain"]):
        assert mine.read_bytes() == theirs.read_bytes()  # the same rows, row groups and bytes
    assert sorted(p.name for p in (tmp_path / "spooled").iterdir()) == ["README.md", "data"]  # nothing left
