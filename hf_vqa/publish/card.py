"""The dataset card: YAML metadata plus a body that says how the data was made.

Built with `huggingface_hub.DatasetCard`. The generated body sits between `MARK_START` and `MARK_END`;
`update_card` replaces only that block and only hf_vqa's YAML keys, so user-written sections, user YAML
keys and the `configs`/`dataset_info` that `datasets` writes survive a second push. Per-shard counts
live in the YAML under `hf_vqa`, so the totals of N machines pushing shards of one dataset add up.
Secrets never reach it: the endpoint appears as its host only, URLs in the command lose credentials
and queries, and the values of `*KEY*`/`*TOKEN*`/`*SECRET*` environment variables are blanked out.

Example:
    >>> info = RunInfo(pipeline="image-vqa", model="m", endpoint_host="localhost", rows=2, failed=0)
    >>> card = build_card(info)
    >>> "image-vqa" in card.text, card.data.task_categories
    (True, ['visual-question-answering'])
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from huggingface_hub import DatasetCard

from hf_vqa.publish.card_body import COUNT_KEYS, from_block, render, replace_block, shard_totals
from hf_vqa.publish.card_secrets import clean
from hf_vqa.spec import PIPELINES
from hf_vqa.version import __version__

_RUN_KEYS = (
    "pipeline",
    "model",
    "endpoint_host",
    "params",
    "adapted",
    "repair",
    "command",
    "batch",
    "verification",
)  # in the YAML; the rest in the body
_BODY_KEYS = ("system_prompt", "prompt", "example", "diversity")


@dataclass
class RunInfo:
    """What a card tells about one run. Plain data; filled in by the CLI or by hand."""

    pipeline: str
    model: str
    endpoint_host: str
    rows: int
    failed: int
    parse_failed: int = 0
    mock: bool = False
    system_prompt: str | None = None
    prompt: str | None = None
    params: dict = field(default_factory=dict)
    adapted: str = (
        ""  # what the endpoint made us change, e.g. "no temperature, max_tokens→max_completion_tokens"
    )
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    command: str = ""
    checks: dict = field(default_factory=dict)
    cost_usd: float | None = None
    example: dict | None = None
    diversity: str | None = None  # the "Diversity and shape" section (hf_vqa.quality.diversity, --dedupe)
    license: str = "other"
    language: list[str] = field(default_factory=lambda: ["en"])
    split: str = "train"
    batch: dict | None = None  # batch mode: {mode, window, batch_ids, requests, completed, failed, cost_usd}
    run_key: str | None = None  # identifies a sharded run, so a rerun skips the shards already pushed
    verification: dict | None = None  # the verify/blind passes: judge, votes, counts, filters, agreement
    repair: dict | None = None  # --repair-parse: {requests, repaired}

    @classmethod
    def from_run(cls, pipeline: str, vlm: Any, summary: Any, **fields: Any) -> RunInfo:
        """A RunInfo from a `VLM` and the `Summary` that `run_pipeline` returns; `fields` override.

        Example:
            >>> ds, summary = hf_vqa.pipeline.run_pipeline(ds, "image-vqa", vlm=vlm)  # doctest: +SKIP
            >>> info = RunInfo.from_run("image-vqa", vlm, summary, license="cc-by-4.0")  # doctest: +SKIP
        """
        counts = (
            "rows",
            "failed",
            "parse_failed",
            "prompt_tokens",
            "completion_tokens",
            "seconds",
            "cost_usd",
        )
        base = {k: getattr(summary, k) for k in counts} | {"checks": dict(summary.checks)}
        from hf_vqa.engine.adapt import Adaptations, record_path

        if pipeline in PIPELINES and hasattr(vlm, "structured"):
            vlm = PIPELINES[pipeline].vlm_for(vlm)  # as run_pipeline sent it
        adapted = Adaptations.load(record_path(vlm.cache_folder, vlm.base_url, vlm.model))
        sent = adapted.apply(vlm.generation_params())  # what was actually sent, after adapting
        if isinstance(sent.get("response_format"), dict):  # the schema itself is long: its type and name
            fmt = sent["response_format"]
            sent["response_format"] = {"type": fmt.get("type"), **({"name": fmt["json_schema"].get("name")}
                                       if isinstance(fmt.get("json_schema"), dict) else {})}  # fmt: skip
        if getattr(summary, "repair_requests", 0):
            base["repair"] = {"requests": summary.repair_requests, "repaired": summary.repaired}
        base |= {"model": vlm.model, "endpoint_host": vlm.host, "params": sent, "adapted": adapted.describe()}
        return cls(pipeline=pipeline, **{**base, **fields})

    @classmethod
    def from_card(cls, card: DatasetCard | str) -> RunInfo | None:
        """The run a card describes (counts summed over its splits and shards), or None.

        Example:
            >>> RunInfo.from_card(build_card(RunInfo("image-vqa", "m", "h", rows=3, failed=1))).failed
            1
        """
        card = card if isinstance(card, DatasetCard) else DatasetCard(card)
        meta = card.data.to_dict()
        ours = meta.get("hf_vqa") or {}
        if not isinstance(ours.get("run"), dict):
            return None
        shards = [
            s for splits in (ours.get("data") or {}).values() for e in splits.values() for s in e["shards"]
        ]
        totals = shard_totals(shards)
        known = {f.name for f in fields(cls)}
        return cls(
            **{k: v for k, v in ours["run"].items() if k in known},
            **{k: totals[k] or 0 for k in ("rows", *COUNT_KEYS)},
            mock=totals["mock"],
            checks=totals["checks"],
            cost_usd=totals["cost_usd"],
            **from_block(card.text),
            license=meta.get("license") or "other",
            language=meta.get("language") or ["en"],
        )


def size_category(n: int) -> str:
    """The Hub's `size_categories` bucket for `n` rows."""
    names = ["n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B"]
    for power, name in enumerate(names, start=3):
        if n < 10**power:
            return name
    return "1B<n<10B"


AUTO_SPLITS = ("train", "validation", "test")  # what `datasets` reads from data/<split>-* with no `configs`


def build_card(info: RunInfo, *, config_name: str = "default", existing: str | None = None) -> DatasetCard:
    """A fresh card for a local output folder: YAML header, and the generated body.

    For the splits `datasets` finds on its own in `data/<split>-*` (train, validation, test) and the
    default config, the card has no `configs` block: with one, `datasets.load_dataset(folder)` keys
    its cache on the block's patterns and keeps returning the first version of the data after the
    folder is rewritten; without, it keys on the files themselves. Pushes write `configs` on the Hub.

    `existing` is the folder's current card (a rerun): it is merged as pushes merge (`update_card`),
    so the user's text outside the hf_vqa block and their YAML keys (a changed license) survive.
    """
    if existing is not None:
        return update_card(existing, info, config_name=config_name, split=info.split)
    card = update_card(None, info, config_name=config_name, split=info.split)
    if config_name != "default" or info.split not in AUTO_SPLITS:
        ours = card.data.pop("hf_vqa")
        card.data["configs"] = [
            {
                "config_name": config_name,
                "data_files": [{"split": info.split, "path": f"data/{info.split}-*"}],
            }
        ]
        card.data["hf_vqa"] = ours
    return card


def update_card(
    existing: str | None,
    info: RunInfo | None,
    *,
    config_name: str = "default",
    split: str = "train",
    shard: tuple[int, int] = (0, 1),
    rows: int | None = None,
    num_bytes: int = 0,
    download_size: int = 0,
) -> DatasetCard:
    """Merge one push (shard `shard` of `split`, with `info` if known) into an existing card's text.

    Keeps every YAML key hf_vqa does not own and everything outside the `MARK_START`/`MARK_END` block.

    Example:
        >>> old = "---\\nfoo: 1\\n---\\n# Mine\\n"
        >>> new = update_card(old, RunInfo("image-vqa", "m", "h", rows=1, failed=0))
        >>> new.data.foo, new.text.startswith("# Mine")
        (1, True)
    """
    card = DatasetCard(existing if existing and existing.strip() else "---\n{}\n---\n")
    meta = card.data
    ours = meta.pop("hf_vqa") if isinstance(meta.get("hf_vqa"), dict) else {}
    run = clean({k: getattr(info, k) for k in _RUN_KEYS}) if info else ours.get("run")
    entry = ours.setdefault("data", {}).setdefault(config_name, {}).get(split) or {}
    index, num = shard
    kept = [s for s in entry.get("shards", []) if entry.get("num_shards") == num and s["index"] != index]
    record: dict[str, Any] = {"index": index, "rows": info.rows if rows is None and info else rows or 0}
    record |= {"num_bytes": num_bytes, "download_size": download_size}
    if info:
        record |= {k: getattr(info, k) for k in COUNT_KEYS} | {"seconds": round(info.seconds, 2)}
        cost = None if info.cost_usd is None else round(info.cost_usd, 6)
        record |= {"cost_usd": cost, "checks": dict(info.checks), "mock": info.mock}
        if info.run_key:
            record["run_key"] = info.run_key
    ours["data"][config_name][split] = {
        "num_shards": num,
        "shards": sorted([*kept, record], key=lambda s: s["index"]),
    }
    ours["version"] = __version__
    if run is not None:
        ours["run"] = run
    shards = [s for splits in ours["data"].values() for e in splits.values() for s in e["shards"]]
    totals = shard_totals(shards)
    meta["task_categories"] = _union(["visual-question-answering"], meta.get("task_categories"))
    meta["size_categories"] = [size_category(totals["rows"])]
    tags = [t for t in _union(["synthetic", "hf-vqa"], meta.get("tags")) if t != "mock"]
    meta["tags"] = [*tags, "mock"] if totals["mock"] else tags
    if info:
        if info.license != "other" or not meta.get("license"):
            meta["license"] = info.license  # the default never replaces a license already chosen
        meta["language"] = _union(info.language, meta.get("language"))
    meta["hf_vqa"] = ours  # last in the YAML header
    if run is not None:
        body = from_block(card.text)  # prompts and example of the last run that had them
        if info:
            kept = ("example", "diversity")  # a push without them keeps the earlier ones
            body |= clean({k: getattr(info, k) for k in _BODY_KEYS if k not in kept or getattr(info, k)})
        card.text = replace_block(
            card.text, render({**run, **body}, ours["data"], totals, mock=totals["mock"])
        )
    return card


def _union(first: list | None, second: list | str | None) -> list:
    second = [second] if isinstance(second, str) else list(second or [])
    return list(dict.fromkeys([*(first or []), *second]))


__all__ = ["AUTO_SPLITS", "RunInfo", "build_card", "size_category", "update_card"]
