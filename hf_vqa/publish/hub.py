"""Publishing to the Hugging Face Hub: data, card, and shards pushed from several machines.

Every push is ONE commit holding the parquet files (images embedded), the merged `README.md` card
(`card.update_card`: user sections and YAML keys kept, counts summed over shards) and the deletion
of stale files of the same split. Commits name their parent, so pushes racing from N machines are
retried on 409/412 instead of overwriting each other's card. Any other failure raises `HubError`
(what failed, the HTTP status, how to fix); nothing local is touched, so the push can be repeated.

The token comes from `token=`, else `HF_TOKEN`, else the login cache (`hf auth login`), as
`huggingface_hub` resolves it; it is never printed.

In a notebook (`info = RunInfo.from_run("image-vqa", vlm, summary, license=...)`), either the one helper:

    >>> push_dataset(ds, "me/my-vqa", card=info)  # doctest: +SKIP

or the two steps it stands for (datasets' own push, then the card, merged into datasets' README):

    >>> ds.push_to_hub("me/my-vqa", embed_external_files=True)  # doctest: +SKIP
    >>> push_card("me/my-vqa", info)  # doctest: +SKIP

Shards on N machines: machine I runs on `ds.shard(N, I, contiguous=True)` and calls
`push_dataset(part, repo, shard=(I, N))`. Its files are `data/<split>-shard{I:05d}-of-{N:05d}-*.parquet`;
a rerun of shard I replaces only those. `load_dataset(repo)` sees one dataset once all N are in.

The commit itself (parent, retry on a race, one `HubError` line) is `hub_commit.py`; where a split's or
a shard's files go and the card's data YAML is `hub_layout.py`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import datasets
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download

from hf_vqa.errors import InputError
from hf_vqa.publish.card import RunInfo, update_card
from hf_vqa.publish.card_secrets import redact
from hf_vqa.publish.folder import save_folder
from hf_vqa.publish.hub_commit import REPO_TYPE, commit_with_retry, hub_errors
from hf_vqa.publish.hub_layout import check_shard, is_stale, parquet_stats, parse_shard, set_data_yaml


def push_dataset(
    ds: datasets.Dataset,
    repo_id: str,
    *,
    card: RunInfo | None = None,
    split: str = "train",
    config_name: str = "default",
    private: bool = False,
    token: str | None = None,
    shard: tuple[int, int] | None = None,
    commit_message: str | None = None,
) -> str:
    """Push `ds` (images embedded) and its card in one commit; return the repo URL.

    With `shard=(I, N)`, `ds` is shard I of N and only that shard's files are replaced.

    Example:
        >>> push_dataset(ds, "me/my-vqa", card=info)  # doctest: +SKIP
        'https://huggingface.co/datasets/me/my-vqa'
    """
    with tempfile.TemporaryDirectory(prefix="hf_vqa_push_") as tmp:
        save_folder(ds, tmp, split=split)
        return push_only(
            tmp, repo_id, info=card, split=split, config_name=config_name, private=private,
            token=token, shard=shard, commit_message=commit_message,
        )  # fmt: skip


def push_only(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    info: RunInfo | None = None,
    split: str = "train",
    config_name: str = "default",
    private: bool = False,
    token: str | None = None,
    shard: tuple[int, int] | None = None,
    commit_message: str | None = None,
) -> str:
    """Publish a folder written by `export.save_folder` (`data/<split>-*.parquet` + `README.md`).

    The run's description comes from `info`, else from the folder's own card. Nothing is regenerated.

    Example:
        >>> push_only("out/sample_vqa", "me/my-vqa")  # doctest: +SKIP
    """
    folder = Path(folder)
    files = sorted((folder / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise InputError(
            f"no parquet files for split {split!r} to push",
            received=str(folder / "data"),
            fix="pass the --output folder of a finished run (it holds data/<split>-*.parquet)",
        )
    if info is None and (folder / "README.md").is_file():
        info = RunInfo.from_card((folder / "README.md").read_text(encoding="utf-8"))
    index, num = check_shard(shard)
    data_dir = "data" if config_name == "default" else config_name
    stem = f"{data_dir}/{split}-" + (f"shard{index:05d}-of-{num:05d}-" if shard else "")
    adds = [
        CommitOperationAdd(f"{stem}{k:05d}-of-{len(files):05d}.parquet", str(f)) for k, f in enumerate(files)
    ]
    rows, num_bytes, features = parquet_stats(files)
    sizes = {"rows": rows, "num_bytes": num_bytes, "download_size": sum(f.stat().st_size for f in files)}
    api = HfApi(token=token)
    with hub_errors(repo_id, token):
        url = api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        api.preupload_lfs_files(repo_id, additions=adds, repo_type=REPO_TYPE)

        def operations(parent: str, readme: str | None, remote: list[str]) -> list:
            card = update_card(
                readme, info, config_name=config_name, split=split, shard=(index, num), **sizes
            )
            set_data_yaml(card, config_name, split, data_dir, features)
            new = {a.path_in_repo for a in adds}
            stale = [p for p in remote if p not in new and is_stale(p, data_dir, split, shard)]
            readme_op = CommitOperationAdd("README.md", redact(str(card)).encode("utf-8"))
            return [*adds, readme_op, *(CommitOperationDelete(p) for p in stale)]

        message = (
            commit_message or f"Upload {split}" + (f" shard {index}/{num}" if shard else "") + " (hf_vqa)"
        )
        commit_with_retry(api, repo_id, operations, message)
    return str(url)


def push_card(
    repo_id: str,
    info: RunInfo,
    *,
    split: str | None = None,
    config_name: str = "default",
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Build the card for `info` and merge it into the repo's `README.md` (user sections kept).

    Use after `ds.push_to_hub(repo_id, embed_external_files=True)`; a second call updates the card.

    Example:
        >>> push_card("me/my-vqa", info)  # doctest: +SKIP
    """
    split = split or info.split
    api = HfApi(token=token)
    with hub_errors(repo_id, token):
        url = api.create_repo(repo_id, repo_type=REPO_TYPE, exist_ok=True)

        def operations(parent: str, readme: str | None, remote: list[str]) -> list:
            card = update_card(readme, info, config_name=config_name, split=split)
            return [CommitOperationAdd("README.md", redact(str(card)).encode("utf-8"))]

        commit_with_retry(api, repo_id, operations, commit_message or "Update dataset card (hf_vqa)")
    return str(url)


def shards_on_hub(
    repo_id: str,
    num_shards: int,
    *,
    run_key: str | None = None,
    split: str = "train",
    config_name: str = "default",
    token: str | None = None,
) -> dict[int, dict]:
    """The shards of `num_shards` already in the repo (their card records, by index), whose files are
    there too; with `run_key`, only those pushed by that run. A missing repo has none.

    Example:
        >>> sorted(shards_on_hub("me/my-vqa", 4, run_key=key))  # doctest: +SKIP
        [0, 2]
    """
    from huggingface_hub import DatasetCard
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(token=token)
    with hub_errors(repo_id, token):
        try:
            remote = api.list_repo_files(repo_id, repo_type=REPO_TYPE)
        except RepositoryNotFoundError:
            return {}
        if "README.md" not in remote:
            return {}
        path = hf_hub_download(repo_id, "README.md", repo_type=REPO_TYPE, token=api.token)
    ours = DatasetCard(Path(path).read_text(encoding="utf-8")).data.to_dict().get("hf_vqa") or {}
    entry = ((ours.get("data") or {}).get(config_name) or {}).get(split) or {}
    if entry.get("num_shards") != num_shards:
        return {}
    data_dir = "data" if config_name == "default" else config_name
    found = {}
    for record in entry.get("shards") or []:
        stem = f"{data_dir}/{split}-shard{record['index']:05d}-of-{num_shards:05d}-"
        if (run_key is None or record.get("run_key") == run_key) and any(p.startswith(stem) for p in remote):
            found[record["index"]] = record
    return found


__all__ = ["parse_shard", "push_card", "push_dataset", "push_only", "shards_on_hub"]
