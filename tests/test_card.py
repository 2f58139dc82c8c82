"""The dataset card: YAML keys, the generated body, merging into an existing card, no secrets."""

from __future__ import annotations

import pytest
from huggingface_hub import DatasetCard

from hf_vqa import __version__
from hf_vqa.publish.card import RunInfo, build_card, size_category, update_card
from hf_vqa.publish.card_body import MARK_END, MARK_START
from hf_vqa.publish.card_secrets import redact, scrub_urls

SYSTEM = "You are a careful annotator.\n  Keep `code` and **markdown** as is."
PROMPT = "Look at the image.\nWrite 3 question-answer pairs:\nQ: <question>\nA: <answer>"


def info(**kw) -> RunInfo:
    fields = dict(
        pipeline="context-vqa", model="qwen-vl-max", endpoint_host="dashscope.aliyuncs.com", rows=10, failed=2,
        parse_failed=1, system_prompt=SYSTEM, prompt=PROMPT, params={"temperature": 0.2, "max_tokens": 512},
        prompt_tokens=1200, completion_tokens=340, seconds=12.34, checks={"grounded": 6, "duplicate": 1, "leak": 2},
        cost_usd=0.0123, command="python scripts/build_dataset.py context-vqa --input in/ --output out",
        example={"vqa": "Article...", "context_vqa": {"context": "c", "qas": [{"question": "q", "answer": "a"}]}},
        license="cc-by-4.0", language=["en", "zh"],
    )  # fmt: skip
    return RunInfo(**{**fields, **kw})


def test_yaml_header() -> None:
    card = build_card(info(mock=True))
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-4.0"
    assert meta["task_categories"] == ["visual-question-answering"]
    assert meta["language"] == ["en", "zh"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["tags"] == ["synthetic", "hf-vqa", "mock"]
    assert "configs" not in meta  # datasets finds data/train-* itself, keyed on the files (see build_card)
    other = build_card(info(split="sample")).data.to_dict()
    assert other["configs"] == [
        {"config_name": "default", "data_files": [{"split": "sample", "path": "data/sample-*"}]}
    ]
    assert list(meta)[-1] == "hf_vqa" and meta["hf_vqa"]["version"] == __version__
    assert "mock" not in build_card(info()).data.tags


def test_body_says_how_it_was_made() -> None:
    text = build_card(info()).text
    assert text.startswith(MARK_START) and text.rstrip().endswith(MARK_END)
    assert "# context-vqa data made with hf_vqa" in text
    assert "- Model: `qwen-vl-max` at `dashscope.aliyuncs.com`" in text
    assert '- Generation parameters sent: `{"max_tokens": 512, "temperature": 0.2}`' in text
    assert f"- hf_vqa version: {__version__}" in text
    assert (
        "| config | split | shards | rows | failed | parse failures | duplicate | grounded | leak |" in text
    )
    assert "| default | train | 1/1 | 10 | 2 | 1 | 1 | 6 | 2 |" in text
    assert "- Tokens: 1200 prompt + 340 completion" in text
    assert "- Wall time: 12.3 s" in text and "- Estimated cost: $0.0123" in text
    assert f"````text\n{SYSTEM}\n````" in text and f"````text\n{PROMPT}\n````" in text  # verbatim
    assert "```bash\npython scripts/build_dataset.py context-vqa --input in/ --output out\n```" in text
    assert '"context": "c"' in text
    assert "Mock data" not in text and "Mock data" in build_card(info(mock=True)).text


def test_from_card_round_trip() -> None:
    original = info()
    back = RunInfo.from_card(str(build_card(original)))
    assert back == original


def test_secrets_never_reach_the_card(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef123456")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-987654321")
    command = (
        "python scripts/build_dataset.py image-vqa --base-url 'https://bob:sk-live-abcdef123456@llm.corp:8443/v1"
        "?api-key=tok-987654321' --model m"
    )
    card = str(build_card(info(command=command, system_prompt="key is sk-live-abcdef123456")))
    assert "sk-live-abcdef123456" not in card and "tok-987654321" not in card and "bob" not in card
    assert "--base-url 'https://llm.corp:8443/v1' --model m" in card
    assert "key is ***" in card
    assert redact("x sk-live-abcdef123456 y") == "x *** y"
    assert scrub_urls("see http://u:p@h/x?a=1#f and https://h2/y") == "see http://h/x and https://h2/y"


def test_update_keeps_user_sections_and_yaml() -> None:
    datasets_yaml = (
        "---\nlicense: mit\npretty_name: Mine\ntags:\n- my-tag\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/train-*\ndataset_info:\n  features:\n  - name: vqa\n    dtype: string\n"
        "  splits:\n  - name: train\n    num_examples: 10\n---\n"
    )
    first = update_card(datasets_yaml + "# My dataset\n\nIntro I wrote.\n", info(mock=True))
    text = str(first).replace(MARK_END, MARK_END + "\n\n## Limitations\n\nMine too.")
    second = update_card(text, info(model="gpt-4o", rows=12, license="other"))
    body = second.text
    assert body.startswith("# My dataset\n\nIntro I wrote.\n\n" + MARK_START)
    assert body.rstrip().endswith("## Limitations\n\nMine too.")
    assert body.count(MARK_START) == 1 and "`gpt-4o`" in body and "qwen-vl-max" not in body
    assert "| default | train | 1/1 | 12 |" in body
    meta = second.data.to_dict()
    assert meta["pretty_name"] == "Mine" and meta["license"] == "cc-by-4.0"  # cc-by-4.0 from the first push
    assert meta["tags"] == ["synthetic", "hf-vqa", "my-tag"]  # mock dropped: no shard is mock any more
    assert meta["dataset_info"]["splits"][0]["num_examples"] == 10
    assert meta["configs"][0]["data_files"][0]["path"] == "data/train-*"
    assert meta["hf_vqa"]["run"]["model"] == "gpt-4o"


def test_update_without_info_keeps_body_and_counts_rows() -> None:
    card = update_card("---\nlicense: mit\n---\n# Only mine\n", None, rows=5)
    assert (
        card.text == "# Only mine\n"
        and card.data.hf_vqa["data"]["default"]["train"]["shards"][0]["rows"] == 5
    )
    shard = update_card(str(build_card(info())), None, shard=(1, 2), rows=4)
    assert "| default | train | 1/2 | 4 | ? | ? |" in shard.text  # the 1/1 layout was replaced
    assert '"context": "c"' in shard.text  # the example row survives from the old block
    assert f"````text\n{PROMPT}\n````" in shard.text and "prompt" not in shard.data.hf_vqa["run"]
    assert RunInfo.from_card(shard).system_prompt == SYSTEM


def test_shards_sum() -> None:
    card = None
    for index, (rows, failed, seconds) in enumerate([(4, 1, 3.0), (4, 0, 5.0), (2, 2, 1.0)]):
        part = info(rows=rows, failed=failed, seconds=seconds, cost_usd=0.5, mock=index == 1)
        card = update_card(card and str(card), part, shard=(index, 3))
    text = card.text
    assert "| default | train | 3/3 | 10 | 3 | 3 |" in text
    assert "- Wall time: 9.0 s summed over 3 shards (longest 5.0 s)" in text
    assert "- Estimated cost: $1.5000" in text and "Mock data" in text
    assert "Each shard was made with this command and its own `--shard I/N`." in text
    assert RunInfo.from_card(card).rows == 10 and card.data.size_categories == ["n<1K"]


@pytest.mark.parametrize(
    "n,name",
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (123_456, "100K<n<1M"), (2_000_000, "1M<n<10M")],
)
def test_size_category(n: int, name: str) -> None:
    assert size_category(n) == name


def test_card_is_a_valid_dataset_card() -> None:
    card = DatasetCard(str(build_card(info())))
    assert card.data.task_categories == ["visual-question-answering"]


def test_from_run_takes_a_vlm_and_a_summary() -> None:
    from hf_vqa.config import VLM
    from hf_vqa.pipeline import Summary

    vlm = VLM(model="gpt-4o-mini", base_url="https://api.example.com/v1?x=1", temperature=0.3)
    summary = Summary(rows=5, succeeded=4, failed=1, prompt_tokens=50, completion_tokens=9, seconds=1.5)
    got = RunInfo.from_run("image-vqa", vlm, summary, license="mit", prompt="P")
    assert (got.model, got.endpoint_host, got.params["temperature"]) == (
        "gpt-4o-mini",
        "api.example.com",
        0.3,
    )
    assert (got.rows, got.failed, got.prompt_tokens, got.license, got.prompt) == (5, 1, 50, "mit", "P")
