"""Shard planning (`--shard auto`, limits split across shards) and the sharded job's plain settings."""

from __future__ import annotations

import json
import pickle

import pytest
from clitools import run_cli
from test_generate import assert_row_matches_its_image, write_records

from hf_vqa.config import VLM
from hf_vqa.errors import ConfigError
from hf_vqa.shards.job import ShardJob
from hf_vqa.shards.plan import resolve_shard, shards_at_once, share_limits

SLURM = {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "6"}


@pytest.mark.parametrize(
    ("text", "shards", "env", "expected"),
    [
        (None, None, {}, None),
        ("2/3", None, {}, (2, 3)),
        ("2/3", 3, {}, (2, 3)),
        ("auto", None, SLURM, (3, 6)),  # an array --array=4-9: index from its minimum
        ("auto", 6, SLURM, (3, 6)),
        ("auto", None, {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}, (0, 2)),
        ("auto", 5, {"JOB_COMPLETION_INDEX": "4"}, (4, 5)),
    ],
)
def test_resolve_shard(text, shards, env, expected):
    assert resolve_shard(text, shards, environ=env) == expected


@pytest.mark.parametrize(
    ("text", "shards", "env", "says"),
    [
        ("auto", 4, {}, "no job-array index"),
        ("auto", None, {"JOB_COMPLETION_INDEX": "1"}, "needs the shard count"),
        ("auto", 4, {"JOB_COMPLETION_INDEX": "4"}, "0 <= I < N"),
        ("auto", 5, SLURM, "disagrees with the job array"),
        ("auto", None, {**SLURM, "SLURM_ARRAY_TASK_STEP": "2"}, "step 1"),
        ("1/4", 3, {}, "disagrees with --shard I/N"),
        ("auto", 2, {"JOB_COMPLETION_INDEX": "x"}, "not a number"),
    ],
)
def test_resolve_shard_errors_say_what_to_do(text, shards, env, says):
    with pytest.raises(ConfigError, match=says) as err:
        resolve_shard(text, shards, environ=env)
    assert err.value.fix


@pytest.mark.parametrize("total", [1, 5, 16, 32, 33, 100])
@pytest.mark.parametrize("at_once", [1, 2, 3, 4, 7])
def test_shares_never_add_up_to_more_than_the_whole(total, at_once):
    vlm = VLM(max_concurrency=total, rpm=total * 10, tpm=total * 1000)
    n = shards_at_once(at_once, slots=at_once, vlm=vlm)
    part = share_limits(vlm, n)
    assert n <= at_once and n <= total
    assert n * part.max_concurrency <= total and n * part.rpm <= total * 10 and n * part.tpm <= total * 1000
    assert part.max_concurrency >= 1 and part.model == vlm.model


def test_shards_at_once_is_bounded_by_slots_and_by_every_limit():
    assert shards_at_once(4, slots=2, vlm=VLM(max_concurrency=32)) == 2
    assert shards_at_once(4, slots=8, vlm=VLM(max_concurrency=32)) == 4
    assert shards_at_once(8, slots=8, vlm=VLM(max_concurrency=3)) == 3
    assert shards_at_once(8, slots=8, vlm=VLM(max_concurrency=32, rpm=2)) == 2


def test_a_sharded_job_carries_no_key_and_its_run_key_names_the_run(monkeypatch, tmp_path):
    monkeypatch.setenv("MY_VLM_KEY", "sk-secret-value-123")
    vlm = VLM(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="MY_VLM_KEY")
    job = ShardJob("image-vqa", write_records(tmp_path, 2), vlm, num_shards=4, repo_id="me/x")
    assert b"sk-secret-value-123" not in pickle.dumps(job)
    from hf_vqa.shards.on_ray import _runtime_env  # the key travels apart from the runtime_env Ray logs

    env, secrets = _runtime_env(job, None, local=True)
    assert secrets["MY_VLM_KEY"] == "sk-secret-value-123" and "MY_VLM_KEY" not in env["env_vars"]
    assert "sk-secret-value-123" not in repr(env)
    monkeypatch.setenv("HF_VQA_HEADERS", '{"x-litellm-model": "gpt-4o"}')  # --header reaches the shards too
    env, secrets = _runtime_env(job, None, local=True)
    assert (
        secrets["HF_VQA_HEADERS"] == '{"x-litellm-model": "gpt-4o"}'
        and "HF_VQA_HEADERS" not in env["env_vars"]
    )
    same = ShardJob("image-vqa", job.source, VLM(model="m", base_url="http://other:1/v1", max_concurrency=3,
                                                 api_key_env="MY_VLM_KEY"), num_shards=4, repo_id="me/y")  # fmt: skip
    assert same.run_key != job.run_key  # another host
    import dataclasses

    assert dataclasses.replace(job, vlm=dataclasses.replace(vlm, max_concurrency=2)).run_key == job.run_key
    assert dataclasses.replace(job, num_shards=5).run_key != job.run_key
    assert dataclasses.replace(job, prompt="other").run_key != job.run_key
    with pytest.raises(ConfigError, match="exactly one"):
        ShardJob("image-vqa", job.source, vlm, num_shards=2)


def test_shard_auto_in_a_kubernetes_indexed_job_takes_its_own_rows(tmp_path):
    records = write_records(tmp_path, 20)
    env = {"JOB_COMPLETION_INDEX": "2"}
    done = run_cli("image-vqa", "--input", records, "--output", "part.json", "--mock", "--shard", "auto",
                   "--shards", "4", tmp_path=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "part.json").read_text())
    assert [r["conversation"][0]["value"] for r in rows] == [f"<image>\nRow {i}?" for i in range(10, 15)]
    for offset, row in enumerate(rows):
        assert_row_matches_its_image(row, 10 + offset)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--ray", "local"], "--ray needs the number of shards"),
        (["--ray", "local", "--shards", "2", "--shard", "0/2"], "--ray runs every shard itself"),
        (["--shards", "2"], "--shards goes with --shard auto or --ray"),
        (["--shard", "auto", "--shards", "2"], "no job-array index"),
        (["--ray", "local", "--shards", "2", "--export", "trl"], "does not combine with --ray"),
        (["--ray", "local", "--shards", "2", "--dedupe"], "does not combine with --ray"),
        (["--ray", "local", "--shards", "2", "--batch"], "do not combine with --ray"),
    ],
)
def test_sharding_flags_are_checked_before_any_work(tmp_path, flags, says):
    records = write_records(tmp_path, 2)
    done = run_cli("image-vqa", "--input", records, "--output", "out", "--mock", *flags, tmp_path=tmp_path,
                   env={"SLURM_ARRAY_TASK_ID": "", "JOB_COMPLETION_INDEX": ""})  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.hub
def test_shards_on_hub_are_those_of_this_run_and_this_count(hub_server, hub_repo_id):
    import datasets

    from hf_vqa.publish.card import RunInfo
    from hf_vqa.publish.hub import push_dataset, shards_on_hub

    assert shards_on_hub(hub_repo_id, 2) == {}  # no repo yet
    part = datasets.Dataset.from_dict({"vqa": ["a", "b"]})
    info = RunInfo("image-vqa", "m", "h", rows=2, failed=0, run_key="run-1")
    push_dataset(part, hub_repo_id, card=info, shard=(1, 2))
    assert sorted(shards_on_hub(hub_repo_id, 2, run_key="run-1")) == [1]
    assert shards_on_hub(hub_repo_id, 2, run_key="run-1")[1]["rows"] == 2
    assert shards_on_hub(hub_repo_id, 2, run_key="run-2") == {}  # another run's shard is not ours
    assert shards_on_hub(hub_repo_id, 3, run_key="run-1") == {}  # nor one of another shard count
    push_dataset(part, hub_repo_id, card=RunInfo("image-vqa", "m", "h", rows=2, failed=0), shard=(0, 2))
    assert sorted(shards_on_hub(hub_repo_id, 2)) == [0, 1] and sorted(
        shards_on_hub(hub_repo_id, 2, run_key="run-1")
    ) == [1]


def test_each_shard_has_its_own_rate_bucket_on_a_shared_machine(tmp_path, mock_vlm):
    """Shards that run together each get rpm/at_once; two on one machine must not share one bucket of it."""
    from fixtures_vlm import engine_for

    one, two, plain = (
        engine_for(mock_vlm, tmp_path, rpm=60, rate_scope=scope) for scope in ("r-0", "r-1", "")
    )
    assert len({one.limits.rpm.name, two.limits.rpm.name, plain.limits.rpm.name}) == 3
    assert plain.limits.rpm.name == f"rpm|{mock_vlm.base_url}|m"  # unchanged without a scope
