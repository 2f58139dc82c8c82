"""The up-to-date check (`hf_vqa.cli.jobs`): a finished job reruns in a blink, sends nothing and imports no
`datasets`; any change that could change the output (input, arguments, endpoint, the output itself)
or a run with failed rows makes the pipeline run again, and so does `--force`.

The CLI runs as a real subprocess against mock VLMs served from this test process, so
``server.stats()["requests"]`` counts every request the CLI sent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import pytest
from clitools import cli_command, cli_env, run_cli
from PIL import Image

from hf_vqa.cli import jobs
from hf_vqa.cli import main as cli
from hf_vqa.inputs import stamps

ROWS = 4
UP_TO_DATE = "up to date:"
HEAVY = ("datasets", "pyarrow", "openai", "PIL", "pandas", "numpy", "huggingface_hub")


def write_records(folder: Path, n: int = ROWS) -> Path:
    """`n` records, each one image and no conversation (so `--prompt` is what gets asked)."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (24 + i, 16), (40 * i % 256, 90, 200)).save(folder / "img" / f"{i}.png")
    path = folder / "records.json"
    path.write_text(json.dumps([{"image": [f"img/{i}.png"]} for i in range(n)]))
    return path


def job_args(tmp_path: Path, base_url: str | None, *extra: object, output: str = "out.json") -> list[object]:
    endpoint = ["--base-url", base_url] if base_url else []
    return ["image-vqa", "--input", tmp_path / "records.json", "--output", tmp_path / output, *endpoint,
            "--api-key-env", "", "--model", "mock", "--max-concurrency", "4", *extra]  # fmt: skip


def run(tmp_path: Path, *args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    res = run_cli(*args, tmp_path=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


@pytest.fixture
def code_at_start() -> str:
    """hf_vqa's code stamp when the test starts (it is part of every job key)."""
    return jobs._code_stamp()


def assert_up_to_date(res: subprocess.CompletedProcess, code_at_start: str) -> None:
    if UP_TO_DATE not in res.stdout and jobs._code_stamp() != code_at_start:
        pytest.skip("hf_vqa's code was edited during the test, which rightly makes the job run again")
    assert UP_TO_DATE in res.stdout, res.stdout[-2000:]


def imported_modules(stderr: str) -> set[str]:
    """Top-level names of the modules listed by `python -X importtime`."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0] for line in stderr.splitlines() if "import time:" in line
    }


def test_a_finished_job_reruns_up_to_date_sends_nothing_and_imports_no_datasets(
    tmp_path, mock_vlm, code_at_start
):
    write_records(tmp_path)
    args = job_args(tmp_path, mock_vlm.base_url)
    first = run(tmp_path, *args)
    assert UP_TO_DATE not in first.stdout
    assert mock_vlm.stats()["requests"] == ROWS
    written = (tmp_path / "out.json").read_text()
    summary = first.stdout.strip().splitlines()[-1]

    cmd = cli_command(*args)
    res = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True,
                         env=cli_env(tmp_path), cwd=tmp_path, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert_up_to_date(res, code_at_start)
    lines = res.stdout.strip().splitlines()
    assert lines == [f"up to date: {tmp_path / 'out.json'} (nothing sent; use --force to rebuild)", summary]
    assert f"done: rows={ROWS} succeeded={ROWS} failed=0" in summary
    assert mock_vlm.stats()["requests"] == ROWS, "an up-to-date job must not send anything"
    assert (tmp_path / "out.json").read_text() == written
    modules = imported_modules(res.stderr)
    assert "hf_vqa" in modules, "-X importtime listed nothing: the check below would prove nothing"
    assert not modules & set(HEAVY), f"the up-to-date path imported {sorted(modules & set(HEAVY))}"


@pytest.mark.slow
def test_force_or_a_touched_input_runs_the_pipeline_then_it_is_up_to_date_again(
    tmp_path, mock_vlm, code_at_start
):
    records = write_records(tmp_path)
    args = job_args(tmp_path, mock_vlm.base_url)
    run(tmp_path, *args)

    forced = run(tmp_path, *args, "--force")
    assert UP_TO_DATE not in forced.stdout
    assert "output unchanged since the last run" in forced.stdout  # the full pipeline ran, from the caches
    assert mock_vlm.stats()["requests"] == ROWS

    stat = records.stat()
    os.utime(records, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = run(tmp_path, *args)
    assert UP_TO_DATE not in touched.stdout and f"rows={ROWS} succeeded={ROWS}" in touched.stdout
    assert mock_vlm.stats()["requests"] == ROWS, "same requests: answered by the request store"

    assert_up_to_date(run(tmp_path, *args), code_at_start)  # the touched run finished the job


@pytest.mark.slow
@pytest.mark.parametrize("change", [["--max-tokens", "64"], ["--prompt", "Name one colour."]])
def test_a_changed_argument_runs_the_pipeline(tmp_path, mock_vlm, change):
    write_records(tmp_path)
    run(tmp_path, *job_args(tmp_path, mock_vlm.base_url))
    res = run(tmp_path, *job_args(tmp_path, mock_vlm.base_url, *change))
    assert UP_TO_DATE not in res.stdout
    assert mock_vlm.stats()["requests"] == 2 * ROWS, "a new setting means new requests"


@pytest.mark.slow
def test_a_changed_openai_base_url_runs_the_pipeline(tmp_path, make_mock_vlm, code_at_start):
    one, two = make_mock_vlm(), make_mock_vlm()
    write_records(tmp_path)
    args = job_args(tmp_path, None)  # the endpoint comes from $OPENAI_BASE_URL
    run(tmp_path, *args, env={"OPENAI_BASE_URL": one.base_url})
    res = run(tmp_path, *args, env={"OPENAI_BASE_URL": two.base_url})
    assert UP_TO_DATE not in res.stdout
    assert (one.stats()["requests"], two.stats()["requests"]) == (ROWS, ROWS)
    again = run(tmp_path, *args, env={"OPENAI_BASE_URL": two.base_url})
    assert_up_to_date(again, code_at_start)
    assert two.stats()["requests"] == ROWS


@pytest.mark.slow
def test_a_deleted_or_edited_output_is_written_again(tmp_path, mock_vlm):
    write_records(tmp_path)
    args = job_args(tmp_path, mock_vlm.base_url)
    out = tmp_path / "out.json"
    run(tmp_path, *args)
    written = out.read_text()

    out.unlink()
    assert UP_TO_DATE not in run(tmp_path, *args).stdout
    assert out.read_text() == written

    out.write_text("[]")
    assert UP_TO_DATE not in run(tmp_path, *args).stdout
    assert out.read_text() == written
    assert mock_vlm.stats()["requests"] == ROWS


@pytest.mark.slow
def test_a_folder_output_missing_a_data_file_is_written_again(tmp_path, mock_vlm, code_at_start):
    write_records(tmp_path)
    args = job_args(tmp_path, mock_vlm.base_url, output="out")
    run(tmp_path, *args)
    (shard,) = (tmp_path / "out" / "data").glob("train-*.parquet")
    assert_up_to_date(run(tmp_path, *args), code_at_start)

    shard.unlink()  # the card (README.md) is untouched
    res = run(tmp_path, *args)
    assert UP_TO_DATE not in res.stdout and "output unchanged" not in res.stdout
    assert shard.is_file()


@pytest.mark.slow
def test_an_image_folder_job_reruns_up_to_date_until_an_image_is_added(tmp_path, mock_vlm, code_at_start):
    folder = tmp_path / "images"
    write_records(folder)
    (folder / "records.json").unlink()
    args = ["image-vqa", "--input", folder / "img", "--output", tmp_path / "out.json", "--base-url",
            mock_vlm.base_url, "--api-key-env", "", "--model", "mock"]  # fmt: skip
    run(tmp_path, *args)
    assert_up_to_date(run(tmp_path, *args), code_at_start)
    Image.new("RGB", (30, 30), (1, 2, 3)).save(folder / "img" / "new.png")
    res = run(tmp_path, *args)
    assert UP_TO_DATE not in res.stdout and f"rows={ROWS + 1} succeeded={ROWS + 1}" in res.stdout
    assert mock_vlm.stats()["requests"] == ROWS + 1, "only the new image is asked about"


@pytest.mark.slow
def test_a_job_with_failed_rows_is_never_up_to_date(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"500": 0.5}, seed=3)
    write_records(tmp_path, 12)
    args = job_args(tmp_path, server.base_url, "--max-retries", "0")
    first = run(tmp_path, *args)
    assert "row(s) failed" in first.stdout, "no row failed: pick another seed"
    res = run(tmp_path, *args)
    assert UP_TO_DATE not in res.stdout and "row(s) failed" in res.stdout
    manifest = jobs.manifest_path(str(tmp_path / "store"))
    entries = json.loads(manifest.read_text()) if manifest.exists() else {}
    assert not any(entry.get("job") for entry in entries.values()), "a failed job is never remembered"


# Unit tests of the key and the manifest (no subprocess).


def parse(*argv: object) -> object:
    return cli.build_parser().parse_args([str(a) for a in argv])


@pytest.fixture
def records(tmp_path) -> Path:
    return write_records(tmp_path)


def test_the_cli_offers_the_specs_pipelines_and_filters():
    from hf_vqa.spec import FILTER_NAMES, PIPELINES

    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(PIPELINES) <= set(sub.choices)
    filters = next(a for a in sub.choices["image-vqa"]._actions if a.dest == "filter")
    assert tuple(filters.choices) == FILTER_NAMES


@pytest.mark.parametrize(
    "flag",
    [["--force"], ["--retry-failed"], ["--no-cache"], ["--push-to-hub", "me/x"], ["--shard", "0/2"],
     ["--export", "trl"]],
)  # fmt: skip
def test_flags_that_must_always_run_have_no_key(records, flag):
    assert jobs.job_key(parse("image-vqa", "--input", records, "--output", "o.json"), mock=False)
    assert (
        jobs.job_key(parse("image-vqa", "--input", records, "--output", "o.json", *flag), mock=False) is None
    )


def test_inputs_other_than_records_or_image_folders_have_no_key(tmp_path):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "state.json").write_text("{}")
    for source in ("me/dataset", tmp_path / "data.parquet", tmp_path / "saved", tmp_path / "missing.json"):
        assert jobs.job_key(parse("image-vqa", "--input", source, "--output", "o.json"), mock=False) is None


def test_the_key_covers_arguments_environment_and_input_but_not_cosmetics(records, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["image-vqa", "--input", records, "--output", "o.json"]
    key = jobs.job_key(parse(*base), mock=False)
    assert key == jobs.job_key(parse("image-vqa", "--input", "records.json", "--output", tmp_path / "o.json"),
                               mock=False), "relative and absolute paths name the same job"  # fmt: skip
    assert key == jobs.job_key(parse(*base, "--commit-message", "hi", "--private"), mock=False)
    different = [
        jobs.job_key(parse(*base, "--max-tokens", "9"), mock=False),
        jobs.job_key(parse(*base, "--prompt", "Why?"), mock=False),
        jobs.job_key(parse("context-vqa", *base[1:]), mock=False),
        jobs.job_key(parse(*base), mock=True),
        jobs.job_key(parse(*base), mock=False, environ={"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}),
    ]
    os.utime(records, ns=(records.stat().st_atime_ns, records.stat().st_mtime_ns + 1))
    different.append(jobs.job_key(parse(*base), mock=False))
    assert None not in different and len({key, *different}) == len(different) + 1


def test_filter_order_and_repeats_do_not_change_the_key(records):
    base = ["image-vqa", "--input", records, "--output", "o.json"]
    one = jobs.job_key(parse(*base, "--filter", "parsed", "--filter", "no-leak"), mock=False)
    two = jobs.job_key(
        parse(*base, "--filter", "no-leak", "--filter", "parsed", "--filter", "parsed"), mock=False
    )
    assert one == two != jobs.job_key(parse(*base), mock=False)


def test_the_input_stamps_are_the_ones_the_loaders_use(records, tmp_path):
    import hf_vqa.inputs.load

    assert stamps.input_stamp(str(records)) == f"records:{records.resolve()}:{stamps.file_stamp(records)}"
    files = stamps.image_files(tmp_path / "img")
    assert len(files) == ROWS
    assert stamps.input_stamp(str(tmp_path / "img")).endswith(stamps.folder_stamp(files))
    assert hf_vqa.inputs.load.IMAGE_EXTENSIONS is stamps.IMAGE_EXTENSIONS
    ds = hf_vqa.inputs.load.load_records(records, cache_dir=str(tmp_path / "hfds"))
    os.utime(records, ns=(records.stat().st_atime_ns, records.stat().st_mtime_ns + 1))
    again = hf_vqa.inputs.load.load_records(records, cache_dir=str(tmp_path / "hfds"))
    assert ds._fingerprint != again._fingerprint, "the loader's fingerprint must follow the stamp"


def test_finished_needs_the_same_key_and_an_untouched_output(tmp_path):
    out, cache = tmp_path / "o.json", str(tmp_path / "cache")
    out.write_text("[1]")
    jobs.remember("a" * 64, str(out), "rows=1", cache)
    assert jobs.finished("a" * 64, str(out), cache) == "rows=1"
    assert jobs.finished("b" * 64, str(out), cache) is None
    os.utime(out, ns=(out.stat().st_atime_ns, out.stat().st_mtime_ns + 1))
    assert jobs.finished("a" * 64, str(out), cache) is None
    jobs.remember("b" * 64, str(out), "rows=2", cache)
    entries = json.loads(jobs.manifest_path(cache).read_text())
    assert [e["job"] for e in entries.values()] == ["b" * 64], "one entry per output"


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"k": 3}', '{"k": {"output": 1}}'])
def test_a_broken_manifest_never_fails_the_check(tmp_path, content):
    out, cache = tmp_path / "o.json", tmp_path / "cache"
    out.write_text("[1]")
    cache.mkdir()
    jobs.manifest_path(str(cache)).write_text(content)
    assert jobs.finished("k", str(out), str(cache)) is None
    jobs.remember("k", str(out), "rows=1", str(cache))
    assert jobs.finished("k", str(out), str(cache)) == "rows=1"
