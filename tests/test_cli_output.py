"""Settings that would fail after paying are refused before the first request (exit 2, one line, nothing sent)."""

from __future__ import annotations

import pytest
from clitools import SAMPLE

from hf_vqa.cli.main import main
from hf_vqa.mock.server import MockVLM


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """A mock endpoint counting requests; the CLI's store in tmp_path."""
    monkeypatch.setenv("HF_VQA_CACHE", str(tmp_path / "store"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with MockVLM() as server:
        yield server


def _run(server, output, *extra, capsys):
    code = main(["image-vqa", "--input", str(SAMPLE), "--output", str(output), "--base-url", server.base_url,
                 "--api-key-env", "", "--model", "m", *extra])  # fmt: skip
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p.write_text("mine"), "is an existing file"),
        (lambda p: None, "names a .csv file"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "hf_vqa did not make (it holds notes.txt)"),
        (lambda p: (p.mkdir(), (p / "README.md").write_text(
            "---\nhf_vqa:\n  run:\n    pipeline: context-vqa\n---\n<!-- hf_vqa:start -->\n")), "holds context-vqa data"),
    ],
    ids=["existing-file", "csv-name", "users-folder", "other-pipeline"],
)  # fmt: skip
def test_doomed_outputs_are_refused_before_any_request(counted, tmp_path, capsys, make, said):
    out = tmp_path / ("x.csv" if said.endswith(".csv file") else "out")
    make(out)
    before = sorted(p.name for p in out.iterdir()) if out.is_dir() else None
    code, err = _run(counted, out, capsys=capsys)
    assert code == 2 and said in err, err
    assert len(err.strip().splitlines()) == 1 and counted.stats()["requests"] == 0
    assert (sorted(p.name for p in out.iterdir()) if out.is_dir() else None) == before  # nothing mixed in


def test_an_earlier_output_of_the_same_pipeline_is_rewritten(counted, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text(
        "---\nhf_vqa:\n  run:\n    pipeline: image-vqa\n---\n<!-- hf_vqa:start -->\n"
    )
    code, err = _run(counted, out, capsys=capsys)
    assert code == 0, err
    assert counted.stats()["requests"] > 0 and (out / "data").is_dir()


def test_push_without_a_token_is_refused_before_any_request(counted, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no saved login either
    code, err = _run(counted, tmp_path / "out", "--push-to-hub", "me/x", capsys=capsys)
    assert code == 2 and "needs a Hugging Face token" in err and counted.stats()["requests"] == 0


def test_push_with_a_token_the_hub_refuses_is_refused_before_any_request(
    counted, tmp_path, capsys, monkeypatch
):
    from fixtures_hub import SERVER

    monkeypatch.setenv("HF_TOKEN", "hf_revoked_token")
    SERVER.reject_token("hf_revoked_token", 401)
    try:
        code, err = _run(counted, tmp_path / "out", "--push-to-hub", "me/x", capsys=capsys)
    finally:
        SERVER.reset_faults()
    assert code == 2 and "the Hub refused the token (HTTP 401" in err and counted.stats()["requests"] == 0
    assert "hf_revoked_token" not in err


def test_a_filter_that_does_not_apply_is_refused_before_any_request(counted, tmp_path, capsys):
    code, err = _run(counted, tmp_path / "out", "--filter", "grounded", capsys=capsys)
    assert code == 2 and "--filter grounded does not apply to image-vqa" in err and "--filter parsed" in err
    assert counted.stats()["requests"] == 0 and not (tmp_path / "out").exists()


def test_a_filter_keeping_no_row_exits_1_with_the_counts_and_writes_nothing_unloadable(
    counted, tmp_path, capsys
):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_text("not an image")  # the row fails before sending: not parsed
    out = tmp_path / "out"
    code = main(["image-vqa", "--input", str(tmp_path / "imgs"), "--output", str(out), "--base-url",
                 counted.base_url, "--api-key-env", "", "--model", "m", "--filter", "parsed"])  # fmt: skip
    std = capsys.readouterr()
    assert code == 1 and "filter: kept 0 of 1 rows (passing parsed: 0)" in std.out
    assert "--filter parsed kept 0 of 1 rows; nothing was written" in std.err
    assert not out.exists()
