"""When rows fail, the CLI says why (the most common reasons, with counts) and offers --retry-failed only
when asking again can help (`cli/failures.py`)."""

from __future__ import annotations

import socket

from clitools import SAMPLE
from fixtures_data import solid_image_bytes

from hf_vqa.cli.failures import reasons_line, retryable
from hf_vqa.cli.main import main
from hf_vqa.mock.server import MockVLM


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_stops_soon_and_says_the_url_and_the_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_VQA_CACHE", str(tmp_path / "store"))
    port = _closed_port()
    code = main(["image-vqa", "--input", str(SAMPLE), "--output", str(tmp_path / "out"), "--base-url",
                 f"http://127.0.0.1:{port}/v1", "--api-key-env", "", "--give-up-after", "1"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1
    line = [
        x for x in err.splitlines() if x.startswith("error: every row failed (6): 6× endpoint unreachable")
    ]
    assert (
        line and f"from http://127.0.0.1:{port}/v1" in line[0] and "last error: connection error" in line[0]
    )
    assert "--retry-failed" in out  # the endpoint may be up later: asking again can help
    assert (tmp_path / "out" / "data").is_dir()  # what is done (nothing) is written, rows keep their place


def test_rows_that_cannot_succeed_get_their_reasons_and_no_retry_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_VQA_CACHE", str(tmp_path / "store"))
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "ok.png").write_bytes(solid_image_bytes((10, 200, 10)))
    for name in ("fake.png", "notes.jpg"):
        (photos / name).write_text("x\n")
    with MockVLM() as server:
        code = main(["image-vqa", "--input", str(photos), "--output", str(tmp_path / "out"), "--base-url",
                     server.base_url, "--api-key-env", "", "--model", "m"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "failed rows by reason: 2× image: not a recognised image: the content is text" in out
    assert "--retry-failed" not in out and "another request will not fix" in out


def test_reasons_are_grouped_without_row_details():
    errors = ["request failed after 1 attempt(s): endpoint unreachable: gave up (x)",
              "not sent: the run was stopped (endpoint unreachable: gave up (x))",
              "HTTP 400 after 1 attempt(s): bad image", "HTTP 503 after 7 attempt(s): busy"]  # fmt: skip
    assert (
        reasons_line(errors, top=1)
        == "2× endpoint unreachable: gave up (x); and 2 more with 2 other reason(s)"
    )
    assert [retryable(e) for e in errors] == [True, True, False, True]
