"""The real CLI, as a subprocess, against the bundled mock and the loopback server."""

import json
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from clitools import SAMPLE, cli_env, run_cli

from hf_vqa import VLM
from hf_vqa.cli import main as cli


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
    assert "MOCK" not in res.stdout  # the input is read before the mock starts
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


# --help, defaults, and the command the user ran (issue 11 item 7, issue 15 item 8)


def _subcommands():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "pipeline")
    return sub.choices


def test_every_option_has_help_and_the_groups_follow_the_readme():
    for name, parser in _subcommands().items():
        for action in parser._actions:
            assert action.help, f"{name} {action.option_strings} has no help line"
        assert parser.description, name
    groups = [g.title for g in _subcommands()["image-vqa"]._action_groups]
    for title in ("required", "endpoint", "sending", "rate limits", "generation", "input", "store and reruns",
                  "publishing"):  # fmt: skip
        assert title in groups


def test_help_shows_defaults_environment_and_the_console_scripts_name(tmp_path):
    script = Path(sys.executable).with_name("hf-vqa")
    res = subprocess.run(
        [script, "image-vqa", "--help"], capture_output=True, text=True, env=cli_env(tmp_path)
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: hf-vqa image-vqa")
    text = " ".join(res.stdout.split())  # argparse wraps lines
    for needed in ("--max-concurrency MAX_CONCURRENCY requests in flight", f"(default: {VLM().max_concurrency})",
                   f"(default: {VLM().timeout})", "HF_TOKEN", "OPENAI_BASE_URL", "HF_VQA_CACHE", "exit codes:"):  # fmt: skip
        assert needed in text, needed


def test_parser_defaults_are_the_vlm_fields():
    args = cli.build_parser().parse_args(["image-vqa", "--input", "i.json", "--output", "o"])
    vlm = VLM()
    for name in ("api_key_env", "max_concurrency", "timeout", "max_retries", "rate_limit_wait", "temperature",
                 "max_tokens", "rpm", "tpm", "cache_dir", "allow_private_urls"):  # fmt: skip
        assert getattr(args, name) == getattr(vlm, name), name
    assert args.no_cache is not vlm.use_store


def test_checking_publish_options_leaves_args_as_they_were():
    from hf_vqa.cli.publish import check_publish_args

    args = cli.build_parser().parse_args(["image-vqa", "--output", "o", "--shard", "1/3"])
    before = dict(vars(args))
    assert check_publish_args(args) == (1, 3)
    assert vars(args) == before


def test_a_missing_input_is_reported_before_the_mock_starts(tmp_path):
    res = run_cli("image-vqa", "--output", tmp_path / "o.json", "--mock", tmp_path=tmp_path)
    assert res.returncode == cli.EXIT_USAGE and "--input is required" in res.stderr
    assert "MOCK" not in res.stdout


def test_the_card_and_the_retry_hint_name_the_command_that_ran(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"500": 0.5}, seed=3)
    script = Path(sys.executable).with_name("hf-vqa")
    argv = ["image-vqa", "--input", str(SAMPLE), "--output", "out", "--base-url", server.base_url,
            "--api-key-env", "", "--max-retries", "0"]  # fmt: skip
    res = subprocess.run([script, *argv], capture_output=True, text=True, env=cli_env(tmp_path), cwd=tmp_path,
                         timeout=240)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "to ask again for only those: hf-vqa image-vqa --input" in res.stdout
    assert res.stdout.split("only those: ")[1].splitlines()[0].endswith("--retry-failed")
    card = (tmp_path / "out" / "README.md").read_text()
    assert "\nhf-vqa image-vqa --input" in card and "build_dataset.py" not in card


def test_the_card_records_the_instructions_sent_and_a_rerun_keeps_the_users_edits_and_no_progress_files(
    tmp_path, mock_vlm
):
    run = ["image-vqa", "--input", SAMPLE, "--output", tmp_path / "out", "--base-url", mock_vlm.base_url,
           "--api-key-env", ""]  # fmt: skip
    assert run_cli(*run, tmp_path=tmp_path).returncode == 0
    readme = tmp_path / "out" / "README.md"
    from hf_vqa.prompts import IMAGE_VQA_PROMPT

    first = readme.read_text()  # the sample's records carry their own instructions: the card says so
    assert "### Instruction" in first and "From each record's conversation" in first
    assert IMAGE_VQA_PROMPT.splitlines()[0] not in first
    text = first.replace("license: other", "license: mit") + "\nMy own note.\n"
    readme.write_text(text)
    store = tmp_path / "store"  # HF_VQA_CACHE: each run's live-progress file is removed when it ends
    assert not list(store.glob("progress-*"))
    (store / "progress-4194305.sqlite").write_bytes(b"")  # left by a killed run (no such pid)
    res = run_cli(*run, "--force", "--temperature", "0.5", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not list(store.glob("progress-*"))
    card = readme.read_text()
    assert "My own note." in card and "license: mit" in card
    assert '"temperature": 0.5' in card  # hf_vqa's own block is up to date


def test_a_missing_jsonschema_says_one_fix_with_the_install_command_that_fits(tmp_path):
    hidden = tmp_path / "hidden" / "jsonschema"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    env = {"PYTHONPATH": str(hidden.parent)}
    res = run_cli("image-vqa", "--input", SAMPLE, "--output", "o.json", "--mock", tmp_path=tmp_path, env=env)
    assert res.returncode == cli.EXIT_USAGE and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.count("Fix:") == 1, res.stderr
    assert "jsonschema" in res.stderr and "-m pip install -e" in res.stderr and "[mock]" in res.stderr


@pytest.mark.slow
def test_mock_refuses_a_mistyped_model_and_says_it_overrides_base_url(tmp_path):
    res = run_cli("image-vqa", "--input", SAMPLE, "--output", tmp_path / "o", "--mock", "--model", "gpt-4o-mnii",
                  "--base-url", "http://gateway.example/v1", tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 2 and "model_not_found" not in res.stdout
    assert "gpt-4o-mnii" in res.stderr and "does not exist" in res.stderr
    assert "--base-url http://gateway.example/v1 is ignored" in res.stdout and "pw" not in res.stdout
    assert not (tmp_path / "o").exists()
