"""Ctrl-C: the CLI stops within seconds (exit 130), says how to resume, keeps every finished reply,
and the same command run again finishes the job sending only the unfinished requests.
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

ROOT = Path(__file__).resolve().parents[1]
ROWS = 300
CONCURRENCY = 8

pytestmark = pytest.mark.slow


def write_records(folder: Path, n: int) -> Path:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        Image.new("RGB", (20 + i % 9, 16 + i // 9 % 7), (i % 256, 255 - i % 256, 60)).save(
            folder / "img" / f"{i}.png"
        )
        records.append(
            {"image": [f"img/{i}.png"], "conversation": [{"from": "human", "value": f"<image>\nRow {i}?"}]}
        )
    path = folder / "records.json"
    path.write_text(json.dumps(records))
    return path


def start_cli(tmp_path: Path, base_url: str, name: str, num_proc: int) -> tuple[subprocess.Popen, Path, Path]:
    """The real CLI in its own process group (as in a terminal); stdout/stderr go to files."""
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hfds"), "HF_HOME": str(tmp_path / "hf_home")}
    env.pop("OPENAI_BASE_URL", None)
    cmd = [
        sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "image-vqa",
        "--input", str(tmp_path / "records.json"), "--output", str(tmp_path / "out.json"),
        "--base-url", base_url, "--api-key-env", "", "--model", "mock",
        "--max-concurrency", str(CONCURRENCY), "--cache-dir", str(tmp_path / "store"),
        "--num-proc", str(num_proc),
    ]  # fmt: skip
    out, err = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, cwd=tmp_path, env=env, start_new_session=True)
    return proc, out, err


def message_lines(stderr: str) -> list[str]:
    """stderr without the progress bar's redraws."""
    lines = [part.strip() for line in stderr.split("\n") for part in line.split("\r")]
    return [line for line in lines if line and not line.startswith("Asking ")]


def kill_group(proc: subprocess.Popen) -> None:
    """Clean up after a failed test: the CLI and any datasets workers it forked."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("num_proc", [1, 2])
def test_ctrl_c_exits_130_quickly_keeps_finished_work_and_resumes(tmp_path, make_mock_vlm, num_proc):
    """Ctrl-C in a terminal sends SIGINT to the whole foreground process group, workers included."""
    server = make_mock_vlm(latency=0.2)
    write_records(tmp_path, ROWS)
    in_flight = CONCURRENCY * num_proc  # each process has its own engine and window

    proc, _, err = start_cli(tmp_path, server.base_url, "first", num_proc)
    try:
        deadline = time.monotonic() + 120
        while server.stats()["ok"] < 5 * in_flight:
            assert proc.poll() is None, f"the CLI exited early:\n{err.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no replies within 120 s"
            time.sleep(0.05)
        answered_at_signal = server.stats()["ok"]
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the CLI is still running 30 s after SIGINT:\n{err.read_text()[-3000:]}")
        seconds = time.monotonic() - sent
    finally:
        kill_group(proc)

    stderr = err.read_text(errors="replace")
    messages = message_lines(stderr)
    stored = stored_replies(tmp_path / "store")
    first = server.stats()
    print(
        f"\nINTERRUPT num_proc={num_proc} exit={code} after {seconds:.2f}s; answered before SIGINT="
        f"{answered_at_signal}, stored={stored}, server ok={first['ok']}; {len(messages)} stderr lines, "
        f"first: {messages[:2]}, last: {messages[-1:]}"
    )
    assert code == 130, f"exit code {code}; the last stderr lines: {messages[-3:]}"
    assert seconds < 10, f"took {seconds:.1f}s to stop after SIGINT"
    assert "Traceback" not in stderr, stderr[-3000:]
    assert any("rerun the same command" in m for m in messages), messages
    assert len(messages) <= 3, f"expected a short message, got {len(messages)} lines: {messages}"
    assert answered_at_signal - in_flight <= stored <= first["ok"] < ROWS
    assert not (tmp_path / "out.json").exists()

    proc, out, err = start_cli(tmp_path, server.base_url, "second", num_proc)
    try:
        code = proc.wait(timeout=240)
    finally:
        kill_group(proc)
    again = server.stats()
    resent = again["requests"] - first["requests"]
    print(
        f"INTERRUPT num_proc={num_proc} rerun: exit={code} requests={resent} duplicates={again['duplicates']}"
    )
    assert code == 0, err.read_text(errors="replace")[-3000:]
    assert f"rows={ROWS} succeeded={ROWS} failed=0" in out.read_text()
    rows = json.loads((tmp_path / "out.json").read_text())
    assert len(rows) == ROWS and all(r["vqa"] and r["vqa_error"] is None for r in rows)
    assert resent == ROWS - stored, "the rerun must send exactly the requests not in the store"
    # only requests in flight at Ctrl-C (answered, never stored) are paid for twice
    assert again["duplicates"] <= in_flight
    assert again["unique_ok"] == ROWS
    assert stored_replies(tmp_path / "store") == ROWS
