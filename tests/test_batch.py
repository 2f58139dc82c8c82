"""Batch mode end to end on loopback: the mock VLM's /v1/files + /v1/batches, with its faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from hf_vqa.batch.lines import read_result, request_line, split_lines
from hf_vqa.batch.manifest import Manifest, manifest_path
from hf_vqa.cli.main import main
from hf_vqa.mock import answers
from hf_vqa.mock.images import parse_tags
from tests.clitools import cli_command, cli_env


def size(i: int) -> tuple[int, int]:
    return 16 + i % 7, 12 + (i // 7) % 5


def colour(i: int) -> tuple[int, int, int]:
    return (16 * (i % 16) + 8, 16 * ((i // 16) % 16) + 8, 16 * ((i // 256) % 16) + 8)


def write_records(folder: Path, n: int) -> Path:
    """`n` rows, each a tiny PNG whose size and colour identify the row (and make its request distinct)."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        Image.new("RGB", size(i), colour(i)).save(folder / "img" / f"{i}.png")
        rows.append(
            {"image": f"img/{i}.png", "conversation": [{"from": "human", "value": f"<image>\nRow {i}?"}]}
        )
    path = folder / "records.json"
    path.write_text(json.dumps(rows))
    return path


def args(tmp_path: Path, server, *extra: str) -> list[str]:
    return ["image-vqa", "--input", str(tmp_path / "records.json"), "--output", str(tmp_path / "out.jsonl"),
            "--base-url", server.base_url, "--api-key-env", "", "--model", "mock",
            "--cache-dir", str(tmp_path / "store"), "--batch", "--batch-poll", "0.01", *extra]  # fmt: skip


def rows(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]


def assert_aligned(out: list[dict]) -> None:
    """Every answered row carries the tag of its own image (size and colour)."""
    for i, row in enumerate(out):
        if row["vqa"] is None:
            continue
        (w, h, rgb), *_ = parse_tags(row["vqa"])
        assert (w, h) == size(i), f"row {i} got the answer for a {w}x{h} image"
        assert all(abs(a - b) <= 3 for a, b in zip(rgb, colour(i))), f"row {i}: rgb{rgb} != {colour(i)}"


@pytest.fixture
def records(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hfds"))
    monkeypatch.chdir(tmp_path)
    return write_records(tmp_path, 24)


def test_request_lines_carry_the_exact_body_and_split_by_count_and_bytes():
    line = request_line("k", b'{"model":"m","messages":[{"role":"user","content":"x"}]}')
    assert json.loads(line) == {"custom_id": "k", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}  # fmt: skip
    chunks = list(split_lines([(str(i), b"x" * 10) for i in range(7)], max_requests=3, max_bytes=25))
    assert [len(c) for c in chunks] == [2, 2, 2, 1]


def test_result_lines_become_replies_or_errors():
    ok = {"custom_id": "a", "response": {"status_code": 200, "body": answers.completion_response(
        {"model": "m"}, answers.Completion("Q: a? A: b", "stop", 5, 4, 0))}, "error": None}  # fmt: skip
    key, reply, error = read_result(json.dumps(ok))
    assert (key, reply.text, reply.prompt_tokens, error) == ("a", "Q: a? A: b", 5, None)
    bad = {
        "custom_id": "b",
        "response": {"status_code": 400, "body": answers.error_body("nope")},
        "error": None,
    }
    assert read_result(json.dumps(bad))[2].startswith("batch: HTTP 400")
    expired = {"custom_id": "c", "response": None, "error": {"code": "batch_expired", "message": "too late"}}
    assert read_result(json.dumps(expired))[2] == "batch: batch_expired: too late"


def test_batch_run_submits_then_a_rerun_collects_and_a_second_rerun_uploads_nothing(
    tmp_path, records, mock_vlm, capsys
):
    assert main(args(tmp_path, mock_vlm)) == 0  # submit, poll once, leave it running
    said = capsys.readouterr().out
    assert "24 to upload" in said and "Rerun this command to collect" in said
    assert not (tmp_path / "out.jsonl").exists()
    m = Manifest.load(manifest_path(tmp_path / "out.jsonl"))
    assert m.chunks[0].batch_id and not m.done
    assert "api_key" not in json.dumps(m.__dict__, default=str).lower()

    assert main(args(tmp_path, mock_vlm, "--wait")) == 0
    out = rows(tmp_path)
    assert len(out) == 24 and all(r["vqa"] for r in out)
    assert_aligned(out)
    assert mock_vlm.stats()["requests"] == 0  # nothing went through /chat/completions
    stats = mock_vlm.batch.stats()
    assert stats["uploaded_lines"] == 24 and stats["paid_twice"] == 0

    assert main(args(tmp_path, mock_vlm, "--wait", "--force")) == 0
    assert mock_vlm.batch.stats()["uploaded_lines"] == 24 and mock_vlm.batch.stats()["uploads"] == 1


def test_a_batch_after_an_online_run_uploads_nothing_its_keys_are_the_online_keys(
    tmp_path, records, mock_vlm, capsys
):
    online = [a for a in args(tmp_path, mock_vlm) if a not in ("--batch", "--batch-poll", "0.01")]
    assert main(online) == 0
    sent = mock_vlm.stats()["requests"]
    assert sent == 24
    assert main(args(tmp_path, mock_vlm, "--wait", "--force")) == 0
    assert "24 already in the request store, 0 to upload" in capsys.readouterr().out
    assert mock_vlm.batch.stats()["uploads"] == 0 and mock_vlm.stats()["requests"] == sent
    assert all(r["vqa"] for r in rows(tmp_path))


def test_files_are_split_by_request_count_and_every_batch_is_collected(tmp_path, records, mock_vlm):
    assert main(args(tmp_path, mock_vlm, "--wait", "--batch-max-requests", "10")) == 0
    m = Manifest.load(manifest_path(tmp_path / "out.jsonl"))
    assert [len(c.keys) for c in m.chunks] == [10, 10, 4] and m.done
    assert mock_vlm.batch.stats()["batches"] == 3
    out = rows(tmp_path)
    assert all(r["vqa"] for r in out)
    assert_aligned(out)


def test_expired_batch_with_half_its_lines_then_retry_failed_resubmits_only_the_rest(
    tmp_path, records, mock_vlm, capsys
):
    mock_vlm.batch.configure(expire=True)
    assert main(args(tmp_path, mock_vlm, "--wait")) == 0
    out = rows(tmp_path)
    failed = [r for r in out if r["vqa"] is None]
    assert len(failed) == 12 and all("expired" in r["vqa_error"] for r in failed)
    assert "--retry-failed" in capsys.readouterr().out

    mock_vlm.batch.configure(expire=False)
    assert main(args(tmp_path, mock_vlm, "--wait", "--retry-failed")) == 0
    out = rows(tmp_path)
    assert all(r["vqa"] for r in out)
    assert_aligned(out)
    stats = mock_vlm.batch.stats()
    assert stats["uploaded_lines"] == 24 + 12 and stats["paid_lines"] == 24 and stats["paid_twice"] == 0


def test_retry_failed_without_batch_asks_online_for_only_the_failed_rows(tmp_path, records, mock_vlm):
    mock_vlm.batch.configure(expire=True)
    assert main(args(tmp_path, mock_vlm, "--wait")) == 0
    assert sum(1 for r in rows(tmp_path) if r["vqa"] is None) == 12
    online = [
        a for a in args(tmp_path, mock_vlm, "--retry-failed") if a not in ("--batch", "--batch-poll", "0.01")
    ]
    assert main(online) == 0
    out = rows(tmp_path)
    assert all(r["vqa"] for r in out)
    assert_aligned(out)
    assert mock_vlm.stats()["requests"] == 12 and mock_vlm.batch.stats()["uploads"] == 1


def test_failed_batch_and_per_line_errors_become_vqa_error(tmp_path, records, mock_vlm):
    mock_vlm.batch.configure(line_4xx=0.4, line_5xx=0.4)
    assert main(args(tmp_path, mock_vlm, "--wait")) == 0
    errors = [r["vqa_error"] for r in rows(tmp_path) if r["vqa"] is None]
    assert any("HTTP 400" in e for e in errors) and any("HTTP 500" in e for e in errors)

    other = tmp_path / "second"
    other.mkdir()
    mock_vlm.batch.configure(line_4xx=0.0, line_5xx=0.0, fail=True)
    argv = args(tmp_path, mock_vlm, "--wait")
    argv[argv.index("--output") + 1] = str(other / "out.jsonl")
    argv[argv.index("--cache-dir") + 1] = str(other / "store")
    assert main(argv) == 1  # every row failed: not a success (#10)
    out = [json.loads(x) for x in (other / "out.jsonl").read_text().splitlines()]
    assert all(r["vqa"] is None and "batch failed" in r["vqa_error"] for r in out)


def test_413_on_upload_is_a_clear_error_and_429_on_create_is_retried(tmp_path, records, mock_vlm, capsys):
    mock_vlm.batch.configure(upload_413=1)
    assert main(args(tmp_path, mock_vlm)) == 2
    assert "--batch-max-bytes" in capsys.readouterr().err
    manifest_path(tmp_path / "out.jsonl").unlink()  # the failed upload left its planned keys; start over
    mock_vlm.batch.configure(create_429=2)
    assert main(args(tmp_path, mock_vlm, "--wait")) == 0
    assert all(r["vqa"] for r in rows(tmp_path))


def test_a_file_uploaded_but_never_turned_into_a_batch_is_created_on_the_rerun(
    tmp_path, records, mock_vlm, capsys
):
    mock_vlm.batch.configure(create_429=99)  # every create refused: the process stops after the upload
    assert main(args(tmp_path, mock_vlm)) == 2
    m = Manifest.load(manifest_path(tmp_path / "out.jsonl"))
    assert m.chunks[0].file_id and not m.chunks[0].batch_id
    mock_vlm.batch.configure(create_429=0)
    assert main(args(tmp_path, mock_vlm, "--wait")) == 0
    assert mock_vlm.batch.stats()["uploads"] == 1 and all(r["vqa"] for r in rows(tmp_path))


def test_cancel_keeps_the_partial_output(tmp_path, records, mock_vlm):
    mock_vlm.batch.configure(polls_per_step=1000)  # stays validating until cancelled
    assert main(args(tmp_path, mock_vlm)) == 0
    assert main(args(tmp_path, mock_vlm, "--batch-cancel", "--wait")) == 0
    out = rows(tmp_path)
    assert sum(1 for r in out if r["vqa"]) == 12
    assert all("cancelled" in r["vqa_error"] for r in out if r["vqa"] is None)
    assert mock_vlm.batch.stats()["cancels"] == 1


def test_the_key_is_sent_to_every_batch_call_and_written_nowhere(
    tmp_path, records, make_mock_vlm, monkeypatch
):
    secret = "sk-batch-secret-0123456789"
    server = make_mock_vlm(api_key=secret)
    monkeypatch.setenv("HF_VQA_TEST_KEY", secret)
    argv = args(tmp_path, server, "--wait")
    argv[argv.index("--api-key-env") + 1] = "HF_VQA_TEST_KEY"
    argv[argv.index("--output") + 1] = str(tmp_path / "folder")
    assert main(argv) == 0  # the mock refuses every call without the key
    assert server.batch.stats()["uploads"] == 1
    for path in [manifest_path(tmp_path / "folder"), *(tmp_path / "folder").rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_cancel_without_a_batch_is_a_clear_error(tmp_path, records, mock_vlm, capsys):
    assert main(args(tmp_path, mock_vlm, "--batch-cancel")) == 2
    assert "no batch to cancel" in capsys.readouterr().err
    assert mock_vlm.batch.stats()["calls"] == 0


def test_export_for_vllm_then_import_its_results(tmp_path, records, mock_vlm):
    exported = tmp_path / "requests.jsonl"
    assert main(args(tmp_path, mock_vlm, "--batch-export", str(exported))) == 0
    lines = [json.loads(x) for x in exported.read_text().splitlines()]
    assert len(lines) == 24 and mock_vlm.batch.stats()["calls"] == 0
    results = tmp_path / "results.jsonl"  # what `vllm run-batch -o` writes: OpenAI's line format
    with results.open("w") as f:
        for n, line in enumerate(lines):
            body = answers.completion_response(line["body"], answers.complete(line["body"]))
            f.write(json.dumps({"id": f"vllm-{n}", "custom_id": line["custom_id"], "error": None,
                                "response": {"status_code": 200, "request_id": f"r{n}", "body": body}}) + "\n")  # fmt: skip
    assert main(args(tmp_path, mock_vlm, "--batch-import", str(results))) == 0
    out = rows(tmp_path)
    assert all(r["vqa"] for r in out)
    assert_aligned(out)
    assert mock_vlm.stats()["requests"] == 0 and mock_vlm.batch.stats()["calls"] == 0


def test_the_card_of_a_batch_run_records_mode_ids_window_counts_and_cost(tmp_path, records, mock_vlm):
    argv = args(tmp_path, mock_vlm, "--wait", "--price-in", "2.5", "--price-out", "10")
    argv[argv.index("--output") + 1] = str(tmp_path / "folder")
    assert main(argv) == 0
    card = (tmp_path / "folder" / "README.md").read_text()
    m = Manifest.load(manifest_path(tmp_path / "folder"))
    assert "- Mode: batch" in card and "completion window 24h" in card
    assert m.chunks[0].batch_id in card
    assert "24 submitted, 24 answered, 0 failed" in card
    assert "Cost at the batch price (x0.5)" in card


@pytest.mark.slow
def test_killed_between_submit_and_collect_resumes_on_the_rerun(tmp_path, mock_vlm):
    n = int(os.environ.get("HF_VQA_BATCH_ROWS", "200"))
    write_records(tmp_path, n)
    mock_vlm.batch.configure(polls_per_step=10**6)  # never finishes while the first process polls
    argv = args(tmp_path, mock_vlm, "--wait")
    env = cli_env(tmp_path)
    proc = subprocess.Popen(cli_command(*argv), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    path = manifest_path(tmp_path / "out.jsonl")
    try:
        for _ in range(1200):  # bounded: up to 120 s
            if path.exists() and Manifest.load(path).chunks and Manifest.load(path).chunks[0].batch_id:
                break
            time.sleep(0.1)
        time.sleep(0.3)  # it is polling now
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert Manifest.load(path).chunks[0].batch_id
    assert not (tmp_path / "out.jsonl").exists()
    mock_vlm.batch.configure(polls_per_step=1)
    done = subprocess.run(
        cli_command(*argv), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    out = rows(tmp_path)
    assert len(out) == n and all(r["vqa"] for r in out)
    assert_aligned(out)
    stats = mock_vlm.batch.stats()
    assert stats["uploads"] == 1 and stats["uploaded_lines"] == n and stats["paid_twice"] == 0
    again = subprocess.run(cli_command(*argv, "--force"), cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert again.returncode == 0 and "0 to upload" in again.stdout
    assert mock_vlm.batch.stats()["uploaded_lines"] == n
    print(
        f"\nBATCH rows={n} uploaded_lines={stats['uploaded_lines']} uploads={stats['uploads']} "
        f"paid_lines={stats['paid_lines']} paid_twice={stats['paid_twice']} chat_requests={mock_vlm.stats()['requests']}"
    )
