"""Reading hf_vqa's own folder outputs back: always the current files, never a stale cache."""

import datasets
import pytest
from clitools import SAMPLE, run_cli

from hf_vqa.inputs.load import load_input
from hf_vqa.publish.card import RunInfo, build_card
from hf_vqa.publish.folder import save_folder
from hf_vqa.runner.datasets_internals import fingerprint


def _card(split: str = "train") -> str:
    info = RunInfo(pipeline="image-vqa", model="m", endpoint_host="h", rows=2, failed=0, split=split)
    return str(build_card(info))


def test_a_rewritten_folder_reads_back_as_it_is_now(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hfds"))
    out = tmp_path / "out"
    save_folder(datasets.Dataset.from_dict({"vqa": ["old", None]}), out, card=_card())
    first = load_input(str(out))
    assert first["vqa"] == ["old", None]
    user = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "user"))
    assert user["vqa"] == ["old", None]

    save_folder(datasets.Dataset.from_dict({"vqa": ["old", "new"]}), out, card=_card())
    again = load_input(str(out))
    assert again["vqa"] == ["old", "new"]
    assert fingerprint(again) != fingerprint(first)  # later map caches must not answer for the old data
    user = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "user"))
    assert user["vqa"] == ["old", "new"], "a user's load_dataset(folder) must see the rewrite"


def test_a_custom_split_is_read_from_its_own_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hfds"))
    out = tmp_path / "out"
    save_folder(datasets.Dataset.from_dict({"vqa": ["a"]}), out, card=_card("sample"), split="sample")
    assert load_input(str(out), split="sample")["vqa"] == ["a"]
    save_folder(datasets.Dataset.from_dict({"vqa": ["b"]}), out, card=_card("sample"), split="sample")
    assert load_input(str(out), split="sample")["vqa"] == ["b"]


@pytest.mark.slow
def test_retries_and_reruns_of_a_folder_output_never_bring_back_recovered_failures(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"500": 0.5}, seed=3)
    out = tmp_path / "out"
    run = ["image-vqa", "--input", SAMPLE, "--output", out, "--base-url", server.base_url, "--api-key-env", "",
           "--max-retries", "0"]  # fmt: skip

    def failed_rows() -> int:
        table = datasets.Dataset.from_parquet(sorted(str(p) for p in (out / "data").glob("train-*.parquet")))
        return sum(v is None for v in table["vqa"])

    res = run_cli(*run, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    failed = failed_rows()
    assert 0 < failed < 6
    server.configure(faults={"500": 1.0})  # the first retry recovers nothing ...
    res = run_cli(*run, "--retry-failed", tmp_path=tmp_path)
    assert f"failed={failed}" in res.stdout
    server.configure(faults={})  # ... the second recovers every row
    before = server.stats()["requests"]
    res = run_cli(*run, "--retry-failed", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert server.stats()["requests"] - before == failed
    assert " failed=0" in res.stdout.splitlines()[-1] and failed_rows() == 0
    res = run_cli(*run, "--retry-failed", tmp_path=tmp_path)  # nothing left to retry
    assert " failed=0" in res.stdout.splitlines()[-1]
    before = server.stats()["requests"]
    res = run_cli(*run, tmp_path=tmp_path)  # the original command again: from the caches
    assert res.returncode == 0, res.stderr
    assert server.stats()["requests"] == before
    assert " failed=0" in res.stdout.splitlines()[-1], res.stdout
    assert failed_rows() == 0, res.stdout


def test_a_re_exported_trl_folder_reads_back_as_it_is_now(tmp_path, monkeypatch):
    from hf_vqa.publish.exports import run_export

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hfds"))
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(image)

    def rows(answer: str) -> datasets.Dataset:
        ds = datasets.Dataset.from_dict(
            {"image": [[str(image)]], "qas": [[{"question": "q?", "answer": answer}]]}
        )
        return ds.cast_column("image", datasets.List(datasets.Image(decode=False)))

    run_export("trl", rows("old"), tmp_path / "trl", image_key="image")
    first = datasets.load_dataset(str(tmp_path / "trl"), split="train", cache_dir=str(tmp_path / "user"))
    assert first[0]["messages"][1]["content"][0]["text"] == "old"
    run_export("trl", rows("new"), tmp_path / "trl", image_key="image")
    again = datasets.load_dataset(str(tmp_path / "trl"), split="train", cache_dir=str(tmp_path / "user"))
    assert again[0]["messages"][1]["content"][0]["text"] == "new"


def test_records_resolve_paths_and_keep_text_as_pathlib_and_clean_would(tmp_path, monkeypatch):
    """Each folder is resolved once and `clean` is skipped when no string can hold a surrogate: the rows
    are still those of `(base / ref).resolve()` and `clean` on every value (symlinks, `..`, `~`, URLs)."""
    import json
    import os
    from pathlib import Path

    from hf_vqa.inputs.records import _normalized_rows
    from hf_vqa.inputs.unencodable import MARK, clean

    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "a.jpg").write_bytes(b"x")
    (tmp_path / "linked").symlink_to(real)  # a symlinked folder
    (real / "alias.jpg").symlink_to(real / "sub")  # a symlinked file name (to a folder, as resolve sees it)
    monkeypatch.setenv("HOME", str(real))
    refs = ["real/a.jpg", "linked/a.jpg", "linked/sub/../a.jpg", "./real//a.jpg", "real/alias.jpg", "~/a.jpg",
            str(real / "a.jpg"), "missing/b.jpg", "linked/missing.jpg", "https://x.example/i.jpg?a=1", "real/.",
            "linked/sub/.."]  # fmt: skip
    for text, marked in (
        ("What is shown?", False),
        ("bad \ud83d text", True),
        ("pair \ud83d\ude00 ok", False),
    ):
        records = [{"image": [r, "linked/a.jpg"], "conversation": [{"from": "human", "value": text}], "id": i}
                   for i, r in enumerate(refs)]  # fmt: skip
        path = tmp_path / "records.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in records))
        rows = _normalized_rows(path)
        base = path.parent
        for row, record in zip(rows, map(json.loads, path.read_text().splitlines()), strict=True):
            images = [
                i if "://" in i else str((base / Path(os.path.expanduser(i))).resolve())
                for i in record["image"]
            ]
            want = {
                **clean(record),
                "image": clean(images),
                "conversation": clean(record["conversation"], mark=True),
            }
            assert row == want
        assert rows[0]["conversation"][0]["value"].startswith(MARK) is marked
