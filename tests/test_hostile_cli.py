"""A hostile world through the real CLI: a full disk, a damaged store, unencodable rows, two runs at once.

A full disk is a small tmpfs when this process may mount one (root), else a simulated ``ENOSPC``
from the parquet writer (the only patched function in this file).
"""

from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from clitools import cli_command, cli_env, run_cli, stored_replies
from fixtures_vlm import chat_body, engine_for


def records(folder: Path, n: int, prompt: str = "Row {i}?") -> Path:
    from PIL import Image

    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        Image.new("RGB", (16 + i % 7, 12), (8 * (i % 32), 40, 90)).save(folder / "img" / f"{i}.png")
        rows.append({"image": [f"img/{i}.png"],
                     "conversation": [{"from": "human", "value": "<image>\n" + prompt.format(i=i)}]})  # fmt: skip
    path = folder / "records.json"
    path.write_text(json.dumps(rows))
    return path


def build(tmp_path: Path, server, output: Path, *extra: object) -> subprocess.CompletedProcess:
    return run_cli("image-vqa", "--input", tmp_path / "records.json", "--output", output,
                   "--base-url", server.base_url, "--api-key-env", "", "--model", "m", *extra,
                   tmp_path=tmp_path)  # fmt: skip


def answered(output: Path) -> list:
    if output.suffix == ".jsonl":
        return [json.loads(line)["vqa"] for line in output.read_text().splitlines()]
    import pyarrow.parquet as pq

    return [
        v for p in sorted((output / "data").glob("*.parquet")) for v in pq.read_table(p)["vqa"].to_pylist()
    ]


# -- a full disk ---------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, or None when it cannot be mounted here."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        shutil.which("mount") is None
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
        ).returncode
    ):
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int = 4096) -> None:
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, shutil.disk_usage(folder).free - leave))


def test_a_full_disk_leaves_the_previous_folder_output_intact(
    tmp_path, mock_vlm, small_disk, monkeypatch, capsys
):
    records(tmp_path, 30)
    out = (small_disk or tmp_path) / "out"
    first = build(tmp_path, mock_vlm, out)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    if small_disk is not None:
        fill(small_disk)
        res = build(tmp_path, mock_vlm, out, "--temperature", "0.5")
        code, line = res.returncode, res.stderr.strip().splitlines()[-1]
    else:  # simulate ENOSPC in the parquet writer, in process
        from hf_vqa.cli import main as cli_main
        from hf_vqa.publish import folder

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(folder, "write_parquet", full)
        monkeypatch.setenv("HF_VQA_CACHE", str(tmp_path / "store"))
        monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hfds"))
        code = cli_main.main(["image-vqa", "--input", str(tmp_path / "records.json"), "--output", str(out),
                              "--base-url", mock_vlm.base_url, "--api-key-env", "", "--model", "m",
                              "--temperature", "0.5"])  # fmt: skip
        line = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert line.startswith("error: disk full: cannot write"), line
    assert "needed about" in line and "free there" in line and "previous output is unchanged" in line
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "the previous output changed"
    assert len(answered(out)) == 30
    leftovers = [p for p in out.parent.rglob("*") if ".hf_vqa-new-" in p.name or p.suffix == ".tmp"]
    assert not leftovers


def test_a_full_disk_leaves_a_previous_records_file_intact(tmp_path, mock_vlm, small_disk):
    if small_disk is None:
        pytest.skip("needs a tmpfs (root) for a real full disk")
    records(tmp_path, 30)
    out = small_disk / "out.jsonl"
    assert build(tmp_path, mock_vlm, out).returncode == 0
    before = out.read_bytes()
    fill(small_disk, leave=1024)
    res = build(tmp_path, mock_vlm, out, "--temperature", "0.5")
    assert res.returncode == 2 and "error: disk full: cannot write" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert out.read_bytes() == before
    assert [p.name for p in small_disk.iterdir()] == sorted(["filler", "out.jsonl"]) or set(
        p.name for p in small_disk.iterdir()
    ) == {"filler", "out.jsonl"}


def test_a_full_store_disk_never_drops_a_paid_reply(tmp_path, mock_vlm, small_disk):
    if small_disk is None:
        pytest.skip("needs a tmpfs (root) for a real full disk")
    fill(small_disk, leave=0)
    engine = engine_for(mock_vlm, tmp_path, cache_dir=str(tmp_path / "store"))
    engine.store.dir = small_disk  # the store's file lives on the full disk from here on
    engine.store.path = small_disk / "replies.sqlite"
    engine.store._local.conn = None
    replies = [engine.submit(f"k{i}", chat_body(f"row {i}")).result(30) for i in range(20)]
    assert all(r.text and r.error is None for r in replies)
    assert engine.store.failing is not None


# -- a damaged store ----------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_store_is_moved_aside_and_the_run_pays_only_for_what_was_lost(tmp_path, mock_vlm, damage):
    records(tmp_path, 40)
    out = tmp_path / "out.jsonl"
    assert build(tmp_path, mock_vlm, out).returncode == 0
    store = tmp_path / "store" / "replies.sqlite"
    import sqlite3

    conn = sqlite3.connect(store)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = store.read_bytes()
    store.write_bytes(data[: len(data) * 4 // 5] if damage == "truncated" else b"garbage" * 1000)
    shutil.rmtree(tmp_path / "hfds")  # the Arrow cache would answer without asking the store
    out.unlink()
    mock_vlm.reset()
    res = build(tmp_path, mock_vlm, out)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    warning = [x for x in res.stderr.splitlines() if x.startswith("warning: the request store")]
    assert len(warning) == 1 and "damaged" in warning[0] and "moved aside" in warning[0]
    assert all(answered(out))
    recovered = int(re.search(r"(\d+) replies recovered", warning[0]).group(1))
    assert (recovered > 0) if damage == "truncated" else (recovered == 0)
    assert mock_vlm.stats()["requests"] == 40 - recovered  # pays only for what was lost
    assert stored_replies(tmp_path / "store") == 40
    assert list((tmp_path / "store").glob("replies.sqlite.damaged-*"))


def test_store_check_and_repair_commands(tmp_path, mock_vlm):
    records(tmp_path, 5)
    assert build(tmp_path, mock_vlm, tmp_path / "out.jsonl").returncode == 0
    check = run_cli("store", "--check", tmp_path=tmp_path)
    assert check.returncode == 0 and check.stdout.startswith("ok:") and "5 replies" in check.stdout
    store = tmp_path / "store" / "replies.sqlite"
    for p in store.parent.glob("replies.sqlite-*"):
        p.unlink()
    store.write_bytes(b"\0" * 4096)
    check = run_cli("store", "--check", tmp_path=tmp_path)
    assert check.returncode == 1 and "damaged" in check.stderr and "--repair" in check.stderr
    repair = run_cli("store", "--repair", tmp_path=tmp_path)
    assert repair.returncode == 0 and repair.stdout.startswith("repaired:"), repair.stdout + repair.stderr
    assert run_cli("store", "--check", tmp_path=tmp_path).returncode == 0


# -- unencodable rows ---------------------------------------------------------------------------
def test_a_lone_surrogate_or_invalid_utf8_fails_only_its_row(tmp_path, mock_vlm):
    path = records(tmp_path, 10)
    text = path.read_text().replace("Row 3?", "Row 3 \\ud83d?")
    path.write_bytes(text.replace("Row 6?", "Row 6 @?").encode().replace(b"@", b"\xff"))
    out = tmp_path / "out.jsonl"
    res = build(tmp_path, mock_vlm, out)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    failed = {i: r["vqa_error"] for i, r in enumerate(rows) if r["vqa"] is None}
    assert set(failed) == {3, 6}
    assert all("cannot be encoded as UTF-8" in e for e in failed.values())
    assert mock_vlm.stats()["requests"] == 8


# -- two runs at once ---------------------------------------------------------------------------
def test_a_second_run_on_the_same_output_exits_at_once_and_pays_nothing(tmp_path, make_mock_vlm):
    server = make_mock_vlm(latency=0.2)
    records(tmp_path, 40)
    out = tmp_path / "out.jsonl"
    argv = ["image-vqa", "--input", tmp_path / "records.json", "--output", out, "--base-url", server.base_url,
            "--api-key-env", "", "--model", "m", "--max-concurrency", "2"]  # fmt: skip
    first = subprocess.Popen(cli_command(*argv), env=cli_env(tmp_path), cwd=tmp_path, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        for _ in range(600):  # until the first run is sending (bounded)
            if server.stats()["requests"] or first.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"])
        second = run_cli(*argv, tmp_path=tmp_path)
        assert second.returncode == 75, second.stderr
        assert "another run is writing" in second.stderr and f"pid {first.pid}" in second.stderr
        assert first.wait(120) == 0
    finally:
        first.kill()
        first.wait()
    assert server.stats()["requests"] == 40
    assert all(answered(out))


def test_runs_on_different_outputs_or_shards_do_not_block_each_other(tmp_path):
    from hf_vqa.cli.lock import Busy, hold

    a = hold(str(tmp_path / f"{uuid.uuid4()}"), str(tmp_path))
    b = hold(str(tmp_path / "other"), str(tmp_path))
    shards = [hold(str(tmp_path / "part"), str(tmp_path), scope=f"({i}, 3)") for i in range(3)]  # a job array
    with pytest.raises(Busy, match="another run is writing"):
        hold(str(tmp_path / "part"), str(tmp_path), scope="(1, 3)")
    for f in (a, b, *shards):
        f.close()
    hold(str(tmp_path / "part"), str(tmp_path), scope="(1, 3)").close()  # released when its run ends


def test_a_full_datasets_cache_disk_is_one_line_not_a_traceback(tmp_path, mock_vlm, small_disk):
    if small_disk is None:
        pytest.skip("needs a tmpfs (root) for a real full disk")
    records(tmp_path, 20)
    fill(small_disk, leave=0)
    res = run_cli("image-vqa", "--input", tmp_path / "records.json", "--output", tmp_path / "out.jsonl",
                  "--base-url", mock_vlm.base_url, "--api-key-env", "", "--model", "m",
                  tmp_path=tmp_path, env={"HF_DATASETS_CACHE": str(small_disk)})  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1].startswith("error: disk full: cannot write")
