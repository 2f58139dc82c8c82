"""The context-vqa pipeline end to end through the real CLI, and the pipeline options."""

import json

import datasets
import pytest
from clitools import ROOT, SAMPLE, run_cli

IMAGES = ROOT / "examples" / "sample" / "images"  # no conversations: the seed ContextVQA prompt applies


def cli(*args, tmp_path):
    return run_cli(*args, tmp_path=tmp_path)


@pytest.mark.slow
def test_context_vqa_cli_to_folder_and_json(tmp_path, mock_vlm):
    base = ["--base-url", mock_vlm.base_url, "--api-key-env", ""]
    res = cli("context-vqa", "--input", IMAGES, "--output", tmp_path / "ctx", *base, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    summary = res.stdout.strip().splitlines()[-1]
    assert "rows=6 succeeded=6 failed=0 parse_failed=0" in summary
    for name in ("grounded=", "duplicate=", "leak="):
        assert name in summary
    ds = datasets.load_dataset(str(tmp_path / "ctx"), split="train", cache_dir=str(tmp_path / "load"))
    row = ds[0]
    assert row["vqa"] and row["context_vqa"]["context"] and len(row["context_vqa"]["qas"]) >= 3
    assert "Wikipedia" not in row["context_vqa"]["context"][:30]
    assert row["qa_checks"][0]["grounded"] is True
    card = (tmp_path / "ctx" / "README.md").read_text()
    assert "grounded" in card and "Write a Wikipedia article" in card  # the instruction, verbatim

    # a record without a conversation gets the seed's ContextVQA prompt
    records = [{"image": [str(ROOT / "examples/sample/images/sunset.jpg")]}]
    (tmp_path / "bare.json").write_text(json.dumps(records))
    res = cli("context-vqa", "--input", tmp_path / "bare.json", "--output", tmp_path / "bare_out.json", *base,
              tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads((tmp_path / "bare_out.json").read_text())
    assert set(out[0]) >= {"image", "conversation", "vqa", "context_vqa", "context_vqa_error"}
    assert out[0]["context_vqa"]["qas"]


@pytest.mark.slow
def test_json_mode_and_filters(tmp_path, mock_vlm):
    base = ["--base-url", mock_vlm.base_url, "--api-key-env", ""]
    res = cli("context-vqa", "--input", IMAGES, "--output", tmp_path / "j.json", "--json-mode", "--filter", "grounded",
              *base, tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads((tmp_path / "j.json").read_text())
    assert out and all(r["all_grounded"] for r in out)
    assert all(json.loads(r["vqa"])["context"] for r in out)  # the endpoint really answered in JSON


@pytest.mark.slow
def test_retry_failed_resends_only_the_failed_rows(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"500": 0.5}, seed=3)
    base = ["--base-url", server.base_url, "--api-key-env", "", "--max-retries", "0"]
    out = tmp_path / "r.json"
    res = cli("image-vqa", "--input", SAMPLE, "--output", out, *base, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    failed = [r for r in json.loads(out.read_text()) if r["vqa"] is None]
    assert failed and all("HTTP 500" in r["vqa_error"] for r in failed)
    server.configure(faults={})
    before = server.stats()["requests"]
    res = cli("image-vqa", "--output", out, "--retry-failed", *base, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert server.stats()["requests"] - before == len(failed)
    rows = json.loads(out.read_text())
    assert len(rows) == 6 and all(r["vqa"] and r["qas"] for r in rows)


def test_run_pipeline_streams_an_iterable_dataset(tmp_path, mock_vlm_session):
    import hf_vqa

    vlm = hf_vqa.VLM(
        model="m", base_url=mock_vlm_session.base_url, api_key_env="", cache_dir=str(tmp_path / "s")
    )
    stream = hf_vqa.load_records(SAMPLE).to_iterable_dataset(num_shards=2)
    out, summary = hf_vqa.run_pipeline(stream, "image-vqa", vlm=vlm, batch_size=4, prices=(1.0, 2.0))
    assert isinstance(out, datasets.IterableDataset) and summary.rows == 0  # nothing ran yet
    rows = list(out)
    assert len(rows) == 6 and all(r["vqa"] and r["qas"] and r["qas_error"] is None for r in rows)
    assert rows[5]["image"][1]["path"].endswith(".jpg")  # in input order, images kept
    assert (summary.rows, summary.succeeded, summary.failed) == (6, 6, 0) and summary.cost_usd > 0


def test_context_vqa_on_records_with_their_own_instructions_says_why_nothing_parsed(tmp_path, mock_vlm):
    base = ["--base-url", mock_vlm.base_url, "--api-key-env", ""]
    res = cli("context-vqa", "--input", SAMPLE, "--output", tmp_path / "c.json", *base, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "parse_failed=6" in res.stdout.splitlines()[-1]  # the sample asks for image-vqa's layout
    assert "6 of 6 replies could not be parsed into `context_vqa`" in res.stdout
    assert (
        "records carry their own instructions" in res.stdout
        and "--input examples/sample/images" in res.stdout
    )
    res = cli("context-vqa", "--input", IMAGES, "--output", tmp_path / "i.json", *base, tmp_path=tmp_path)
    assert " parse_failed=0" in res.stdout.splitlines()[-1] and "could not be parsed" not in res.stdout


@pytest.mark.parametrize("step", ["generate", "refine"])
def test_a_new_step_version_invalidates_the_arrow_cache(tmp_path, mock_vlm_session, monkeypatch, step):
    """datasets hashes hf_vqa's map functions by reference: a bumped STEP_VERSION must reach fn_kwargs,
    or a rerun would return the old step's cached output."""
    import importlib

    import hf_vqa

    vlm = hf_vqa.VLM(model="m", base_url=mock_vlm_session.base_url, api_key_env="",
                     cache_dir=str(tmp_path / "s"))  # fmt: skip
    ds = hf_vqa.load_records(SAMPLE, cache_dir=str(tmp_path / "hfds"))
    first, _ = hf_vqa.run_pipeline(ds, "image-vqa", vlm=vlm)
    again, _ = hf_vqa.run_pipeline(ds, "image-vqa", vlm=vlm)
    assert again._fingerprint == first._fingerprint, "the same run reuses its cache"
    monkeypatch.setattr(importlib.import_module(f"hf_vqa.{step}"), "STEP_VERSION", "test-bump")
    bumped, _ = hf_vqa.run_pipeline(ds, "image-vqa", vlm=vlm)
    assert bumped._fingerprint != first._fingerprint


@pytest.mark.hub
def test_a_plain_push_of_run_pipeline_output_never_publishes_a_file_that_is_not_an_image(
    tmp_path, hub_server, hub_repo_id
):
    """#25.8: a symlink in an image folder to a private key: the row fails, and its bytes stay out of the
    dataset even through datasets' own push_to_hub(embed_external_files=True)."""
    import os

    import hf_vqa

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "ok.jpg").write_bytes((ROOT / "examples" / "sample" / "images" / "red_ball.jpg").read_bytes())
    key = tmp_path / "id_ed25519"
    key.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    os.symlink(key, photos / "link.png")
    with hf_vqa.mock_server() as url:
        vlm = hf_vqa.VLM(model="mock-vlm", base_url=url, api_key_env="", cache_dir=str(tmp_path / "store"))
        ds, summary = hf_vqa.run_pipeline(hf_vqa.load_input(str(photos)), "image-vqa", vlm=vlm)
    assert summary.failed == 1 and ds[0]["image"] == [None]  # link.png sorts first
    ds.push_to_hub(hub_repo_id, embed_external_files=True)
    pushed = b"".join(v for k, v in hub_server.files(hub_repo_id).items() if k.endswith(".parquet"))
    assert pushed and b"PRIVATE KEY" not in pushed and b"b3BlbnNzaC1rZXkt" not in pushed
