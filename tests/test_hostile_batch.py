"""The batch path and the request store under attack (#25 items 3, 4, 7, 10): a hostile batch API
on loopback (`tests/hostile_batch_server.py`) that controls every byte, and crafted stores."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import pytest

from hf_vqa.batch.manifest import Manifest, manifest_path
from hf_vqa.cli.main import main
from hf_vqa.engine.store import Store
from tests.hostile_batch_server import HostileBatchServer, answer_line, jsonl
from tests.test_batch import assert_aligned, rows, write_records


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hfds"))
    monkeypatch.chdir(tmp_path)
    write_records(tmp_path, 6)
    with HostileBatchServer() as server:
        yield server


def run(tmp_path: Path, server, *extra: str, output: str = "out.jsonl", batch: bool = True,
        records: str = "records.json") -> int:  # fmt: skip
    argv = ["image-vqa", "--input", str(tmp_path / records), "--output", str(tmp_path / output),
            "--base-url", server.base_url, "--api-key-env", "", "--model", "m",
            "--cache-dir", str(tmp_path / "store"), *extra]  # fmt: skip
    if batch:
        argv += ["--batch", "--batch-poll", "0.01"]
    return main(argv)


def stored(tmp_path: Path) -> dict[str, str]:
    conn = sqlite3.connect(tmp_path / "store" / "replies.sqlite")
    try:
        return dict(conn.execute("SELECT key, text FROM replies"))
    finally:
        conn.close()


def subset(tmp_path: Path, n: int) -> str:
    """records_<n>.json: the first `n` rows of records.json."""
    name = f"records_{n}.json"
    (tmp_path / name).write_text(json.dumps(json.loads((tmp_path / "records.json").read_text())[:n]))
    return name


# -- item 3: paid answers never overwritten, never counted twice --------------------------------
def test_lines_for_keys_never_asked_and_repeated_lines_are_ignored_and_counted(tmp_path, hostile, capsys):
    assert run(tmp_path, hostile, batch=False, records=subset(tmp_path, 3), output="online.jsonl") == 0
    before = stored(tmp_path)  # rows 0-2, answered online
    assert len(before) == 3

    def output(lines):  # each asked line twice (the copy differs), plus the stored keys and a made-up one
        evil = [answer_line(lines[0], "EVIL") | {"custom_id": key} for key in [*before, "made-up-key"]]
        return jsonl([answer_line(x) for x in lines] + [answer_line(x, "SECOND COPY") for x in lines] + evil)

    hostile.output = output
    assert run(tmp_path, hostile, "--wait") == 0
    said = capsys.readouterr().out
    now = stored(tmp_path)
    assert all(now[k] == v for k, v in before.items()), "a paid answer was overwritten"
    assert "made-up-key" not in now and not any("SECOND COPY" in t or "EVIL" in t for t in now.values())
    m = Manifest.load(manifest_path(tmp_path / "out.jsonl"))
    assert m.collected_ok == 3 and m.ignored == {"unasked": 4, "duplicate": 3}
    assert "3 of 3 answered" in said and "ignored 4 result line(s) for requests this run never asked" in said
    out = rows(tmp_path)
    assert len(out) == 6 and all(r["vqa"] for r in out)
    assert_aligned(out)


def test_an_answer_stored_online_meanwhile_is_kept_over_the_batch_line(tmp_path, hostile, capsys):
    hostile.never_ends = True
    assert run(tmp_path, hostile) == 0  # submitted: 6 keys in flight
    assert run(tmp_path, hostile, batch=False, records=subset(tmp_path, 2), output="online.jsonl") == 0
    online = stored(tmp_path)
    hostile.never_ends = False
    hostile.output = lambda lines: jsonl([answer_line(x, "BATCH ANSWER") for x in lines])
    assert run(tmp_path, hostile, "--wait") == 0
    now = stored(tmp_path)
    assert all(now[k] == v for k, v in online.items()) and len(now) == 6
    assert Manifest.load(manifest_path(tmp_path / "out.jsonl")).ignored == {"conflict": 2}
    assert "kept the first one" in capsys.readouterr().err


def test_a_full_disk_after_the_batch_was_created_loses_no_batch_id(tmp_path, hostile, monkeypatch, capsys):
    real = Path.write_text

    def full_after_create(self, text, *a, **kw):  # the disk fills once a batch exists
        if self.name.endswith(".batch.json.tmp") and '"batch_id": "batch_' in text:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, text, *a, **kw)

    monkeypatch.setattr(Path, "write_text", full_after_create)
    path = manifest_path(tmp_path / "out.jsonl")
    assert run(tmp_path, hostile) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "batch_0" in err and "HF_DATASETS_CACHE" not in err
    monkeypatch.setattr(Path, "write_text", real)
    assert run(tmp_path, hostile, "--wait") == 0
    assert "resuming batch_0" in capsys.readouterr().out
    assert hostile.counts["create"] == 1 and hostile.counts["upload"] == 1
    assert all(r["vqa"] for r in rows(tmp_path))


# -- item 4: a paid batch is always collected ----------------------------------------------------
BAD_LINES = {
    0: lambda line: {"custom_id": line["custom_id"], "response": "oops"},
    1: lambda line: answer_line(line) | {"response": {**answer_line(line)["response"], "status_code": "OK"}},
    2: lambda line: {"custom_id": line["custom_id"], "response": {"status_code": 200}},
    3: lambda line: b'{"custom_id": "' + line["custom_id"].encode() + b'", "response": {',
}


def hostile_output(lines: list[dict]) -> bytes:
    return jsonl([BAD_LINES[n](x) if n in BAD_LINES else answer_line(x) for n, x in enumerate(lines)])


def test_bad_result_lines_fail_their_rows_and_the_rest_is_collected(tmp_path, hostile, capsys):
    hostile.output = hostile_output
    assert run(tmp_path, hostile, "--wait") == 0
    out = rows(tmp_path)
    failed = {i: r["vqa_error"] for i, r in enumerate(out) if r["vqa"] is None}
    assert len(out) == 6 and sum(r["vqa"] is not None for r in out) == 2
    assert len(failed) == 4
    errors = " | ".join(failed.values())
    assert "response is not an object" in errors and "status_code is not an HTTP status" in errors
    assert "without a body" in errors and "no result" in errors
    assert run(tmp_path, hostile, "--wait", "--force") == 0  # a rerun: no traceback, same output
    assert "Traceback" not in capsys.readouterr().err


def test_bad_result_lines_in_a_batch_import_fail_their_rows(tmp_path, hostile):
    exported = tmp_path / "requests.jsonl"
    assert run(tmp_path, hostile, "--batch-export", str(exported)) == 0
    lines = [json.loads(x) for x in exported.read_text().splitlines()]
    (tmp_path / "results.jsonl").write_bytes(hostile_output(lines))
    assert run(tmp_path, hostile, "--batch-import", str(tmp_path / "results.jsonl")) == 0
    out = rows(tmp_path)
    assert sum(r["vqa"] is not None for r in out) == 2
    assert any("response is not an object" in (r["vqa_error"] or "") for r in out)
    assert hostile.counts["chat"] == 0 and hostile.counts["upload"] == 0


def test_a_batch_import_writes_only_keys_this_input_asks_for(tmp_path, hostile, capsys):
    exported = tmp_path / "requests.jsonl"
    assert run(tmp_path, hostile, "--batch-export", str(exported)) == 0
    lines = [json.loads(x) for x in exported.read_text().splitlines()]
    extra = [answer_line(lines[0], "NOT MINE") | {"custom_id": "someone-elses-key"}]
    (tmp_path / "results.jsonl").write_bytes(
        jsonl([answer_line(x) for x in lines] + extra + [answer_line(lines[0], "X")])
    )
    assert run(tmp_path, hostile, "--batch-import", str(tmp_path / "results.jsonl")) == 0
    assert "someone-elses-key" not in stored(tmp_path) and len(stored(tmp_path)) == 6
    said = capsys.readouterr().out
    assert "6 answered" in said and "1 result line(s) for requests this run never asked" in said


# -- item 7: bounds on every batch call ---------------------------------------------------------
def test_a_download_claiming_2_gb_is_refused_once_not_read(tmp_path, hostile, capsys):
    hostile.content_claims = 2_000_000_000
    assert run(tmp_path, hostile, "--wait") == 2
    err = capsys.readouterr().err
    assert "larger than its cap" in err and "Content-Length 2,000,000,000" in err
    assert hostile.counts["content"] == 1  # downloaded once, not retried


def test_a_download_without_a_length_is_cut_at_the_cap_as_it_arrives(tmp_path, hostile, capsys):
    hostile.content_claims = 0  # no Content-Length: zeros until the client hangs up
    assert run(tmp_path, hostile, "--wait", "--batch-max-download-bytes", "1000000") == 2
    err = capsys.readouterr().err
    assert "larger than its cap" in err and "1,000,000 bytes" in err
    assert hostile.counts["content"] == 1 and hostile.sent < 64 * 2**20  # cut early, not read on
    assert not list(tmp_path.glob("*.download"))  # the partial download is removed


def test_an_output_file_id_that_looks_like_a_path_stays_one_url_segment_and_no_file_name(tmp_path, hostile):
    hostile.output_suffix = "/../../../etc/x\x00y"
    assert run(tmp_path, hostile, "--wait") == 0
    assert all(r["vqa"] for r in rows(tmp_path)) and hostile.counts["content"] == 1
    assert not list(tmp_path.glob("*.download")) and not (tmp_path.parent / "etc").exists()


def test_wait_is_bounded_in_time_and_names_the_batch_to_resume(tmp_path, hostile, capsys):
    hostile.never_ends = True
    assert run(tmp_path, hostile, "--wait", "--wait-timeout", "0.3") == 2
    err = capsys.readouterr().err
    assert "--wait stopped" in err and "batch_0 (in_progress)" in err and "rerun the same command" in err
    hostile.never_ends = False
    assert run(tmp_path, hostile, "--wait") == 0 and hostile.counts["create"] == 1


@pytest.mark.slow
def test_a_poll_reply_trickling_a_byte_at_a_time_is_cut_by_the_timeout(tmp_path, hostile, capsys):
    hostile.never_ends = True
    assert run(tmp_path, hostile) == 0  # submitted, still running
    hostile.never_ends, hostile.poll_trickle = False, 0.4  # ~50 s for the whole reply
    assert run(tmp_path, hostile, "--wait", "--timeout", "1", "--max-retries", "0") == 2
    err = capsys.readouterr().err
    assert "polling batch_0" in err and "deadline" in err


# -- item 10: store damage is found, never crashes a run ----------------------------------------
def test_a_replies_table_of_the_wrong_shape_fails_check_and_stops_the_run(tmp_path, hostile, capsys):
    (tmp_path / "store").mkdir()
    conn = sqlite3.connect(tmp_path / "store" / "replies.sqlite")
    conn.execute("CREATE TABLE replies (key TEXT PRIMARY KEY, text TEXT NOT NULL, other TEXT)")
    conn.execute("INSERT INTO replies VALUES ('k', 'an old answer', 'x')")
    conn.commit()
    conn.close()
    assert main(["store", "--check", "--cache-dir", str(tmp_path / "store")]) == 1
    assert "columns ['key', 'text', 'other']" in capsys.readouterr().err
    assert run(tmp_path, hostile, batch=False) == 2
    err = capsys.readouterr().err
    assert (
        "cannot be used: the replies table has columns" in err
        and "store --repair" in err
        and hostile.counts["chat"] == 0
    )  # nothing paid
    assert main(["store", "--repair", "--cache-dir", str(tmp_path / "store")]) == 0
    assert stored(tmp_path) == {"k": "an old answer"}  # kept, read by column name
    assert run(tmp_path, hostile, batch=False) == 0 and hostile.counts["chat"] == 6


@pytest.mark.parametrize(
    "garbage",
    ["text = X'0102'", "text = ''", "prompt_tokens = 'abc'", "text = CAST(X'FF00' AS TEXT)", "attempts = -1"],
)
def test_a_stored_row_with_garbage_values_is_asked_again_with_a_warning(tmp_path, hostile, capsys, garbage):
    assert run(tmp_path, hostile, batch=False) == 0
    conn = sqlite3.connect(tmp_path / "store" / "replies.sqlite")
    key = conn.execute("SELECT key FROM replies ORDER BY key LIMIT 1").fetchone()[0]
    conn.execute(f"UPDATE replies SET {garbage} WHERE key=?", (key,))
    conn.commit()
    conn.close()
    capsys.readouterr()
    assert main(["store", "--check", "--cache-dir", str(tmp_path / "store")]) == 1
    assert "1 stored row(s) are not answers" in capsys.readouterr().err
    again = subset(tmp_path, 6)  # the same rows from another file: no Arrow cache, the store is read
    assert run(tmp_path, hostile, batch=False, output="again.jsonl", records=again) == 0
    assert "is not an answer" in capsys.readouterr().err
    assert hostile.counts["chat"] == 7  # that one row asked again, the others read from the store
    assert all(json.loads(x)["vqa"] for x in (tmp_path / "again.jsonl").read_text().splitlines())
    assert Store(tmp_path / "store").get(key) is not None  # the new answer replaced the garbage
    assert main(["store", "--check", "--cache-dir", str(tmp_path / "store")]) == 0
