"""`--repair-parse` (hf_vqa/repair.py) and `--structured` (VLM.response_format) against the mock's profiles."""

from __future__ import annotations

import datasets
import pytest
from PIL import Image

from hf_vqa.config import VLM
from hf_vqa.errors import ConfigError
from hf_vqa.pipeline import run_pipeline
from hf_vqa.publish.card import RunInfo, build_card
from hf_vqa.repair import needs_repair, repair_request
from hf_vqa.spec import PIPELINES, get_spec


def _images(n: int = 4) -> datasets.Dataset:
    rows = [{"image": Image.new("RGB", (32 + 8 * i, 24), (40 * i, 90, 200 - 30 * i))} for i in range(n)]
    return datasets.Dataset.from_list(rows, features=datasets.Features({"image": datasets.Image()}))


def _vlm(server, tmp_path, **kw) -> VLM:
    return VLM(model="m", base_url=server.base_url, api_key_env="", cache_dir=str(tmp_path), **kw)


def test_response_format_is_a_cached_request_field(tmp_path):
    fmt = PIPELINES["image-vqa"].json_format
    plain, structured = VLM(api_key_env=""), VLM(api_key_env="", response_format=fmt)
    assert "response_format" not in plain.generation_params()
    assert structured.generation_params()["response_format"] == fmt
    assert hash(structured) == hash(plain) and structured != plain  # hashable, and a different cache key
    assert VLM(api_key_env="", response_format='{"type": "json_object"}').response_format == {
        "type": "json_object"
    }
    with pytest.raises(ConfigError, match="type"):
        VLM(response_format={"json_schema": {}})
    filled = PIPELINES["context-vqa"].vlm_for(VLM(api_key_env="", structured=True))
    assert filled.response_format == PIPELINES["context-vqa"].json_format
    own = {"type": "json_object"}
    assert PIPELINES["context-vqa"].vlm_for(VLM(structured=True, response_format=own)).response_format == own


@pytest.mark.parametrize(
    ("profile", "taken"),
    [
        ("openai", True),
        ("vllm", True),
        ("gateway", False),
        ("stream-only-thinking", False),
        ("no-structured", False),
    ],
)
def test_structured_replies_where_taken_and_free_text_where_rejected(make_mock_vlm, tmp_path, profile, taken):
    server = make_mock_vlm(profile=profile)
    vlm = _vlm(server, tmp_path, structured=True, max_retries=3)
    out, summary = run_pipeline(_images(3), "context-vqa", vlm=vlm)
    assert summary.parse_failed == 0 and summary.failed == 0
    assert all(text.lstrip().startswith("{") == taken for text in out["vqa"])  # JSON only where taken
    assert ("no response_format" in summary.adapted) != taken
    card = str(build_card(RunInfo.from_run("context-vqa", vlm, summary, mock=True)))
    assert ("schema was sent as `response_format` and taken" in card) == taken
    assert ("fell back to free text" in card) != taken


def test_needs_repair_only_for_unparsed_or_cut_replies():
    spec = get_spec("image-vqa")
    pairs = [{"question": "A?", "answer": "1"}]
    assert needs_repair("prose only", None, None, spec)
    assert not needs_repair(None, None, None, spec) and not needs_repair("  ", None, None, spec)
    assert not needs_repair("Q: A?\nA: 1", pairs, {"finish_reason": "stop"}, spec)
    cut = "Q: A?\nA: 1\nQ: B?\nA: tw"
    assert needs_repair(cut, pairs, {"finish_reason": "length"}, spec)  # the cut last pair was dropped
    assert not needs_repair("Q: A?\nA: 1\nNote: done", pairs, {"finish_reason": "length"}, spec)


def test_repair_request_is_text_only_with_the_schema():
    spec = get_spec("context-vqa")
    body = repair_request("some reply", spec, VLM(model="m", api_key_env="")).body
    assert body["response_format"] == spec.json_format
    assert [m["role"] for m in body["messages"]] == ["user"]
    text = body["messages"][0]["content"]
    assert isinstance(text, str) and "some reply" in text and '"context"' in text  # no image part


@pytest.mark.parametrize("pipeline", ["image-vqa", "context-vqa"])
def test_repair_parse_recovers_prose_replies_and_is_resumable(make_mock_vlm, tmp_path, pipeline):
    server = make_mock_vlm(prose_rate=1.0)  # every reply misformatted
    ds = _images(2)
    _, before = run_pipeline(ds, pipeline, vlm=_vlm(server, tmp_path / "a"))
    assert before.parse_failed == 2  # without the repair pass, nothing parses
    out, summary = run_pipeline(ds, pipeline, vlm=_vlm(server, tmp_path / "b"), repair_parse=True)
    assert summary.parse_failed == 0 and summary.repaired == 2 and summary.repair_requests == 2
    assert out["repaired"] == [True, True] and all(out["vqa_repair"])
    assert "repaired=2/2" in summary.line()
    refined = get_spec(pipeline).refined
    assert all(out[refined])
    sent = server.stats()["requests"]
    datasets.disable_caching()
    try:  # a rerun reads the repairs from the request store: nothing is sent
        _, again = run_pipeline(ds, pipeline, vlm=_vlm(server, tmp_path / "b"), repair_parse=True)
    finally:
        datasets.enable_caching()
    assert server.stats()["requests"] == sent and again.repaired == 2


def test_rows_that_parse_are_not_sent_again(make_mock_vlm, tmp_path):
    server = make_mock_vlm()
    out, summary = run_pipeline(_images(2), "image-vqa", vlm=_vlm(server, tmp_path), repair_parse=True)
    assert server.stats()["requests"] == 2 and summary.repair_requests == 0
    assert out["repaired"] == [False, False]
