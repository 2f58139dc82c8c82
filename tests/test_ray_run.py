"""Shards as Ray tasks on a local Ray (2 CPUs), against the mock VLM and the loopback Hub."""

from __future__ import annotations

import os
import signal

import datasets
import pytest
from test_generate import assert_row_matches_its_image, write_records

import hf_vqa
from hf_vqa.shards.job import ShardJob

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'hf_vqa[ray]' (CI installs it)")
pytestmark = [pytest.mark.slow, pytest.mark.hub]

ROWS, SHARDS, CONCURRENCY = 120, 4, 4  # 2 shards at once on 2 CPUs, so each sends at most 2 at a time


def _job(tmp_path, server, **kw) -> ShardJob:
    vlm = hf_vqa.VLM(model="m", base_url=server.base_url, api_key_env="", max_concurrency=CONCURRENCY,
                     cache_dir=str(tmp_path / "store"))  # fmt: skip
    return ShardJob("image-vqa", write_records(tmp_path, ROWS), vlm, num_shards=SHARDS, **kw)


def _assert_complete_and_in_order(ds: datasets.Dataset) -> None:
    assert len(ds) == ROWS
    texts = [row["conversation"][0]["value"] for row in ds]
    assert texts == [f"<image>\nRow {i}?" for i in range(ROWS)]  # input order, no duplicate, none lost
    for i, row in enumerate(ds):
        assert_row_matches_its_image(row, i)  # each answer is its own row's


def test_four_shards_survive_a_killed_worker_and_a_rerun_skips_them(tmp_path, make_mock_vlm, hub_server, hub_repo_id):  # fmt: skip
    server = make_mock_vlm(latency=0.1)
    job = _job(tmp_path, server, repo_id=hub_repo_id)
    killed: list[int] = []

    def kill_shard_1_midway(states) -> None:
        s = states[1]
        if not killed and s.state == "running" and s.pids and 0 < s.done < ROWS // SHARDS:
            os.kill(s.pids[-1], signal.SIGKILL)  # the Ray worker process running shard 1
            killed.append(s.pids[-1])

    run = hf_vqa.run_on_ray(job, address="local", local_cpus=2, on_progress=kill_shard_1_midway, interval=0.2)
    assert killed, "shard 1 finished before it could be killed (raise the mock latency)"
    assert run.ok, [(s.index, s.state, s.error) for s in run.shards]
    assert [s.attempts for s in run.shards] == [1, 2, 1, 1]  # Ray retried the killed shard, only it
    assert killed[0] in run.shards[1].pids
    _assert_complete_and_in_order(datasets.load_dataset(hub_repo_id, split="train"))
    stats = server.stats()
    assert stats["duplicates"] <= CONCURRENCY // 2  # only the killed worker's requests in flight: the store
    assert stats["unique_ok"] == ROWS
    assert run.summary.rows == ROWS and run.summary.succeeded == ROWS

    again = hf_vqa.run_on_ray(job, address="local", local_cpus=2)  # the same run: every shard is already in
    assert [s.state for s in again.shards] == ["skipped"] * SHARDS
    assert server.stats()["requests"] == stats["requests"]
    assert again.summary.rows == ROWS


def test_without_push_the_shards_are_merged_into_one_folder(tmp_path, make_mock_vlm):
    server = make_mock_vlm()
    out = tmp_path / "shared" / "run"
    run = hf_vqa.run_on_ray(_job(tmp_path, server, output=str(out)), address="local", local_cpus=2)
    assert run.ok and run.where == str(out)
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        f"train-0000{k}-of-00004.parquet" for k in range(4)
    ]
    assert not (out / "_shards").exists()
    _assert_complete_and_in_order(datasets.load_dataset(str(out), split="train"))
    card = hf_vqa.RunInfo.from_card((out / "README.md").read_text())
    assert card.rows == ROWS and card.failed == 0


def test_the_key_reaches_the_workers_but_no_ray_log(tmp_path, make_mock_vlm, monkeypatch, request):
    import shutil
    import tempfile
    from pathlib import Path

    key = "sk-hfvqa-RAY-SECRET-0123456789abcdef"
    ray_tmp = Path(tempfile.mkdtemp(prefix="rk", dir="/tmp"))  # short: Ray's socket paths have a length limit
    request.addfinalizer(lambda: shutil.rmtree(ray_tmp, ignore_errors=True))
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))
    monkeypatch.setenv("HF_VQA_RAY_KEY", key)
    server = make_mock_vlm(api_key=key)  # answers 401 to any other key: the workers really got it
    vlm = hf_vqa.VLM(model="m", base_url=server.base_url, api_key_env="HF_VQA_RAY_KEY", max_concurrency=2,
                     cache_dir=str(tmp_path / "store"))  # fmt: skip
    job = ShardJob("image-vqa", write_records(tmp_path, 8), vlm, num_shards=2, output=str(tmp_path / "out"))
    run = hf_vqa.run_on_ray(job, address="local", local_cpus=2)
    assert run.ok and server.stats()["unique_ok"] == 8, [(s.state, s.error) for s in run.shards]
    logs = [p for p in ray_tmp.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.name.startswith("runtime_env_agent") for p in logs), sorted(p.name for p in logs)[:20]
    holding = [str(p) for p in logs if p.stat().st_size < 50 << 20 and key.encode() in p.read_bytes()]
    assert not holding, f"the key is in Ray's files: {holding}"  # before: runtime_env_agent.log held it
    assert os.environ.get("HF_VQA_RAY_KEY") == key  # the driver's own environment is untouched
