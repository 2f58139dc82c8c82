"""Resuming: a SIGKILLed CLI job finishes on rerun without paying twice, a concurrency-capped server
loses no rows, a finished job reruns for free, and failed rows are never cached (only they are resent).

The CLI runs as a real subprocess against the mock VLM served from this test process, so
``server.stats()`` sees every request: ``duplicates`` counts requests answered more than once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clitools import stored_replies
from PIL import Image

import hf_vqa
from hf_vqa.mock.server import parse_tags

ROOT = Path(__file__).resolve().parents[1]


def size(i: int) -> tuple[int, int]:
    """A per-row image size (35 combinations)."""
    return 24 + i % 7, 16 + (i // 7) % 5


def colour(i: int) -> tuple[int, int, int]:
    """A distinct, JPEG-robust colour per row (steps of 16 per channel; distinct for i < 4096)."""
    return 16 * (i % 16) + 8, 16 * ((i // 16) % 16) + 8, 16 * ((i // 256) % 16) + 8


def write_records(folder: Path, n: int) -> Path:
    """`n` rows, each with its own small PNG (distinct size/colour combination) and question."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        Image.new("RGB", size(i), colour(i)).save(folder / "img" / f"{i}.png")
        records.append(
            {"image": [f"img/{i}.png"], "conversation": [{"from": "human", "value": f"<image>\nRow {i}?"}]}
        )
    path = folder / "records.json"
    path.write_text(json.dumps(records))
    return path


def assert_aligned(text: str | None, i: int) -> None:
    """Row `i`'s answer describes row `i`'s image (size exact, mean colour within 3)."""
    assert text, f"row {i} has no answer"
    (w, h, rgb), *_ = parse_tags(text)
    assert (w, h) == size(i), f"row {i} got the answer for another image: {text[:80]}"
    assert all(abs(a - b) <= 3 for a, b in zip(rgb, colour(i))), f"row {i}: colour {rgb} != {colour(i)}"


def assert_complete_output(out: Path, n: int) -> list[dict]:
    """Every row is there, in order, succeeded, and aligned with its own image."""
    rows = json.loads(out.read_text())
    assert len(rows) == n
    for i, row in enumerate(rows):
        assert row["image"][0].endswith(f"{i}.png"), f"row {i} is out of order: {row['image']}"
        assert row["vqa_error"] is None, f"row {i} failed: {row['vqa_error']}"
        assert_aligned(row["vqa"], i)
    return rows


def cli_command(tmp_path: Path, base_url: str, *extra: str, concurrency: int = 8) -> list[str]:
    return [
        sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "image-vqa",
        "--input", str(tmp_path / "records.json"), "--output", str(tmp_path / "out.json"),
        "--base-url", base_url, "--api-key-env", "", "--model", "mock",
        "--max-concurrency", str(concurrency), "--cache-dir", str(tmp_path / "store"), *extra,
    ]  # fmt: skip


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hfds"), "HF_HOME": str(tmp_path / "hf_home")}
    env.pop("OPENAI_BASE_URL", None)
    return env


def run_cli(cmd: list[str], tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(tmp_path), cwd=tmp_path,
                         timeout=timeout, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return res


@pytest.mark.slow
@pytest.mark.parametrize("num_proc", [1, 2])
def test_sigkill_midway_then_rerun_finishes_paying_twice_only_for_in_flight(
    tmp_path, make_mock_vlm, num_proc
):
    rows, concurrency = 300, 8
    in_flight = concurrency * num_proc  # each process has its own engine and window
    server = make_mock_vlm(latency=0.1)
    write_records(tmp_path, rows)
    cmd = cli_command(tmp_path, server.base_url, "--num-proc", str(num_proc), concurrency=concurrency)
    log = (tmp_path / "first.stderr").open("wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=cli_env(tmp_path), cwd=tmp_path,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while server.stats()["ok"] < 100:
            assert proc.poll() is None, (
                f"the CLI exited early:\n{(tmp_path / 'first.stderr').read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, "fewer than 100 replies within 120 s"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole job (datasets workers too), as a crash or OOM kill
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    time.sleep(0.3)  # let the server finish the requests it was holding when the client died
    first = server.stats()
    stored = stored_replies(tmp_path / "store")
    assert 100 - in_flight <= stored < rows, (stored, first)
    assert not (tmp_path / "out.json").exists()

    res = run_cli(cmd, tmp_path)
    again = server.stats()
    resent = again["requests"] - first["requests"]
    print(f"\nSIGKILL num_proc={num_proc}: answered before kill={first['ok']}, stored={stored}, "
          f"rerun sent={resent}, duplicates={again['duplicates']}")  # fmt: skip
    assert f"rows={rows} succeeded={rows} failed=0" in res.stdout
    assert_complete_output(tmp_path / "out.json", rows)
    assert resent == rows - stored, "the rerun must send exactly the requests not in the store"
    assert again["duplicates"] <= in_flight, "only requests in flight at the kill may be paid twice"
    assert again["unique_ok"] == rows and stored_replies(tmp_path / "store") == rows


@pytest.mark.slow
def test_a_server_capped_at_8_concurrent_loses_no_rows_at_concurrency_64(tmp_path, make_mock_vlm):
    rows = 200
    server = make_mock_vlm(latency=0.05, max_concurrent=8, retry_after=0.2)
    write_records(tmp_path, rows)
    res = run_cli(cli_command(tmp_path, server.base_url, concurrency=64), tmp_path)
    stats = server.stats()
    print(f"\nCAPPED at 8, driven at 64: {stats['concurrency_429']} 429s over {stats['requests']} requests, "
          f"max in flight {stats['max_in_flight']}")  # fmt: skip
    assert f"rows={rows} succeeded={rows} failed=0" in res.stdout, res.stdout[-500:]
    assert_complete_output(tmp_path / "out.json", rows)
    assert stats["concurrency_429"] > 0, "the cap was never hit: the test does not test anything"
    assert stats["ok"] == rows and stats["duplicates"] == 0


@pytest.mark.slow
def test_rerunning_a_finished_job_sends_no_requests(tmp_path, make_mock_vlm):
    rows = 40
    server = make_mock_vlm()
    write_records(tmp_path, rows)
    cmd = cli_command(tmp_path, server.base_url)
    run_cli(cmd, tmp_path)
    first, written = server.stats()["requests"], (tmp_path / "out.json").read_text()
    assert first == rows
    res = run_cli(cmd, tmp_path)
    assert server.stats()["requests"] == first, "a finished job must not send anything again"
    assert f"rows={rows} succeeded={rows} failed=0" in res.stdout
    assert (tmp_path / "out.json").read_text() == written


def test_failed_rows_are_not_cached_and_only_they_are_resent(tmp_path, make_mock_vlm):
    rows = 60
    server = make_mock_vlm(faults={"500": 0.4}, seed=5)
    ds = hf_vqa.load_records(write_records(tmp_path, rows), cache_dir=str(tmp_path / "ds"))
    vlm = hf_vqa.VLM(model="mock", base_url=server.base_url, api_key_env="", max_retries=0,
                     max_concurrency=8, cache_dir=str(tmp_path / "store"))  # fmt: skip
    kwargs = {"batched": True, "batch_size": 16, "fn_kwargs": {"vlm": vlm}}
    out = ds.map(hf_vqa.prompted_vqa, **kwargs)
    failed = [i for i, text in enumerate(out["vqa"]) if text is None]
    assert 5 <= len(failed) <= rows - 5, f"{len(failed)} failed: pick another seed"
    assert all("HTTP 500" in out[i]["vqa_error"] for i in failed)
    assert stored_replies(tmp_path / "store") == rows - len(failed)

    server.configure(faults={})
    before = server.stats()["requests"]
    again = ds.map(hf_vqa.prompted_vqa, load_from_cache_file=False, **kwargs)
    assert server.stats()["requests"] - before == len(failed), "only the failed rows may be resent"
    for i, row in enumerate(again):
        assert row["vqa_error"] is None
        assert_aligned(row["vqa"], i)
        assert row["vqa_usage"]["cached"] == (i not in failed)  # the others came from the store


@pytest.mark.slow
def test_retry_failed_resends_only_failed_rows_and_keeps_alignment(tmp_path, make_mock_vlm):
    rows = 60
    server = make_mock_vlm(faults={"500": 0.4}, seed=5)
    write_records(tmp_path, rows)
    cmd = cli_command(tmp_path, server.base_url, "--max-retries", "0")
    run_cli(cmd, tmp_path)
    first = json.loads((tmp_path / "out.json").read_text())
    failed = [i for i, row in enumerate(first) if row["vqa"] is None]
    assert 5 <= len(failed) <= rows - 5, f"{len(failed)} failed: pick another seed"

    server.configure(faults={})
    before = server.stats()["requests"]
    res = run_cli([*cmd, "--retry-failed"], tmp_path)
    assert server.stats()["requests"] - before == len(failed)
    assert f"rows={rows} succeeded={rows} failed=0" in res.stdout
    rows_now = assert_complete_output(tmp_path / "out.json", rows)
    assert [r["vqa"] for i, r in enumerate(rows_now) if i not in failed] == [
        r["vqa"] for i, r in enumerate(first) if i not in failed
    ], "rows that had succeeded must be kept as they were"
