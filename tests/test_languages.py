"""`--language`: prompts written for each language, the mock answering in it, parsing and grounding."""

from __future__ import annotations

import datasets
import pytest
from PIL import Image

from hf_vqa.config import VLM
from hf_vqa.errors import ConfigError
from hf_vqa.languages import LANGUAGE_PROMPTS, check_language, language_of, prompts_for
from hf_vqa.mock.answers import complete
from hf_vqa.parse.reply import parse_qa_pairs, parse_wiki_qa
from hf_vqa.pipeline import run_pipeline
from hf_vqa.quality.checks import check_wiki_qa
from hf_vqa.spec import PIPELINES

CODES = [c for c in LANGUAGE_PROMPTS if c != "en"]


def test_the_languages_asked_for_are_there():
    assert {"en", "zh", "ja", "ko", "de", "fr", "es", "pt", "ru"} <= set(LANGUAGE_PROMPTS)
    assert prompts_for("en").context == PIPELINES["context-vqa"].prompt  # English as before
    with pytest.raises(ConfigError, match="no prompts"):
        check_language("xx")


@pytest.mark.parametrize("code", CODES)
def test_prompts_are_written_in_the_language(code):
    written = prompts_for(code)
    for text in (written.image, written.context):
        assert language_of(text) == code
        assert "Wikipedia article" not in text and "question answer pairs" not in text
    assert written.context.count("\n") == 8  # the seed's eight criteria, each on its own line
    system, prompt = PIPELINES["context-vqa"].instructions(None, None, code)
    assert (system, prompt) == (written.system, written.context)
    system, prompt = PIPELINES["image-vqa"].instructions(None, None, code)
    assert (system, prompt) == (None, written.image)
    assert PIPELINES["image-vqa"].instructions(None, "mine", code)[1] == "mine"  # the user's own prompt wins


@pytest.mark.parametrize("code", CODES)
def test_the_mock_answers_in_the_language_and_it_parses_and_grounds(code):
    written = prompts_for(code)
    image_reply = complete({"model": "m", "messages": [{"role": "user", "content": written.image}]}).content
    context_reply = complete(
        {"model": "m", "messages": [{"role": "user", "content": written.context}]}
    ).content
    assert "Which prompt" not in image_reply and "Wikipedia Article" not in context_reply
    assert len(parse_qa_pairs(image_reply)) == 1
    wiki = parse_wiki_qa(context_reply)
    assert len(wiki.qas) == 4 and all(check_wiki_qa(wiki, language=code).grounded)


@pytest.mark.parametrize("code", ["zh", "de"])
def test_run_pipeline_in_a_language(mock_vlm, tmp_path, code):
    ds = datasets.Dataset.from_list([{"image": Image.new("RGB", (40, 30), (200, 30, 30))}],
                                    features=datasets.Features({"image": datasets.Image()}))  # fmt: skip
    vlm = VLM(model="m", base_url=mock_vlm.base_url, api_key_env="", cache_dir=str(tmp_path))
    out, summary = run_pipeline(ds, "context-vqa", vlm=vlm, language=code)
    assert summary.parse_failed == 0 and summary.checks["grounded"] == 1
    assert language_of(prompts_for(code).context) == code
    assert prompts_for(code).context[:20] in out["vqa"][0] or out["context_vqa"][0]["qas"]


@pytest.mark.slow
def test_cli_mock_run_in_chinese_tags_the_card_and_prices_the_repair(tmp_path):
    from clitools import ROOT
    from clitools import run_cli as cli

    images = ROOT / "examples" / "sample" / "images"
    out = tmp_path / "zh"
    res = cli("context-vqa", "--input", images, "--output", out, "--mock", "--language", "zh", "--structured",
              "--repair-parse", tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "language:\n- zh" in card and "维基百科" in card  # the prompt sent, in Chinese
    assert "grounded=6" in res.stdout + res.stderr
    dry = cli("image-vqa", "--input", images, "--output", tmp_path / "d", "--mock", "--dry-run", "--repair-parse",
              tmp_path=tmp_path)  # fmt: skip
    assert dry.returncode == 0 and "--repair-parse: one more text-only request" in dry.stdout


def test_a_streamed_dataset_in_a_language(mock_vlm, tmp_path):
    rows = [{"image": Image.new("RGB", (40, 30), (200, 30, 30))}] * 2
    ds = datasets.Dataset.from_list(rows, features=datasets.Features({"image": datasets.Image()}))
    vlm = VLM(model="m", base_url=mock_vlm.base_url, api_key_env="", cache_dir=str(tmp_path))
    out, summary = run_pipeline(ds.to_iterable_dataset(), "context-vqa", vlm=vlm, language="de")
    got = list(out)
    assert summary.checks["grounded"] == 2 and got[0]["context_vqa"]["context"].startswith("Die Sammlung")
    with pytest.raises(ConfigError, match="streamed"):
        run_pipeline(ds.to_iterable_dataset(), "context-vqa", vlm=vlm, repair_parse=True)
