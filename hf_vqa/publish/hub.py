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
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datasets
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants, hf_hub_download

from hf_vqa.errors import ConfigError, HubError, InputError
from hf_vqa.images.columns import decoded_features
from hf_vqa.publish.card import RunInfo, redact, update_card
from hf_vqa.publish.folder import save_folder

CONFLICT_ATTEMPTS = 8
CONFLICT_BACKOFF = 0.2  # seconds, times the attempt number, times 1..2 (jitter)
REPO_TYPE = "dataset"


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
    index, num = _check_shard(shard)
    data_dir = "data" if config_name == "default" else config_name
    stem = f"{data_dir}/{split}-" + (f"shard{index:05d}-of-{num:05d}-" if shard else "")
    adds = [
        CommitOperationAdd(f"{stem}{k:05d}-of-{len(files):05d}.parquet", str(f)) for k, f in enumerate(files)
    ]
    rows, num_bytes, features = _parquet_stats(files)
    sizes = {"rows": rows, "num_bytes": num_bytes, "download_size": sum(f.stat().st_size for f in files)}
    api = HfApi(token=token)
    with _hub_errors(repo_id, token):
        url = api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        api.preupload_lfs_files(repo_id, additions=adds, repo_type=REPO_TYPE)

        def operations(parent: str, readme: str | None, remote: list[str]) -> list:
            card = update_card(
                readme, info, config_name=config_name, split=split, shard=(index, num), **sizes
            )
            _set_data_yaml(card, config_name, split, data_dir, features)
            new = {a.path_in_repo for a in adds}
            stale = [p for p in remote if p not in new and _is_stale(p, data_dir, split, shard)]
            readme_op = CommitOperationAdd("README.md", redact(str(card)).encode("utf-8"))
            return [*adds, readme_op, *(CommitOperationDelete(p) for p in stale)]

        message = (
            commit_message or f"Upload {split}" + (f" shard {index}/{num}" if shard else "") + " (hf_vqa)"
        )
        _commit_with_retry(api, repo_id, operations, message)
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
    with _hub_errors(repo_id, token):
        url = api.create_repo(repo_id, repo_type=REPO_TYPE, exist_ok=True)

        def operations(parent: str, readme: str | None, remote: list[str]) -> list:
            card = update_card(readme, info, config_name=config_name, split=split)
            return [CommitOperationAdd("README.md", redact(str(card)).encode("utf-8"))]

        _commit_with_retry(api, repo_id, operations, commit_message or "Update dataset card (hf_vqa)")
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
    with _hub_errors(repo_id, token):
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


def parse_shard(text: str) -> tuple[int, int]:
    """`"I/N"` → `(I, N)` with 0 ≤ I < N.

    Example:
        >>> parse_shard("2/3")
        (2, 3)
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise ConfigError("a shard is written I/N", received=text, fix="pass e.g. --shard 0/4 (shard 0 of 4)")
    return _check_shard((int(match[1]), int(match[2])))


def _check_shard(shard: tuple[int, int] | None) -> tuple[int, int]:
    index, num = shard or (0, 1)
    if not (isinstance(index, int) and isinstance(num, int) and 0 <= index < num):
        raise ConfigError(
            "a shard needs 0 <= I < N",
            received=f"{index}/{num}",
            fix=f"use one of 0/{num} .. {num - 1}/{num}",
        )
    return index, num


def _commit_with_retry(api: HfApi, repo_id: str, operations, message: str) -> None:
    """Commit on top of the current head; re-read and retry when another commit got there first."""
    from huggingface_hub.errors import HfHubHTTPError

    for attempt in range(CONFLICT_ATTEMPTS):
        parent = api.repo_info(repo_id, repo_type=REPO_TYPE).sha
        remote = api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=parent)
        readme = None
        if "README.md" in remote:
            path = hf_hub_download(
                repo_id, "README.md", repo_type=REPO_TYPE, revision=parent, token=api.token
            )
            readme = Path(path).read_text(encoding="utf-8")
        ops = operations(parent, readme, remote)
        try:
            api.create_commit(repo_id, ops, commit_message=message, repo_type=REPO_TYPE, parent_commit=parent)
            return
        except HfHubHTTPError as err:
            if _status(err) not in (409, 412) or attempt == CONFLICT_ATTEMPTS - 1:
                raise
            time.sleep(CONFLICT_BACKOFF * (attempt + 1) * (1 + random.random()))


def _parquet_stats(files: list[Path]) -> tuple[int, int, datasets.Features]:
    import pyarrow.parquet as pq

    rows = num_bytes = 0
    for f in files:
        meta = pq.read_metadata(f)
        rows += meta.num_rows
        num_bytes += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return rows, num_bytes, decoded_features(datasets.Features.from_arrow_schema(pq.read_schema(files[0])))


def _is_stale(path: str, data_dir: str, split: str, shard: tuple[int, int] | None) -> bool:
    """Files of this split to delete: all of them for a full push; for shard I of N, shard I's own
    files and any other layout (a full push, or shards of a different N), but never shard J of N."""
    prefix = f"{data_dir}/{split}-"
    if not path.startswith(prefix) or "/" in path[len(prefix) :]:
        return False
    if shard is None:
        return True
    found = re.match(r"shard(\d{5})-of-(\d{5})-", path[len(prefix) :])
    return not found or int(found[2]) != shard[1] or int(found[1]) == shard[0]


def _set_data_yaml(card, config_name: str, split: str, data_dir: str, features: datasets.Features) -> None:
    """Write `configs` and `dataset_info` for this split as `datasets` does, with summed shard sizes."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs

    data = card.data
    ours = data.pop("hf_vqa")
    shards = ours["data"][config_name][split]["shards"]
    configs = MetadataConfigs.from_dataset_card_data(data)
    files = {}
    for item in configs.get(config_name, {}).get("data_files") or []:
        if isinstance(item, dict):
            files[item["split"]] = item["path"]
    files[split] = f"{data_dir}/{split}-*"
    entry = {
        **configs.get(config_name, {}),
        "data_files": [{"split": s, "path": p} for s, p in files.items()],
    }
    MetadataConfigs({config_name: entry}).to_dataset_card_data(data)
    info = DatasetInfosDict.from_dataset_card_data(data).get(config_name)
    if info is None or info.features != features:
        info = DatasetInfo(features=features, splits=SplitDict())
    tracked = ours["data"][config_name]
    info.splits[split] = SplitInfo(
        name=split, num_bytes=sum(s["num_bytes"] for s in shards), num_examples=sum(s["rows"] for s in shards)
    )
    info.dataset_size = sum(s.num_bytes or 0 for s in info.splits.values())
    if set(info.splits) <= set(tracked) or not info.download_size:  # else: pushed by others, keep theirs
        info.download_size = sum(s["download_size"] for e in tracked.values() for s in e["shards"])
    info.size_in_bytes = None
    DatasetInfosDict({config_name: info}).to_dataset_card_data(data)
    data["hf_vqa"] = ours


def _status(err: BaseException) -> int | None:
    return getattr(getattr(err, "response", None), "status_code", None)


@contextmanager
def _hub_errors(repo_id: str, token: str | None) -> Iterator[None]:
    """Turn any Hub or network failure into one `HubError` line: what, status, how to fix."""
    try:
        yield
    except HubError:
        raise
    except Exception as err:
        from huggingface_hub.errors import HfHubHTTPError

        try:
            from httpx2 import HTTPError as NetError
        except ImportError:  # pragma: no cover - older huggingface_hub
            from httpx import HTTPError as NetError
        if not isinstance(err, (HfHubHTTPError, NetError, ConnectionError)):
            raise
        status = _status(err)
        server = getattr(err, "server_message", None) or str(err).splitlines()[0]
        retry = "nothing local was changed, so retrying re-sends the same files"
        if status in (401, 403, 404):
            what = "the Hub refused the token" if status != 404 else "the repo was not found for this token"
            fix = f"run `hf auth login` or set HF_TOKEN to a token with write access to {repo_id}; {retry}"
        elif status in (409, 412):
            what, fix = "other commits kept changing the repo at the same time", f"retry the push; {retry}"
        elif status is not None and status >= 500:
            what, fix = "the Hub had a server error", f"retry the push in a moment; {retry}"
        elif status is not None:
            what, fix = "the Hub rejected the push", f"check the repo id and the message; {retry}"
        else:
            what = f"could not reach the Hub at {constants.ENDPOINT}"
            fix = f"check the network (and HF_ENDPOINT), then retry; {retry}"
        received = f"HTTP {status}: {server}" if status else f"{type(err).__name__}: {server}"
        received = redact(received.replace(token, "***") if token else received)
        hub_error = HubError(f"push to {repo_id} failed: {what}", received=received, fix=fix, status=status)
        raise hub_error from None


__all__ = ["parse_shard", "push_card", "push_dataset", "push_only", "shards_on_hub"]
