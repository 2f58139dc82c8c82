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

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from huggingface_hub import DatasetCard

from hf_vqa.quality.checks import ROW_CHECKS
from hf_vqa.spec import PIPELINES
from hf_vqa.version import __version__

MARK_START = "<!-- hf_vqa:start -->"
MARK_END = "<!-- hf_vqa:end -->"
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
_DIVERSITY = ("<!-- hf_vqa:diversity -->", "<!-- /hf_vqa:diversity -->")
_COUNT_KEYS = ("failed", "parse_failed", "prompt_tokens", "completion_tokens", "seconds")
_MEANINGS = {check.name: check.meaning for check in ROW_CHECKS}


def _describe(pipeline: str) -> str:
    spec = PIPELINES.get(pipeline)
    return spec.description if spec else "a custom pipeline."


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
        totals = _totals(shards)
        known = {f.name for f in fields(cls)}
        return cls(
            **{k: v for k, v in ours["run"].items() if k in known},
            **{k: totals[k] or 0 for k in ("rows", *_COUNT_KEYS)},
            mock=totals["mock"],
            checks=totals["checks"],
            cost_usd=totals["cost_usd"],
            **_from_block(card.text),
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
    run = _clean({k: getattr(info, k) for k in _RUN_KEYS}) if info else ours.get("run")
    entry = ours.setdefault("data", {}).setdefault(config_name, {}).get(split) or {}
    index, num = shard
    kept = [s for s in entry.get("shards", []) if entry.get("num_shards") == num and s["index"] != index]
    record: dict[str, Any] = {"index": index, "rows": info.rows if rows is None and info else rows or 0}
    record |= {"num_bytes": num_bytes, "download_size": download_size}
    if info:
        record |= {k: getattr(info, k) for k in _COUNT_KEYS} | {"seconds": round(info.seconds, 2)}
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
    totals = _totals(shards)
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
        body = _from_block(card.text)  # prompts and example of the last run that had them
        if info:
            kept = ("example", "diversity")  # a push without them keeps the earlier ones
            body |= _clean({k: getattr(info, k) for k in _BODY_KEYS if k not in kept or getattr(info, k)})
        card.text = _replace_block(
            card.text, _render({**run, **body}, ours["data"], totals, mock=totals["mock"])
        )
    return card


def redact(text: str) -> str:
    """Blank out values of secret-looking environment variables (`*KEY*`, `*TOKEN*`, ...) in `text`.

    Example:
        >>> os.environ["DEMO_API_KEY"] = "sk-demo-123456"; redact("key sk-demo-123456")
        'key ***'
    """
    for name, value in os.environ.items():
        if len(value) >= 8 and re.search(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD", name, re.I):
            text = text.replace(value, "***")
    return text


def scrub_urls(text: str) -> str:
    """Drop credentials and query strings from URLs in `text` (for command lines in a card)."""
    text = re.sub(r"(\w+://)[^/\s@]+@", r"\1", text)
    return re.sub(r"(\w+://[^\s?#'\"]+)[?#][^\s'\"]*", r"\1", text)


def _clean(value: Any) -> Any:
    """`redact` every string in a run's provenance; commands also lose URL credentials."""
    if isinstance(value, dict):
        return {k: scrub_urls(redact(v)) if k == "command" and v else _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return redact(value) if isinstance(value, str) else value


def _totals(shards: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": sum(s.get("rows", 0) for s in shards)}
    for key in _COUNT_KEYS:  # None when some shard was pushed without a RunInfo
        out[key] = None if any(key not in s for s in shards) else sum(s[key] for s in shards)
    costs = [s.get("cost_usd") for s in shards]
    out["cost_usd"] = None if any(c is None for c in costs) else sum(costs)
    out["mock"] = any(s.get("mock") for s in shards)
    out["checks"] = {}
    for s in shards:
        for name, count in (s.get("checks") or {}).items():
            out["checks"][name] = out["checks"].get(name, 0) + count
    out["longest"] = max((s.get("seconds") or 0 for s in shards), default=0)
    out["shards"] = len(shards)
    return out


def _union(first: list | None, second: list | str | None) -> list:
    second = [second] if isinstance(second, str) else list(second or [])
    return list(dict.fromkeys([*(first or []), *second]))


def _num(value: Any) -> str:
    return "?" if value is None else str(value)


def _batch_lines(batch: dict | None) -> list[str]:
    """The card's account of a batch run (mode, window, batch ids, counts, cost at the batch price)."""
    if not batch:
        return []
    ids = ", ".join(f"`{b}`" for b in batch.get("batch_ids") or []) or "none"
    lines = [
        f"- Mode: {batch.get('mode', 'batch')} (OpenAI-style batch API, completion window {batch.get('window', '?')})",
        f"- Batches: {ids}",
        f"- Batch requests: {_num(batch.get('requests'))} submitted, {_num(batch.get('completed'))} answered, "
        f"{_num(batch.get('failed'))} failed",
    ]
    if batch.get("submitted_to_collected_seconds") is not None:
        lines.append(
            f"- Batch wall time (first submit to last collect): {batch['submitted_to_collected_seconds']} s"
        )
    if batch.get("cost_usd") is not None:
        lines.append(f"- Cost at the batch price (x{batch.get('discount', 0.5):g}): ${batch['cost_usd']:.4f}")
    return lines


def _structured_lines(run: dict) -> list[str]:
    """What `--structured` and `--repair-parse` did, for the card's "How it was made"."""
    lines = []
    fmt = (run.get("params") or {}).get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        lines.append(
            "- Structured replies: the pipeline's JSON schema was sent as `response_format` and taken"
        )
    elif "no response_format" in (run.get("adapted") or ""):
        lines.append("- Structured replies: the endpoint rejected `response_format`, so the run fell back to "
                     "free text (the same instruction, parsed as text)")  # fmt: skip
    repair = run.get("repair")
    if isinstance(repair, dict):
        lines.append(f"- Replies repaired (`--repair-parse`): {repair.get('repaired', 0)} of "
                     f"{repair.get('requests', 0)} sent back as text to be reformatted")  # fmt: skip
    return lines


def _render(run: dict, data: dict, totals: dict, *, mock: bool) -> str:
    lines = [MARK_START, f"# {run['pipeline']} data made with hf_vqa", ""]
    if mock:
        lines += ["> **Mock data.** Answers came from hf_vqa's bundled mock VLM, not a real model.", ""]
    lines += [
        "## How it was made",
        "",
        f"- Pipeline: `{run['pipeline']}`: {_describe(run['pipeline'])}",
        f"- Model: `{run['model']}` at `{run['endpoint_host']}`",
        f"- Generation parameters sent: `{json.dumps(run.get('params') or {}, sort_keys=True, ensure_ascii=False)}`",
        *([f"- Adapted to what the endpoint accepts: {run['adapted']}"] if run.get("adapted") else []),
        *_structured_lines(run),
        f"- hf_vqa version: {__version__}",
        "",
        "## Counts",
        "",
    ]
    checks = sorted(totals["checks"])
    head = ["config", "split", "shards", "rows", "failed", "parse failures", *checks]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for config_name, splits in sorted(data.items()):
        for split, entry in sorted(splits.items()):
            t = _totals(entry["shards"])
            cells = [config_name, split, f"{len(entry['shards'])}/{entry['num_shards']}", t["rows"]]
            cells += [_num(t["failed"]), _num(t["parse_failed"]), *(t["checks"].get(c, 0) for c in checks)]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines.append("")
    for name in checks:
        lines.append(f"- {name}: rows where {_MEANINGS.get(name, name)}")
    tokens = (totals["prompt_tokens"], totals["completion_tokens"])
    lines.append(f"- Tokens: {_num(tokens[0])} prompt + {_num(tokens[1])} completion")
    seconds = "?" if totals["seconds"] is None else f"{totals['seconds']:.1f} s"
    if totals["shards"] > 1 and totals["seconds"] is not None:
        seconds += f" summed over {totals['shards']} shards (longest {totals['longest']:.1f} s)"
    lines.append(f"- Wall time: {seconds}")
    if totals["cost_usd"] is not None:
        lines.append(f"- Estimated cost: ${totals['cost_usd']:.4f}")
    lines += _batch_lines(run.get("batch"))
    if run.get("verification"):
        from hf_vqa.quality.summary import card_lines

        lines += ["", *card_lines(run["verification"])]
    if run.get("diversity"):
        lines += ["", "## Diversity and shape", "", _DIVERSITY[0], run["diversity"], _DIVERSITY[1]]
    for title, text in (("System prompt", run.get("system_prompt")), ("Instruction", run.get("prompt"))):
        if text:
            lines += ["", f"### {title}", "", "````text", text, "````"]
    if run.get("command"):
        lines += ["", "### Reproduce", "", "```bash", scrub_urls(run["command"]), "```"]
        if any(e["num_shards"] > 1 for splits in data.values() for e in splits.values()):
            lines += ["", "Each shard was made with this command and its own `--shard I/N`."]
    if run.get("example"):
        text = json.dumps(run["example"], indent=2, ensure_ascii=False)
        lines += ["", "## Example row", "", "```json", text, "```"]
    return "\n".join([*lines, MARK_END])


def _replace_block(text: str, block: str) -> str:
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start != -1 and end > start:
        return text[:start] + block + text[end + len(MARK_END) :]
    return (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"


def _from_block(text: str) -> dict[str, Any]:
    """The prompts and the example row written in an existing generated block (None when absent)."""
    start, end = text.find(MARK_START), text.find(MARK_END)
    block = text[start:end] if start != -1 and end > start else ""
    out: dict[str, Any] = {}
    for key, title in (("system_prompt", "System prompt"), ("prompt", "Instruction")):
        found = re.search(rf"### {title}\n\n````text\n(.*?)\n````\n", block + "\n", re.S)
        out[key] = found.group(1) if found else None
    found = re.search(re.escape(_DIVERSITY[0]) + r"\n(.*?)\n" + re.escape(_DIVERSITY[1]), block, re.S)
    out["diversity"] = found.group(1) if found else None
    found = re.search(r"## Example row\n\n```json\n(.*?)\n```", block, re.S)
    try:
        out["example"] = json.loads(found.group(1)) if found else None
    except ValueError:
        out["example"] = None
    return out


__all__ = [
    "MARK_END",
    "MARK_START",
    "RunInfo",
    "asdict",
    "build_card",
    "redact",
    "scrub_urls",
    "size_category",
    "update_card",
]


HUMAN_REVIEW = ("<!-- hf_vqa:human-review -->", "<!-- /hf_vqa:human-review -->")


def human_review_section(report: dict, *, source: str, rows: int) -> str:
    """The card's "Human review" section: reviewed / approved / fixed counts from a review import.

    Example:
        >>> print(human_review_section({"rows_reviewed": 2, "pairs_reviewed": 4, "approved": 3, "rejected": 1,
        ...       "with_fix": 1, "pairs": 10}, source="review.json", rows=5).splitlines()[3])
        People reviewed 4 of 10 pairs in 2 of 5 rows (source: review.json).
    """
    r = {k: report.get(k) or 0 for k in ("rows_reviewed", "pairs_reviewed", "pairs", "approved", "rejected",
                                         "undecided", "with_fix", "needs_image", "fixes_applied", "annotations",
                                         "annotated_tasks", "stale_tasks")}  # fmt: skip
    lines = ["## Human review", "",
             f"People reviewed {r['pairs_reviewed']} of {r['pairs']} pairs in {r['rows_reviewed']} of {rows} rows "
             f"(source: {scrub_urls(redact(source))}).", "",
             "| reviewed | approved (correct) | incorrect | undecided | with a corrected answer | needs the image |",
             "|---|---|---|---|---|---|",
             f"| {r['pairs_reviewed']} | {r['approved']} | {r['rejected']} | {r['undecided']} | {r['with_fix']} "
             f"| {r['needs_image']} |", "",
             f"- Annotations: {r['annotations']} on {r['annotated_tasks']} task(s); several people on one pair: "
             f"majority vote (`qa_human[k].votes`); stale tasks left out: {r['stale_tasks']}",
             "- Per pair: the `qa_human` column (`correct`, `needs_image`, `fixed_answer`, `annotators`, `votes`; "
             "null where nobody answered)"]  # fmt: skip
    if r["fixes_applied"]:
        lines.append(f"- Fixed: {r['fixes_applied']} answer(s) replaced by people's corrections "
                     "(`--apply-fixes`; the old answers are in `qa_human_fixes`)")  # fmt: skip
    kept = report.get("filter") or {}
    if kept:
        lines.append(f"- `--filter human-approved`: {kept.get('pairs_dropped', 0)} pair(s) people marked incorrect "
                     f"dropped, {kept.get('rows_dropped', 0)} row(s) left without pairs dropped; "
                     f"{kept.get('unreviewed_kept', 0)} unreviewed or undecided pair(s) kept")  # fmt: skip
    if report.get("agreement"):
        lines.append(f"- The verify pass's {report['agreement']}")
    return "\n".join([HUMAN_REVIEW[0], *lines, HUMAN_REVIEW[1]])


def with_human_review(text: str, report: dict, *, source: str, rows: int) -> str:
    """`text` (a card) with its "Human review" section replaced, or added at the end."""
    block = human_review_section(report, source=source, rows=rows)
    start, end = text.find(HUMAN_REVIEW[0]), text.find(HUMAN_REVIEW[1])
    if start != -1 and end > start:
        return text[:start] + block + text[end + len(HUMAN_REVIEW[1]) :]
    return (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
