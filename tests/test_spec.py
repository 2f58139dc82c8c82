"""The typed pipeline spec (`hf_vqa.spec`): one description of each pipeline that the library, the CLI and
the card all read."""

from __future__ import annotations

import subprocess
import sys

import pytest
from clitools import SAMPLE, run_cli

from hf_vqa.errors import ConfigError
from hf_vqa.prompts import CONTEXT_VQA_SYSTEM_PROMPT
from hf_vqa.spec import FILTER_NAMES, PIPELINES, get_spec


def test_the_spec_module_does_not_import_datasets():
    code = "import sys, hf_vqa.spec, hf_vqa.cli.main; print('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("given", "sent"),
    [(None, CONTEXT_VQA_SYSTEM_PROMPT), ("", ""), ("Be brief.", "Be brief.")],
)
def test_an_empty_system_prompt_means_none_not_the_default(given, sent):
    assert get_spec("context-vqa").instructions(given, None)[0] == sent


def test_an_empty_instruction_means_the_default():
    spec = get_spec("image-vqa")
    assert spec.instructions(None, "")[1] == spec.prompt
    assert spec.instructions(None, "Ask one question.")[1] == "Ask one question."


def test_unknown_pipeline_names_the_known_ones():
    with pytest.raises(ConfigError, match="image-vqa, context-vqa"):
        get_spec("vqa")


def test_filters_are_parsed_plus_one_per_check_plus_the_pair_filters():
    assert FILTER_NAMES == ("parsed", "grounded", "no-duplicate", "no-leak", "verified", "not-guessable")
    assert {spec.refined for spec in PIPELINES.values()} == {"qas", "context_vqa"}


def test_cli_empty_system_prompt_sends_none_and_the_card_records_none(tmp_path, mock_vlm):
    """Before the spec, the pipeline sent no system prompt but the CLI's card recorded the default one."""
    out = tmp_path / "out"
    res = run_cli("context-vqa", "--input", SAMPLE, "--output", out, "--base-url", mock_vlm.base_url,
                  "--api-key-env", "", "--system-prompt", "", tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert mock_vlm.last_roles() == ["user"], "no system message was sent"
    card = (out / "README.md").read_text()
    assert CONTEXT_VQA_SYSTEM_PROMPT[:60] not in card
    assert "### System prompt" not in card


def test_cli_default_system_prompt_is_sent_and_recorded(tmp_path, mock_vlm):
    out = tmp_path / "out"
    res = run_cli("context-vqa", "--input", SAMPLE, "--output", out, "--base-url", mock_vlm.base_url,
                  "--api-key-env", "", tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert mock_vlm.last_roles() == ["system", "user"]
    assert CONTEXT_VQA_SYSTEM_PROMPT[:60] in (out / "README.md").read_text()
