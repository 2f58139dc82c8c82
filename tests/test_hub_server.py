"""The loopback Hub server, driven through the real ``huggingface_hub`` and ``datasets`` clients."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import datasets
import huggingface_hub
import pytest
from hub_server import HubServer
from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from PIL import Image

pytestmark = pytest.mark.hub


def _commits(server: HubServer, repo_id: str) -> list[tuple[str, str, int]]:
    return [r for r in server.requests if r[1] == f"/api/datasets/{repo_id}/commit/main"]


def test_libraries_point_at_loopback(hub_server: HubServer) -> None:
    assert hub_server.endpoint.startswith("http://127.0.0.1:")
    assert hub_server.endpoint == huggingface_hub.constants.ENDPOINT
    assert hub_server.endpoint == datasets.config.HF_ENDPOINT
    assert huggingface_hub.constants.HF_HUB_DISABLE_XET is True
    assert huggingface_hub.constants.HF_HUB_OFFLINE is False
    assert HfApi().endpoint == hub_server.endpoint
    assert HfApi().whoami()["name"] == "tester"


def test_subprocess_inherits_the_hub_env(hub_server: HubServer, hub_env: dict[str, str]) -> None:
    code = "import huggingface_hub.constants as c; print(c.ENDPOINT, c.HF_HUB_DISABLE_XET)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [hub_server.endpoint, "True"]
    assert all(os.environ[k] == v for k, v in hub_env.items())


def test_image_list_round_trip(hub_server: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    sizes = [(10, 20), (31, 7), (8, 8)]
    paths = []
    for i, size in enumerate(sizes):
        paths.append(tmp_path / f"img{i}.png")
        Image.new("RGB", size, (40 * i, 100, 200)).save(paths[-1])
    features = datasets.Features(
        {
            "images": datasets.List(datasets.Image()),
            "question": datasets.Value("string"),
            "n": datasets.Value("int32"),
        }
    )
    rows = {
        "images": [[str(paths[0]), str(paths[1])], [str(paths[2])]],
        "question": ["q0", "q1"],
        "n": [3, 4],
    }
    ds = datasets.Dataset.from_dict(rows, features=features)
    ds.push_to_hub(hub_repo_id, private=True, embed_external_files=True)

    files = hub_server.files(hub_repo_id)
    assert sorted(files) == [".gitattributes", "README.md", "data/train-00000-of-00001.parquet"]
    shard = files["data/train-00000-of-00001.parquet"]
    assert b"\x89PNG" in shard and str(tmp_path).encode() not in shard  # bytes embedded, not local paths
    upload = ("PUT", f"/lfs-upload/{hashlib.sha256(shard).hexdigest()}", 200)
    assert upload in hub_server.requests  # went through the LFS batch + basic transfer
    for path in paths:
        path.unlink()  # the loaded images can only come from the hub

    loaded = datasets.load_dataset(hub_repo_id, split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.features["images"] == datasets.List(datasets.Image())
    assert [[im.size for im in row] for row in loaded["images"]] == [sizes[:2], sizes[2:]]
    assert all(isinstance(im, Image.Image) for row in loaded["images"] for im in row)
    assert loaded["question"] == ["q0", "q1"]
    assert loaded["n"] == [3, 4]
    assert loaded["images"][1][0].getpixel((0, 0)) == (80, 100, 200)


def test_separate_pushes_keep_other_splits_and_configs(
    hub_server: HubServer, hub_repo_id: str, tmp_path: Path
) -> None:
    ds = datasets.Dataset.from_dict({"q": ["a", "b", "c", "d"], "n": [1, 2, 3, 4]})
    ds.push_to_hub(hub_repo_id, split="train", num_shards=2)
    ds.select([0]).push_to_hub(hub_repo_id, split="test")
    ds.select([1, 2]).push_to_hub(hub_repo_id, config_name="other", split="train")
    datasets.DatasetDict({"train": ds.select([3]), "validation": ds.select([0, 1])}).push_to_hub(
        hub_repo_id, config_name="dd", data_dir="dd_data"
    )
    assert sorted(p for p in hub_server.files(hub_repo_id) if p.startswith("data/train")) == [
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    ]
    # Re-pushing train with one shard deletes the two old train shards, and nothing else.
    ds.select([2, 3, 0]).push_to_hub(hub_repo_id, split="train", num_shards=1)
    assert sorted(p for p in hub_server.files(hub_repo_id) if p.endswith(".parquet")) == [
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
        "dd_data/train-00000-of-00001.parquet",
        "dd_data/validation-00000-of-00001.parquet",
        "other/train-00000-of-00001.parquet",
    ]

    cache = str(tmp_path / "cache")
    default = datasets.load_dataset(hub_repo_id, cache_dir=cache)
    assert default["train"]["q"] == ["c", "d", "a"]
    assert default["test"]["q"] == ["a"]
    assert datasets.load_dataset(hub_repo_id, "other", split="train", cache_dir=cache)["n"] == [2, 3]
    validation = datasets.load_dataset(hub_repo_id, name="dd", split="validation", cache_dir=cache)
    assert validation["q"] == ["a", "b"]
    configs = {c["config_name"] for c in DatasetCard.load(hub_repo_id, repo_type="dataset").data.configs}
    assert configs == {"default", "other", "dd"}


def test_dataset_card_round_trip(hub_server: HubServer, hub_repo_id: str) -> None:
    HfApi().create_repo(hub_repo_id, repo_type="dataset", exist_ok=True)
    content = "---\nlicense: mit\ntags:\n- vqa\n---\n# My VQA set\n\nMade by a test.\n"
    DatasetCard(content).push_to_hub(hub_repo_id)
    assert hub_server.files(hub_repo_id)["README.md"] == content.encode()
    card = DatasetCard.load(hub_repo_id)
    assert card.data.license == "mit"
    assert card.data.tags == ["vqa"]
    assert card.text == "# My VQA set\n\nMade by a test.\n"
    assert HfApi().dataset_info(hub_repo_id).card_data.license == "mit"


def test_hf_api_listing_calls(hub_server: HubServer, hub_repo_id: str) -> None:
    api = HfApi()
    url = api.create_repo(hub_repo_id, repo_type="dataset", exist_ok=True)
    assert url.repo_id == hub_repo_id and url.repo_type == "dataset"
    assert api.create_repo(hub_repo_id, repo_type="dataset", exist_ok=True).repo_id == hub_repo_id
    ops = [CommitOperationAdd(f"many/f{i:03d}.txt", f"file {i}".encode()) for i in range(60)]
    ops.append(CommitOperationAdd("blob.bin", bytes(range(256)) * 4))
    commit = api.create_commit(hub_repo_id, ops, commit_message="add files", repo_type="dataset")

    files = api.list_repo_files(hub_repo_id, repo_type="dataset")
    assert len(files) == 62 and "many/f059.txt" in files and "blob.bin" in files
    top = list(api.list_repo_tree(hub_repo_id, repo_type="dataset"))
    assert sorted(e.path for e in top) == [".gitattributes", "blob.bin", "many"]
    expanded = list(api.list_repo_tree(hub_repo_id, "many", repo_type="dataset", expand=True))  # 2 pages
    assert len(expanded) == 60 and expanded[0].last_commit.oid == commit.oid
    infos = api.get_paths_info(hub_repo_id, ["blob.bin", "many", "missing.txt"], repo_type="dataset")
    assert [type(i).__name__ for i in infos] == ["RepoFile", "RepoFolder"]
    assert infos[0].size == 1024 and infos[0].lfs is not None and infos[0].lfs.size == 1024
    assert api.file_exists(hub_repo_id, "many/f000.txt", repo_type="dataset")
    assert not api.file_exists(hub_repo_id, "many/nope.txt", repo_type="dataset")
    info = api.dataset_info(hub_repo_id, files_metadata=True)
    assert info.sha == commit.oid and info.private is False
    assert {s.rfilename: s.size for s in info.siblings}["many/f007.txt"] == len(b"file 7")
    api.delete_repo(hub_repo_id, repo_type="dataset")
    assert not api.repo_exists(hub_repo_id, repo_type="dataset")


def test_range_request(hub_server: HubServer, hub_repo_id: str) -> None:
    api = HfApi()
    api.create_repo(hub_repo_id, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b"0123456789", path_in_repo="digits.txt", repo_id=hub_repo_id, repo_type="dataset"
    )
    fs = huggingface_hub.HfFileSystem()
    assert fs.cat_file(f"datasets/{hub_repo_id}/digits.txt", start=3, end=7) == b"3456"
    assert any(r[1].endswith("/digits.txt") and r[2] == 206 for r in hub_server.requests)


def test_private_repo_needs_token(hub_server: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    datasets.Dataset.from_dict({"q": ["hidden"]}).push_to_hub(hub_repo_id, private=True)
    assert HfApi().repo_info(hub_repo_id, repo_type="dataset").private is True
    with pytest.raises(RepositoryNotFoundError) as err:
        HfApi(token=False).repo_info(hub_repo_id, repo_type="dataset")
    assert err.value.response.status_code == 401
    with pytest.raises(datasets.exceptions.DatasetNotFoundError):
        datasets.load_dataset(hub_repo_id, split="train", token=False, cache_dir=str(tmp_path / "anon"))
    loaded = datasets.load_dataset(hub_repo_id, split="train", cache_dir=str(tmp_path / "auth"))
    assert loaded["q"] == ["hidden"]


@pytest.mark.parametrize("status", [500, 409])
def test_failed_commit_raises(hub_server: HubServer, hub_repo_id: str, status: int) -> None:
    ds = datasets.Dataset.from_dict({"q": ["a", "b"]})
    hub_server.fail_next_commits(1, status)
    with pytest.raises(HfHubHTTPError) as err:
        ds.push_to_hub(hub_repo_id)
    assert type(err.value) is HfHubHTTPError  # not a subclass such as RepositoryNotFoundError
    assert err.value.response.status_code == status
    # huggingface_hub does not retry a commit, and datasets' 409 retry never fires (it looks for an
    # HfHubHTTPError in __context__, which is an httpx2.HTTPStatusError).
    assert [r[2] for r in _commits(hub_server, hub_repo_id)] == [status]
    assert sorted(hub_server.files(hub_repo_id)) == [".gitattributes"]
    kept = f"-{hub_repo_id.replace('/', '--')}/README.md"  # the rejected commit's card is kept on disk
    assert any(p.startswith("failed/") and p.endswith(kept) for p in hub_server.stored_files())

    ds.push_to_hub(hub_repo_id)  # the failure was one-shot
    assert "data/train-00000-of-00001.parquet" in hub_server.files(hub_repo_id)


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token(hub_server: HubServer, hub_repo_id: str, status: int) -> None:
    hub_server.reject_token("hf_revoked", status)
    with pytest.raises(HfHubHTTPError) as err:
        datasets.Dataset.from_dict({"q": ["a"]}).push_to_hub(hub_repo_id, token="hf_revoked")
    assert err.value.response.status_code == status
    assert not HfApi().repo_exists(hub_repo_id, repo_type="dataset")
    assert (hub_server.requests[-2][2], hub_server.requests[-1][2]) == (status, 404)


def test_pushed_content_is_on_disk(hub_server: HubServer, hub_repo_id: str) -> None:
    secret = "sk-test-SECRET-4f9a1c"
    datasets.Dataset.from_dict({"note": [f"leaked {secret}", "fine"]}).push_to_hub(hub_repo_id)
    holders = [p for p, data in hub_server.stored_files().items() if secret.encode() in data]
    assert any(p.startswith("lfs/") for p in holders)
    assert any(p.startswith(f"repos/datasets/{hub_repo_id}/revs/") for p in holders)
