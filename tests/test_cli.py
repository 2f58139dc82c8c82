"""The real CLI, as a subprocess, against the bundled mock and the loopback server."""

import json

import datasets
import pytest
from clitools import SAMPLE, run_cli


@pytest.mark.slow
def test_image_vqa_on_the_sample_to_json_and_to_a_folder(tmp_path):
    res = run_cli(
        "image-vqa", "--input", SAMPLE, "--output", tmp_path / "out.json", "--mock", tmp_path=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert "MOCK" in res.stdout and "mock VLM" in res.stdout
    summary = res.stdout.strip().splitlines()[-1]
    assert "rows=6 succeeded=6 failed=0" in summary and "tokens=" in summary and "seconds=" in summary
    records = json.loads((tmp_path / "out.json").read_text())
    assert len(records) == 6
    first = records[0]
    assert isinstance(first["image"][0], str) and first["image"][0].endswith("red_ball.jpg")
    assert first["conversation"][0]["from"] == "human"
    assert first["vqa"].startswith("Q1:") and first["vqa_error"] is None
    assert first["qas"][0]["question"] and first["qas"][0]["answer"]
    assert len(records[5]["image"]) == 2

    res = run_cli(
        "image-vqa", "--input", SAMPLE, "--output", tmp_path / "out_dir", "--mock", tmp_path=tmp_path
    )
    assert res.returncode == 0, res.stderr
    ds = datasets.load_dataset(str(tmp_path / "out_dir"), split="train", cache_dir=str(tmp_path / "load"))
    assert len(ds) == 6
    assert ds[0]["image"][0].size == (640, 480)  # the images are embedded and decode
    assert ds[0]["qas"] == records[0]["qas"]
    card = (tmp_path / "out_dir" / "README.md").read_text()
    assert "visual-question-answering" in card and "Mock data" in card


def test_bad_argument_exits_2_with_one_line(tmp_path):
    res = run_cli(
        "image-vqa", "--input", SAMPLE, "--output", "o.json", "--max-concurrency", "zero", tmp_path=tmp_path
    )
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "max-concurrency" in res.stderr


def test_invalid_setting_exits_2_naming_the_field(tmp_path):
    res = run_cli("image-vqa", "--input", SAMPLE, "--output", "o.json", "--max-concurrency", "0", "--mock",
                  tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 2 and "max_concurrency" in res.stderr and "Traceback" not in res.stderr


def test_unreadable_input_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image": ["a.jpg"], ')
    res = run_cli("image-vqa", "--input", bad, "--output", "o.json", "--mock", tmp_path=tmp_path)
    assert res.returncode == 2 and "not valid JSON" in res.stderr and "Traceback" not in res.stderr
    res = run_cli(
        "image-vqa", "--input", tmp_path / "missing.json", "--output", "o.json", "--mock", tmp_path=tmp_path
    )
    assert res.returncode == 2 and "not found" in res.stderr


def test_missing_key_exits_2_naming_the_variable(tmp_path):
    env = {"HF_VQA_NO_SUCH_KEY": ""}
    res = run_cli("image-vqa", "--input", SAMPLE, "--output", "o.json", "--base-url", "http://127.0.0.1:9/v1",
                  "--api-key-env", "HF_VQA_NO_SUCH_KEY", tmp_path=tmp_path, env=env)  # fmt: skip
    assert res.returncode == 2
    assert "HF_VQA_NO_SUCH_KEY is not set" in res.stderr and "Traceback" not in res.stderr
