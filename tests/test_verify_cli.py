"""The verify pass from the command line: `verify --labels` on the shipped example set, `--verify
--blind-check --filter` on a pipeline command, the dry run, and a SIGKILLed verify run resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from clitools import ROOT, SAMPLE, cli_command, cli_env, run_cli
from PIL import Image

from hf_vqa.cli.main import main
from hf_vqa.publish.read_folder import read_output_folder

LABELS = ROOT / "examples" / "labels"


def test_filter_verified_without_verify_is_refused_before_any_work(tmp_path, capsys):
    code = main(
        [
            "image-vqa",
            "--input",
            str(SAMPLE),
            "--output",
            str(tmp_path / "o"),
            "--mock",
            "--filter",
            "verified",
        ]
    )
    assert code == 2 and "--filter verified needs --verify" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_verify_labels_on_the_example_set_reports_agreement_in_the_card(tmp_path):
    out = tmp_path / "verified"
    res = run_cli("verify", "--input", LABELS / "planted", "--output", out, "--mock", "--labels",
                  LABELS / "labels.jsonl", "--filter", "verified", tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    line = "judge vs people on n=20 pairs: accuracy 0.95, rejecting a wrong pair: precision 1.00, recall 0.75"
    assert line in res.stdout
    assert "MOCK done: rows=6 pairs=20 verified=11 rejected=9 guessable=0 not_judged=0" in res.stdout
    card = (out / "README.md").read_text()
    assert "Agreement with human labels (labels.jsonl), n=20 pairs: accuracy 0.95" in card
    assert "`--filter verified` dropped 9 pair(s) and 0 row(s)" in card
    check = subprocess.run([*cli_command()[:1], "-c", f"import datasets; ds = datasets.load_dataset({str(out)!r}, "
                            "split='train'); print(len(ds), sum(len(r) for r in ds['qa_verdicts']))"],
                           capture_output=True, text=True, env=cli_env(tmp_path), timeout=120)  # fmt: skip
    assert check.stdout.split() == ["6", "11"], check.stderr[
        -2000:
    ]  # loads in a fresh process, pairs dropped


@pytest.mark.slow
def test_pipeline_with_verify_blind_check_and_filters(tmp_path):
    out = tmp_path / "out"
    res = run_cli("image-vqa", "--input", SAMPLE, "--output", out, "--mock", "--verify", "--blind-check",
                  "--filter", "verified", "--filter", "not-guessable", "--report", tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "verified=14 rejected=6 guessable=7" in res.stdout.splitlines()[-1]
    ds = read_output_folder(out)
    assert all(v["answerable"] and v["correct"] for row in ds["qa_verdicts"] for v in row)
    assert not any(b["guessable"] for row in ds["qa_blind"] for b in row)
    card = (out / "README.md").read_text()
    assert "## Verification" in card and "7 (35.0%) of 20 pairs guessable" in card
    page = (tmp_path / "out_report.html").read_text()
    assert 'href="#unverified"' in page and 'href="#guessable"' in page and "judge: image 1 measures" in page
    dry = run_cli("image-vqa", "--input", SAMPLE, "--output", tmp_path / "d", "--mock", "--verify", "--blind-check",
                  "--judge-votes", "3", "--dry-run", tmp_path=tmp_path)  # fmt: skip
    assert "DRY RUN verify: judge_requests=18 (rows x --judge-votes)" in dry.stdout
    dry = run_cli(
        "verify", "--input", out, "--output", tmp_path / "v", "--mock", "--dry-run", tmp_path=tmp_path
    )
    assert "DRY RUN verify rows=6 judge_requests=6 blind_requests=0 in_store=0" in dry.stdout


@pytest.mark.slow
def test_verify_as_a_batch_reads_every_verdict_from_the_collected_batch(tmp_path):
    res = run_cli("verify", "--input", LABELS / "planted", "--output", tmp_path / "v", "--mock", "--batch",
                  "--blind-check", "--batch-poll", "0.2", tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "batch: 6 rows, 11 distinct requests, 0 already in the request store, 11 to upload" in res.stdout
    assert "verified=11 rejected=9 guessable=6 not_judged=0" in res.stdout  # row 2 planted "no"
    assert "- Sent as a batch (`batch_" in (tmp_path / "v" / "README.md").read_text()


def _folder_of(tmp_path: Path, rows: int, server_url: str) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(rows):
        Image.new("RGB", (40 + i % 3 * 8, 40), (i % 256, i // 256 * 40, 90)).save(images / f"{i:05d}.png")
    made = tmp_path / "made"
    res = run_cli("image-vqa", "--input", images, "--output", made, "--base-url", server_url, "--api-key-env", "",
                  "--model", "mock", "--max-concurrency", "32", tmp_path=tmp_path, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return made


@pytest.mark.slow
def test_sigkill_a_verify_run_midway_then_rerun_pays_twice_only_for_in_flight(tmp_path, make_mock_vlm):
    rows = int(os.environ.get("HF_VQA_VERIFY_KILL_ROWS", "300"))
    concurrency = 8
    server = make_mock_vlm(latency=0.05)
    made = _folder_of(tmp_path, rows, server.base_url)
    server.configure(latency=0.1)
    server.reset()
    cmd = cli_command("verify", "--input", made, "--output", tmp_path / "verified", "--judge-base-url", server.base_url,
                      "--judge-api-key-env", "", "--max-concurrency", concurrency)  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env(tmp_path),
                            cwd=tmp_path, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while server.stats()["ok"] < rows // 2:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.3)
    first = server.stats()
    assert not (tmp_path / "verified").exists()
    res = subprocess.run(
        cmd, capture_output=True, text=True, env=cli_env(tmp_path), cwd=tmp_path, timeout=600
    )
    again = server.stats()
    print(f"\nverify SIGKILL at {first['ok']}/{rows}: sent before kill={first['requests']}, rerun sent="
          f"{again['requests'] - first['requests']}, in all={again['requests']}, paid twice={again['duplicates']}")  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"rows={rows} pairs={3 * rows}" in res.stdout and "not_judged=0" in res.stdout
    assert again["duplicates"] <= concurrency, "only requests in flight at the kill may be paid twice"
    assert again["unique_ok"] == rows


@pytest.mark.slow
def test_the_judge_key_is_read_from_its_variable_and_leaks_nowhere(tmp_path, make_mock_vlm):
    from test_secrets import KEY, leaks, scan_tree

    judge = make_mock_vlm(api_key=KEY)
    cmd = ["verify", "--input", LABELS / "planted", "--output", tmp_path / "v", "--judge-base-url", judge.base_url,
           "--judge-model", "judge", "--judge-api-key-env", "JUDGE_KEY", "--report"]  # fmt: skip
    res = run_cli(*cmd, tmp_path=tmp_path, env={"JUDGE_KEY": KEY})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "verified=11 rejected=9" in res.stdout and judge.stats()["unauthorized"] == 0
    assert not leaks(res.stdout + res.stderr) and not scan_tree(
        tmp_path
    )  # output, card, report, store, cache
    unset = run_cli(*cmd[:-1], "--output", tmp_path / "w", tmp_path=tmp_path)
    assert unset.returncode == 2 and "JUDGE_KEY is not set" in unset.stderr
