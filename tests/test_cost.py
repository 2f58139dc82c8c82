"""The cost estimate (`--dry-run`, `hf_vqa.estimate`) and the image-token formulas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import hf_vqa
from hf_vqa.cli.main import main
from hf_vqa.cost.image_tokens import Formula, formula_for, image_tokens
from hf_vqa.errors import ConfigError


@pytest.mark.parametrize(
    ("formula", "size", "tokens"),
    [
        ("openai-tile", (1024, 1024), 765),  # OpenAI's worked examples
        ("openai-tile", (2048, 4096), 1105),
        ("openai-tile-4o-mini", (1024, 1024), 2833 + 4 * 5667),
        ("gemini", (384, 300), 258),
        ("gemini", (1600, 900), 258 * 3 * 2),
        ("claude", (1000, 750), 1000),
        ("claude", (4000, 3000), 1600),  # scaled to ~1600 tokens first
        ("qwen", (1024, 1024), 35 * 35 + 2),  # smart_resize to 980x980 under 1280*28*28 pixels
    ],
)
def test_documented_examples(formula, size, tokens):
    assert image_tokens(formula, *size) == tokens


def test_patch_formula_matches_openais_examples_and_caps_at_1536_patches():
    one = Formula("openai-patch", per_unit=1)
    assert one.tokens(1024, 1024) == 1024
    assert one.tokens(1800, 2400) == 1452
    assert one.tokens(8000, 8000) <= 1536


@pytest.mark.parametrize(
    ("model", "name"),
    [("gpt-4o", "openai-tile"), ("gpt-4o-mini-2024-07-18", "openai-tile-4o-mini"), ("gpt-4.1-nano", "openai-patch-nano"),
     ("gpt-5-mini", "openai-patch"), ("claude-3-5-sonnet", "claude"), ("gemini-2.0-flash", "gemini"),
     ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen"), ("o3", "openai-tile-o"), ("my-model", "openai-tile"),
     ("Qwen/Qwen3-VL-8B-Instruct", "qwen3"), ("qwen3-vl-plus", "qwen3")],
)  # fmt: skip
def test_formula_is_chosen_from_the_model_name(model, name):
    assert formula_for(model).name == name


def test_every_formula_name_shown_is_one_image_tokens_accepts():
    for model in ("gpt-4o-mini", "o3", "gpt-5", "gpt-4.1-nano", "o4-mini", "qwen3-vl-plus", "x"):
        shown = formula_for(model).name  # what --dry-run prints
        assert formula_for("anything", shown).name == shown  # --image-tokens takes it back


def test_qwen3_vl_counts_one_token_per_32_px():
    # 1024x1024 is a multiple of 32 and under 2560*32*32 pixels: 32*32 tokens, +2 for vision start/end
    assert image_tokens("qwen3", 1024, 1024) == 32 * 32 + 2
    assert image_tokens("qwen3", 640, 480) == 20 * 15 + 2
    assert image_tokens("qwen", 640, 480) != image_tokens("qwen3", 640, 480)  # Qwen2-VL's 28 px differ


def test_an_unknown_formula_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown image-token formula"):
        formula_for("gpt-4o", "tiles")


def write_records(folder: Path, sizes: list[tuple[int, int]], broken: int = 0) -> Path:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (w, h) in enumerate(sizes):
        Image.new("RGB", (w, h), (i % 250, 40, 90)).save(folder / "img" / f"{i}.png")
        rows.append(
            {"image": f"img/{i}.png", "conversation": [{"from": "human", "value": f"<image>\nRow {i}?"}]}
        )
    for j in range(broken):
        (folder / "img" / f"bad{j}.png").write_bytes(b"not an image")
        rows.append(
            {"image": f"img/bad{j}.png", "conversation": [{"from": "human", "value": "<image>\nBad?"}]}
        )
    path = folder / "records.json"
    path.write_text(json.dumps(rows))
    return path


def test_dry_run_sends_nothing_and_prints_the_summary_line(tmp_path, mock_vlm, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = write_records(tmp_path, [(40, 30), (3000, 2000), (64, 64)], broken=1)
    code = main(["image-vqa", "--input", str(records), "--output", str(tmp_path / "out"), "--dry-run",
                 "--base-url", mock_vlm.base_url, "--api-key-env", "", "--model", "gpt-4o",
                 "--cache-dir", str(tmp_path / "store"), "--price-in", "2.5", "--price-out", "10"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("DRY RUN ")
    fields = dict(part.split("=", 1) for part in last.split()[2:])
    assert fields["rows"] == "4" and fields["images"] == "4" and fields["unreadable"] == "1"
    assert fields["requests"] == "3" and fields["in_store"] == "0"
    # 40x30 and 64x64: 85 + 170 each; 3000x2000 -> 2048x1365 (the caps) -> 1152x768: 3x2 tiles, 85 + 6 * 170
    assert "images 1,615" in out, out
    assert float(fields["batch_cost_usd"]) == pytest.approx(float(fields["cost_usd"]) / 2, abs=1e-4)
    assert "largest image" in out and "3000x2000" in out
    assert mock_vlm.stats()["requests"] == 0 and mock_vlm.batch.stats()["calls"] == 0
    assert not (tmp_path / "out").exists()


def test_in_store_counts_what_an_interrupted_run_stored(tmp_path, mock_vlm):
    records = write_records(tmp_path, [(20 + i, 20) for i in range(10)])
    ds = hf_vqa.load_records(records, cache_dir=str(tmp_path / "ds"))
    vlm = hf_vqa.VLM(
        model="mock", base_url=mock_vlm.base_url, api_key_env="", cache_dir=str(tmp_path / "store")
    )
    half = ds.select(range(4))  # "killed half-way": only these rows' replies reached the store
    half.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm, "prompt": "p"})
    from hf_vqa.engine.store import Store

    est = hf_vqa.estimate(ds, vlm, prompt="p")
    assert est.in_store == len(Store(str(tmp_path / "store"))) == 4
    assert est.requests == 10 and est.to_send == 6
    sent = mock_vlm.stats()["requests"]
    probed = hf_vqa.estimate(ds, vlm, prompt="p", probe=2)
    assert mock_vlm.stats()["requests"] == sent + 2
    assert probed.completion_source.startswith("measured by a probe of 2")
    assert probed.in_store == 4  # counted before the probe


def test_header_only_and_exact_estimates_agree(tmp_path):
    records = write_records(tmp_path, [(40, 30), (3000, 2000), (40, 30), (500, 2500)])
    ds = hf_vqa.load_records(records, cache_dir=str(tmp_path / "ds"))
    vlm = hf_vqa.VLM(model="claude-3-5-sonnet", api_key_env="", use_store=False, max_image_side=1024)
    fast, exact = (hf_vqa.estimate(ds, vlm, prompt="p", exact=e) for e in (False, True))
    assert not fast.exact and exact.exact
    assert (fast.requests, fast.image_tokens, fast.text_tokens) == (
        exact.requests,
        exact.image_tokens,
        exact.text_tokens,
    )
    assert fast.sizes_after == exact.sizes_after


def test_a_probe_on_an_empty_store_sends_real_requests(tmp_path, mock_vlm):
    records = write_records(tmp_path, [(30 + i, 20) for i in range(5)])
    ds = hf_vqa.load_records(records, cache_dir=str(tmp_path / "ds"))
    vlm = hf_vqa.VLM(
        model="mock", base_url=mock_vlm.base_url, api_key_env="", cache_dir=str(tmp_path / "store")
    )
    est = hf_vqa.estimate(ds, vlm, prompt="p", probe=3)
    assert est.completion_source == "measured by a probe of 3 request(s)", est.completion_source
    assert mock_vlm.stats()["ok"] == 3 and est.probe_scale
    assert est.in_store == 0 and est.to_send == 5  # counted before the probe
