"""Killed runs leave nothing behind (#25 item 9), and two runs sharing a store pay once (item 3):
the real CLI in subprocesses, SIGKILL of the main process only (its forked workers live on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clitools import stored_replies
from test_interrupt import kill_group, start_cli, write_records

from tests.hostile_batch_server import HostileBatchServer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_sigkill_of_the_main_process_leaves_no_lock_with_its_workers(tmp_path, make_mock_vlm):
    server = make_mock_vlm(latency=0.5)
    write_records(tmp_path, 200)
    proc, _, _ = start_cli(tmp_path, server.base_url, "first", num_proc=2)
    workers: list[int] = []
    try:
        assert wait_for(lambda: len(children(proc.pid)) >= 2 and server.stats()["requests"] >= 4, 120)
        workers = children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only: its forked workers live on
        proc.wait()
        assert any(running(w) for w in workers), "the workers should outlive the main process here"
        again, _, err = start_cli(tmp_path, server.base_url, "again", num_proc=1)
        try:
            code = again.wait(timeout=300)
        finally:
            kill_group(again)
        text = err.read_text()
        assert code != 75 and "another run is writing" not in text, text[-500:]
        assert code == 0, text[-800:]
    finally:
        for w in workers:  # the orphaned workers this test made
            if running(w):
                os.kill(w, signal.SIGKILL)
        kill_group(proc)


def test_sigkill_of_a_mock_run_stops_its_mock_server(tmp_path):
    write_records(tmp_path, 400)
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hfds"), "HF_VQA_CACHE": str(tmp_path / "store")}
    cmd = [sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "image-vqa", "--mock",
           "--input", str(tmp_path / "records.json"), "--output", str(tmp_path / "out.jsonl")]  # fmt: skip
    said = tmp_path / "stdout"
    with said.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.DEVNULL)
    mock: list[int] = []
    try:

        def mock_started() -> bool:
            mock[:] = [c for c in children(proc.pid)
                       if b"hf_vqa.mock.server" in Path(f"/proc/{c}/cmdline").read_bytes()]  # fmt: skip
            return bool(mock)

        assert wait_for(mock_started, 120)
        assert wait_for(lambda: b"MOCK: using" in said.read_bytes(), 120)  # the mock is up and answering
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_for(lambda: not running(mock[0]), 10), "the mock server outlived the killed run"
    finally:
        for pid in mock:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_two_runs_sharing_one_store_pay_once_per_request(tmp_path):
    rows = 120
    write_records(tmp_path, rows)
    with HostileBatchServer(latency=0.2) as server:
        env = {
            **os.environ,
            "HF_DATASETS_CACHE": str(tmp_path / "hfds"),
            "HF_VQA_CACHE": str(tmp_path / "store"),
        }
        procs = []
        for name in ("a", "b"):
            cmd = [sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "image-vqa",
                   "--input", str(tmp_path / "records.json"), "--output", str(tmp_path / f"{name}.jsonl"),
                   "--base-url", server.base_url, "--api-key-env", "", "--model", "m", "--max-concurrency", "8"]  # fmt: skip
            procs.append(
                subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            )
        try:
            results = [p.communicate(timeout=300) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        assert [p.returncode for p in procs] == [0, 0], [r[1][-800:] for r in results]
        sent = server.counts["chat"]
        print(f"\nTWO_RUNS rows={rows} requests_sent={sent}")
        assert sent == rows, f"{sent} requests sent for {rows} rows"
        assert stored_replies(tmp_path / "store") == rows
