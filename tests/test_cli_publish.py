"""The CLI seam: argument checks, --shard, exports, push, a failed push and push-only.

The last two tests drive the real `scripts/build_dataset.py` (mock VLM → loopback Hub); they skip
until `hf_vqa.cli.main` wires in `hf_vqa.cli.publish`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from hub_server import HubServer
from test_hub import (
    SECRET,
    make_vqa_dataset,
    run_info,
    sizes,
)

from hf_vqa.cli.publish import (
    EXIT_PUSH_FAILED,
    add_publish_arguments,
    add_push_only_subcommand,
    check_publish_args,
    publish,
    run_push_only,
    select_shard,
)
from hf_vqa.errors import ConfigError
from hf_vqa.publish.card import build_card
from hf_vqa.publish.folder import save_folder
from hf_vqa.publish.training import check_llava_record, check_trl_row

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample" / "records.json"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default="out")
    parser.add_argument("--split", default="train")
    parser.add_argument("--license", default="other")
    add_publish_arguments(parser)
    args = parser.parse_args(list(argv))
    check_publish_args(args)
    return args


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--shard", "3/3"], "0 <= I < N"),
        (["--shard", "1/0"], "0 <= I < N"),
        (["--shard", "one/3"], "a shard is written I/N"),
        (["--push-to-hub", "not a/valid/id"], "--push-to-hub needs a repo id"),
        (["--push-to-hub", "me/x", "--output", "o.jsonl"], "publishes the output folder, not a JSON file"),
    ],
)
def test_bad_arguments_are_config_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(*argv)


def test_select_shard_covers_every_row_once(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict({"n": list(range(10))})
    assert select_shard(ds, parse()) is ds
    parts = [select_shard(ds, parse("--shard", f"{i}/3"))["n"] for i in range(3)]
    assert parts == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(ConfigError, match="would leave some empty"):
        select_shard(ds.select([0]), parse("--shard", "1/2"))


@pytest.mark.hub
def test_publish_exports_and_push(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ds = make_vqa_dataset(tmp_path / "img")
    out = tmp_path / "out"
    save_folder(ds, out, card=str(build_card(run_info(ds))))
    args = parse("--output", str(out), "--push-to-hub", hub_repo_id, "--export", "trl-multiturn",
                 "--export", "llava-onevision", "--export", "sharegpt", "--commit-message", "first push")  # fmt: skip
    assert publish(ds, args, run_info(ds)) == 0
    printed = capsys.readouterr().out
    assert f"pushed: {hub_server.endpoint}/datasets/{hub_repo_id}" in printed

    trl = datasets.load_dataset(
        str(tmp_path / "out_trl-multiturn"), split="train", cache_dir=str(tmp_path / "c")
    )
    assert len(trl) == 5 and all(check_trl_row(r) == [] for r in trl)
    llava = json.loads((tmp_path / "out_llava-onevision" / "llava.json").read_text())
    folder = tmp_path / "out_llava-onevision"
    assert len(llava) == 5 and all(
        check_llava_record(r, folder, loader="llava-onevision") == [] for r in llava
    )
    records = json.loads((tmp_path / "out_sharegpt" / "sharegpt.json").read_text())
    assert len(records) == 5 and records[0]["conversations"][1]["value"] == ds[0]["qas"][0]["answer"]

    loaded = datasets.load_dataset(hub_repo_id, split="train", cache_dir=str(tmp_path / "hub"))
    assert loaded["vqa"] == ds["vqa"] and sizes(loaded) == sizes(ds)
    assert any(r[2] == 200 and r[1].endswith("/commit/main") for r in hub_server.requests)


@pytest.mark.hub
def test_failed_push_returns_3_then_push_only(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ds = make_vqa_dataset(tmp_path / "img", 4)
    out = tmp_path / "out"
    save_folder(ds, out, card=str(build_card(run_info(ds))))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    hub_server.fail_next_commits(1, 503)
    args = parse("--output", str(out), "--push-to-hub", hub_repo_id, "--shard", "0/2")
    assert publish(ds, args, run_info(ds)) == EXIT_PUSH_FAILED
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "HTTP 503" in err
    assert f"The local output at {out} is intact" in err
    retry = f"push-only --output {out} --push-to-hub {hub_repo_id} --shard 0/2"
    assert err.strip().endswith(retry)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    sub = argparse.ArgumentParser().add_subparsers(dest="pipeline")
    add_push_only_subcommand(sub)
    push_args = sub.choices["push-only"].parse_args([*shlex.split(retry)[1:], "--license", "mit"])
    assert run_push_only(push_args) == 0
    files = hub_server.files(hub_repo_id)
    assert "data/train-shard00000-of-00002-00000-of-00001.parquet" in files
    assert (
        "license: mit" in files["README.md"].decode()
        and "| default | train | 1/2 | 4 |" in files["README.md"].decode()
    )
    assert (
        run_push_only(
            sub.choices["push-only"].parse_args(["--output", str(tmp_path), "--push-to-hub", "a/b"])
        )
        == 2
    )


from clitools import cli_command, run_cli  # noqa: E402


@pytest.mark.slow
@pytest.mark.hub
def test_cli_mock_build_push_load(hub_server: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = run_cli("image-vqa", "--input", SAMPLE, "--output", out, "--mock", "--push-to-hub", hub_repo_id,
                  "--export", "trl", tmp_path=tmp_path, env={"OPENAI_API_KEY": SECRET})  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert f"pushed: {hub_server.endpoint}/datasets/{hub_repo_id}" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("MOCK done: rows=")
    local = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "local"))
    local = local.cast_column("image", datasets.List(datasets.Image()))  # the local card has no features
    pushed = datasets.load_dataset(hub_repo_id, split="train", cache_dir=str(tmp_path / "hub"))
    assert len(pushed) == len(local) > 0 and pushed["qas"] == local["qas"] and sizes(pushed) == sizes(local)
    assert pushed[0]["image"][0].size == (640, 480)
    readme = hub_server.files(hub_repo_id)["README.md"].decode()
    assert "mock" in readme and "--push-to-hub" in readme and "Mock data" in readme
    trl = datasets.load_dataset(str(tmp_path / "out_trl"), split="train", cache_dir=str(tmp_path / "trl"))
    assert len(trl) == sum(len(q or []) for q in local["qas"]) and check_trl_row(trl[0]) == []
    assert [p for p, data in hub_server.stored_files().items() if SECRET.encode() in data] == []
    for path in (p for p in hub_server.root.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"PAR1"):
        assert SECRET not in json.dumps(pq.read_table(path).to_pylist(), default=str)


@pytest.mark.hub
@pytest.mark.slow
def test_cli_three_machines_at_once_with_a_failed_push(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path
) -> None:
    """The README recipe: N=3 processes push shards concurrently; machine 1's token can read but not write
    (whoami accepts it, so the run starts), so it exits 3 with its output intact and the printed push-only
    command finishes the job."""
    hub_server.reject_token("hf_revoked", 401, reads_ok=True)
    procs, outs = [], [tmp_path / f"shard{i}" for i in range(3)]
    for i, out in enumerate(outs):
        env = {
            **os.environ,
            "HF_VQA_CACHE": str(tmp_path / f"store{i}"),
            "HF_DATASETS_CACHE": str(tmp_path / f"ds{i}"),
        }
        env.pop("OPENAI_BASE_URL", None)
        env["HF_TOKEN"] = "hf_revoked" if i == 1 else env["HF_TOKEN"]
        argv = ["image-vqa", "--input", SAMPLE, "--output", out, "--mock", "--push-to-hub", hub_repo_id]
        procs.append(subprocess.Popen(
            cli_command(*argv, "--shard", f"{i}/3"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        ))  # fmt: skip
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, EXIT_PUSH_FAILED, 0], [err for _, err in outputs]
    errors = [line for line in outputs[1][1].splitlines() if "error" in line]  # the rest: progress bars
    assert len(errors) == 1 and errors[0].startswith("error: push to"), errors
    err = errors[0]
    assert "HTTP 401" in err and "hf auth login" in err and "hf_revoked" not in err
    assert f"The local output at {outs[1]} is intact" in err
    retry = shlex.split(err.split("retry without regenerating: ")[1])
    expected = ["push-only", "--output", str(outs[1]), "--push-to-hub", hub_repo_id, "--shard", "1/3"]
    assert retry[2:] == expected
    assert "| 2/3 |" in hub_server.files(hub_repo_id)["README.md"].decode()

    res = run_cli(*retry[2:], tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    local = [datasets.load_dataset(str(o), split="train", cache_dir=str(tmp_path / "l")) for o in outs]
    pushed = datasets.load_dataset(hub_repo_id, split="train", cache_dir=str(tmp_path / "hub"))
    assert pushed["vqa"] == [v for part in local for v in part["vqa"]]
    assert len(pushed) == len(json.loads(SAMPLE.read_text())) == sum(map(len, local))
    readme = hub_server.files(hub_repo_id)["README.md"].decode()
    assert "| default | train | 3/3 |" in readme and "--shard" in readme
