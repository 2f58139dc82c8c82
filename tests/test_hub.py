"""Publishing through the real huggingface_hub client to the loopback Hub, read back with load_dataset.

`make_vqa_dataset` (also used by test_training / test_cli_publish) builds rows in the shape the
pipelines produce, with real PNG files.
"""

from __future__ import annotations

import threading
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from hub_server import HubServer
from huggingface_hub import DatasetCard, HfApi, constants
from PIL import Image

from hf_vqa.errors import ConfigError, HubError, InputError
from hf_vqa.images.columns import undecoded
from hf_vqa.publish import hub_commit
from hf_vqa.publish.card import RunInfo
from hf_vqa.publish.card_body import MARK_END, MARK_START
from hf_vqa.publish.folder import save_folder
from hf_vqa.publish.hub import parse_shard, push_card, push_dataset, push_only
from hf_vqa.schema import features_after

SECRET = "sk-test-hfvqa-SECRET-8c1e5d"


def make_vqa_dataset(
    folder: Path, n: int = 6, *, pipeline: str = "image-vqa", failed=(2,)
) -> datasets.Dataset:
    """`n` rows shaped like the pipelines' output; row i has i % 2 + 1 images of size (20 + i, 10)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = datasets.Features(
        {"image": datasets.List(datasets.Image()), "conversation": datasets.List({"from": datasets.Value("string"), "value": datasets.Value("string")})}
    )  # fmt: skip
    feats = features_after(base, "prompted_vqa")
    feats = features_after(feats, "refine_qa_pairs" if pipeline == "image-vqa" else "refine_wiki_qa")
    rows: dict[str, list] = {name: [] for name in feats}
    for i in range(n):
        paths = []
        for j in range(i % 2 + 1):
            paths.append(str(folder / f"img{i}_{j}.png"))
            Image.new("RGB", (20 + i, 10), (10 * i, 40 * j, 200)).save(paths[-1])
        ok = i not in failed
        qas = [{"question": f"What is in image {i}, part {k}?", "answer": f"thing {i}.{k}"} for k in range(2)]
        rows["image"].append(paths)
        rows["conversation"].append([{"from": "human", "value": "<image>\n" * len(paths) + "Ask."}])
        rows["vqa"].append(f"Q: row {i}" if ok else None)
        rows["vqa_error"].append(None if ok else "HTTP 500 after 3 attempt(s): boom")
        rows["vqa_reasoning"].append(None)
        usage = {"prompt_tokens": 100 + i, "completion_tokens": 10, "attempts": 1, "finish_reason": "stop"}
        rows["vqa_usage"].append({**usage, "cached": False})
        if pipeline == "image-vqa":
            rows["qas"].append(qas if ok else None)
            rows["qas_error"].append(None)
        else:
            rows["context_vqa"].append(
                {"context": f"Article {i}. thing {i}.0 thing {i}.1", "qas": qas} if ok else None
            )
            rows["context_vqa_error"].append(None)
            rows["qa_checks"].append(
                [{"grounded": True, "duplicate": False, "leak": False}] * 2 if ok else None
            )
            rows["all_grounded"].append(ok)
            rows["has_duplicate"].append(False)
            rows["has_leak"].append(i == 3)
    return datasets.Dataset.from_dict(rows, features=feats)


def run_info(ds: datasets.Dataset, **kw) -> RunInfo:
    failed = sum(v is None for v in ds["vqa"])
    fields = dict(
        pipeline="image-vqa", model="gpt-4o-mini", endpoint_host="api.example.com", rows=len(ds), failed=failed,
        prompt_tokens=sum(u["prompt_tokens"] for u in ds["vqa_usage"]), completion_tokens=10 * len(ds),
        seconds=2.5, system_prompt="You are careful.", prompt="Write QA pairs.", params={"temperature": 0.0},
        command="python scripts/build_dataset.py image-vqa --input in.json --output out",
        example={"vqa": "Q: row 0", "qas": [{"question": "q", "answer": "a"}]}, license="cc-by-4.0",
    )  # fmt: skip
    return RunInfo(**{**fields, **kw})


def load(repo_id: str, tmp_path: Path, name: str = "cache", **kw) -> datasets.Dataset:
    return datasets.load_dataset(repo_id, split="train", cache_dir=str(tmp_path / name), **kw)


def sizes(ds: datasets.Dataset) -> list[list[tuple[int, int]]]:
    return [[im.size for im in row] for row in ds["image"]]


pytestmark = pytest.mark.hub


def test_round_trip_images_and_columns(hub_server: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img")
    url = push_dataset(undecoded(ds), hub_repo_id, card=run_info(ds), private=True)  # as pipelines hand it
    assert url.endswith(f"/datasets/{hub_repo_id}")
    assert HfApi().repo_info(hub_repo_id, repo_type="dataset").private is True
    files = hub_server.files(hub_repo_id)
    assert sorted(files) == [".gitattributes", "README.md", "data/train-00000-of-00001.parquet"]
    assert str(tmp_path).encode() not in files["data/train-00000-of-00001.parquet"]  # embedded, no paths
    for png in (tmp_path / "img").glob("*.png"):
        png.unlink()  # the images can only come from the hub now

    loaded = load(hub_repo_id, tmp_path)
    assert loaded.features == ds.features
    assert sizes(loaded) == [[(20 + i, 10)] * (i % 2 + 1) for i in range(6)]
    assert loaded["image"][3][1].getpixel((0, 0)) == (30, 40, 200)
    assert loaded["qas"][0] == [
        {"question": "What is in image 0, part 0?", "answer": "thing 0.0"},
        {"question": "What is in image 0, part 1?", "answer": "thing 0.1"},
    ]
    assert loaded["qas"][2] is None and loaded["vqa_error"][2].startswith("HTTP 500")
    assert loaded["vqa_usage"][5]["prompt_tokens"] == 105

    card = DatasetCard.load(hub_repo_id, repo_type="dataset")
    assert card.data.license == "cc-by-4.0" and card.data.dataset_info["splits"][0]["num_examples"] == 6
    assert "| default | train | 1/1 | 6 | 1 | 0 |" in card.text


def test_no_api_key_in_any_pushed_byte(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    ds = make_vqa_dataset(tmp_path / "img", 4)
    url = f"https://user:{SECRET}@api.example.com/v1?key={SECRET}"
    command = f"python scripts/build_dataset.py image-vqa --base-url {url}"
    info = run_info(ds, command=command, system_prompt=f"never print {SECRET}")
    push_dataset(ds, hub_repo_id, card=info)
    push_card(hub_repo_id, info)
    stored = hub_server.stored_files()
    assert any(p.endswith("README.md") for p in stored) and any(p.startswith("lfs/") for p in stored)
    assert [p for p, data in stored.items() if SECRET.encode() in data] == []
    strings = 0
    for path in [p for p in hub_server.root.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"PAR1"]:
        for column in pq.read_table(path).to_pylist():
            for value in _strings(column):
                strings += 1
                assert SECRET not in value
    assert strings > 20  # the scan saw the text columns
    readme = hub_server.files(hub_repo_id)["README.md"].decode()
    assert "https://api.example.com/v1" in readme and "never print ***" in readme


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_three_shards_make_one_dataset(hub_server: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img", 7)
    parts = [ds.shard(3, i, contiguous=True) for i in range(3)]
    push_dataset(parts[2], hub_repo_id, card=run_info(parts[2], seconds=1.0), shard=(2, 3))
    push_dataset(parts[0], hub_repo_id, card=run_info(parts[0], seconds=3.0), shard=(0, 3))
    card = DatasetCard.load(hub_repo_id, repo_type="dataset")
    assert "| default | train | 2/3 | 5 |" in card.text  # partial: 2 of 3 shards in
    assert len(load(hub_repo_id, tmp_path, "partial")) == 5
    push_dataset(parts[1], hub_repo_id, card=run_info(parts[1], seconds=2.0), shard=(1, 3))

    loaded = load(hub_repo_id, tmp_path, "full")
    assert loaded["vqa"] == ds["vqa"] and sizes(loaded) == sizes(ds)
    card = DatasetCard.load(hub_repo_id, repo_type="dataset")
    assert "| default | train | 3/3 | 7 | 1 | 0 |" in card.text
    assert "6.0 s summed over 3 shards (longest 3.0 s)" in card.text
    assert card.data.dataset_info["splits"][0]["num_examples"] == 7
    info = RunInfo.from_card(card)
    assert (info.rows, info.failed, info.prompt_tokens) == (7, 1, sum(100 + i for i in range(7)))

    # A rerun of shard 1 replaces only shard 1's files.
    before = {
        p: d
        for p, d in hub_server.files(hub_repo_id).items()
        if "shard00001" not in p and p.endswith("parquet")
    }
    push_dataset(parts[1].select([0]), hub_repo_id, shard=(1, 3))
    after = hub_server.files(hub_repo_id)
    assert {p: d for p, d in after.items() if "shard00001" not in p and p.endswith("parquet")} == before
    assert [p for p in after if "shard00001" in p] == [
        "data/train-shard00001-of-00003-00000-of-00001.parquet"
    ]
    assert load(hub_repo_id, tmp_path, "rerun")["vqa"] == [*ds["vqa"][:3], ds["vqa"][3], *ds["vqa"][5:]]


def test_concurrent_shard_pushes_all_land(hub_server: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img", 6)
    HfApi().create_repo(hub_repo_id, repo_type="dataset")
    errors: list[BaseException] = []

    def push(i: int) -> None:
        try:
            part = ds.shard(3, i, contiguous=True)
            push_dataset(part, hub_repo_id, card=run_info(part), shard=(i, 3))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert load(hub_repo_id, tmp_path)["vqa"] == ds["vqa"]
    assert RunInfo.from_card(DatasetCard.load(hub_repo_id, repo_type="dataset")).rows == 6


def test_full_push_after_shards_replaces_them(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path
) -> None:
    ds = make_vqa_dataset(tmp_path / "img", 4)
    push_dataset(ds.shard(2, 0, contiguous=True), hub_repo_id, shard=(0, 2))
    push_dataset(ds.shard(3, 1, contiguous=True), hub_repo_id, shard=(1, 3))  # a new N drops the old layout
    assert [p for p in hub_server.files(hub_repo_id) if p.endswith(".parquet")] == [
        "data/train-shard00001-of-00003-00000-of-00001.parquet"
    ]
    push_dataset(ds, hub_repo_id)
    assert [p for p in hub_server.files(hub_repo_id) if p.endswith(".parquet")] == [
        "data/train-00000-of-00001.parquet"
    ]
    assert load(hub_repo_id, tmp_path)["vqa"] == ds["vqa"]


def test_failed_push_keeps_local_output_and_push_only_recovers(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path
) -> None:
    ds = make_vqa_dataset(tmp_path / "img", 5)
    out = tmp_path / "out"
    info = run_info(ds)
    from hf_vqa.publish.card import build_card

    save_folder(ds, out, card=str(build_card(info)))
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    hub_server.fail_next_commits(1, 500)
    with pytest.raises(HubError) as err:
        push_only(out, hub_repo_id)
    assert err.value.status == 500 and "HTTP 500" in str(err.value) and "\n" not in str(err.value)
    hub_server.reject_token("hf_revoked", 401)
    with pytest.raises(HubError) as err:
        push_only(out, hub_repo_id, token="hf_revoked")
    assert (
        err.value.status == 401 and "hf auth login" in str(err.value) and "hf_revoked" not in str(err.value)
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot
    assert sorted(hub_server.files(hub_repo_id)) == [".gitattributes"]

    push_only(out, hub_repo_id)
    loaded = load(hub_repo_id, tmp_path)
    assert loaded["vqa"] == ds["vqa"] and sizes(loaded) == sizes(ds)
    assert RunInfo.from_card(DatasetCard.load(hub_repo_id, repo_type="dataset")).prompt == "Write QA pairs."


def test_forbidden_token_says_how_to_fix(hub_server: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    hub_server.reject_token("hf_readonly", 403)
    with pytest.raises(HubError) as err:
        push_dataset(make_vqa_dataset(tmp_path / "img", 2), hub_repo_id, token="hf_readonly")
    assert err.value.status == 403 and "hf auth login" in err.value.fix and "HF_TOKEN" in err.value.fix


def test_conflicts_are_retried_then_reported(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_commit, "CONFLICT_BACKOFF", 0.0)
    ds = make_vqa_dataset(tmp_path / "img", 2)
    commits = f"/api/datasets/{hub_repo_id}/commit/main"
    hub_server.fail_next_commits(1, 409)
    push_dataset(ds, hub_repo_id)
    assert [r[2] for r in hub_server.requests if r[1] == commits] == [409, 200]
    push_dataset(ds, hub_repo_id)  # an identical re-push is a no-op: no commit at all
    assert [r[2] for r in hub_server.requests if r[1] == commits] == [409, 200]
    hub_server.fail_next_commits(hub_commit.CONFLICT_ATTEMPTS, 412)
    with pytest.raises(HubError) as err:
        push_dataset(ds.select([1]), hub_repo_id)
    assert err.value.status == 412 and "retry the push" in err.value.fix
    assert [r[2] for r in hub_server.requests if r[1] == commits][2:] == [412] * hub_commit.CONFLICT_ATTEMPTS


def test_unreachable_hub_is_a_hub_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    ds = make_vqa_dataset(tmp_path / "img", 1)
    with pytest.raises(HubError) as err:
        push_dataset(ds, "tester/unreachable")
    assert err.value.status is None and "could not reach the Hub at http://127.0.0.1:9" in str(err.value)


def test_notebook_path_then_second_card_push_keeps_user_section(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path
) -> None:
    ds = make_vqa_dataset(tmp_path / "img", 3)
    ds.push_to_hub(hub_repo_id, embed_external_files=True)
    push_card(hub_repo_id, run_info(ds))
    card = DatasetCard.load(hub_repo_id, repo_type="dataset")
    assert card.data.dataset_info["splits"][0]["num_examples"] == 3  # what datasets wrote is kept
    assert card.data.configs[0]["data_files"][0]["path"] == "data/train-*"

    user = "## Notes from me\n\nHand-written; keep it.\n"
    card.text = "# My title\n\n" + card.text + "\n" + user
    card.data["pretty_name"] = "My VQA"
    card.data["tags"] = [*card.data.tags, "my-tag"]
    card.push_to_hub(hub_repo_id, repo_type="dataset")

    push_card(hub_repo_id, run_info(ds, model="gpt-4.1", license="other"))
    text = hub_server.files(hub_repo_id)["README.md"].decode()
    card = DatasetCard(text)
    assert text.count(MARK_START) == 1 and text.count(MARK_END) == 1
    assert card.text.startswith("# My title") and card.text.rstrip().endswith(user.rstrip())
    assert "`gpt-4.1`" in card.text and "`gpt-4o-mini`" not in card.text
    assert card.data.pretty_name == "My VQA" and "my-tag" in card.data.tags
    assert card.data.license == "cc-by-4.0"  # the default 'other' does not replace a chosen license
    assert card.data.dataset_info["splits"][0]["num_examples"] == 3
    assert load(hub_repo_id, tmp_path)["vqa"] == ds["vqa"]


def test_push_only_needs_data(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no parquet files"):
        push_only(tmp_path, "tester/x")


def test_parse_shard() -> None:
    assert parse_shard("0/3") == (0, 3) and parse_shard(" 2 / 3 ") == (2, 3)
    for bad in ("3/3", "-1/3", "1/0", "a/b", "1"):
        with pytest.raises(ConfigError):
            parse_shard(bad)


def test_other_config_and_split(hub_server: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    ds = make_vqa_dataset(tmp_path / "img", 4)
    push_dataset(ds, hub_repo_id, card=run_info(ds))
    push_dataset(ds.select([0]), hub_repo_id, split="test", card=run_info(ds.select([0]), split="test"))
    push_dataset(ds.select([1, 2]), hub_repo_id, config_name="small", card=run_info(ds.select([1, 2])))
    cache = str(tmp_path / "cache")
    assert datasets.load_dataset(hub_repo_id, split="test", cache_dir=cache)["vqa"] == ds["vqa"][:1]
    assert datasets.load_dataset(hub_repo_id, split="train", cache_dir=cache)["vqa"] == ds["vqa"]
    assert (
        datasets.load_dataset(hub_repo_id, "small", split="train", cache_dir=cache)["vqa"] == ds["vqa"][1:3]
    )
    assert "small/train-00000-of-00001.parquet" in hub_server.files(hub_repo_id)
    assert RunInfo.from_card(DatasetCard.load(hub_repo_id, repo_type="dataset")).rows == 7


def test_pipeline_output_publishes_its_images_with_a_plain_push_to_hub(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path, mock_vlm_session
) -> None:
    import io

    from clitools import SAMPLE

    from hf_vqa import VLM, load_records, run_pipeline

    vlm = VLM(
        model="m", base_url=mock_vlm_session.base_url, api_key_env="", cache_dir=str(tmp_path / "store")
    )
    ds, _ = run_pipeline(load_records(SAMPLE), "image-vqa", vlm=vlm)
    ds.push_to_hub(hub_repo_id)  # datasets' own push, as the README's notebook section offers
    parquet = [data for name, data in hub_server.files(hub_repo_id).items() if name.endswith(".parquet")]
    images = [im for part in parquet for row in pq.read_table(io.BytesIO(part)).column("image").to_pylist()
              for im in row]  # fmt: skip
    assert len(images) == 7 and all(im["bytes"] for im in images), (
        "local paths were published, not the images"
    )
    assert load(hub_repo_id, tmp_path)[0]["image"][0].size == (640, 480)
