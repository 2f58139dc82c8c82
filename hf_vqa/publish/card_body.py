"""The generated block of a dataset card: its Markdown, read back, and the counts summed over shards.

Everything hf_vqa writes in a card's body sits between `MARK_START` and `MARK_END`; `render` writes it from
the run's provenance and the per-shard counts in the YAML, `from_block` reads the prompts, the example and
the diversity section back (so a push without them keeps the earlier ones), `replace_block` swaps it in.

Example:
    >>> replace_block("# Mine\\n", "B").endswith("B\\n")
    True
"""

from __future__ import annotations

import json
import re
from typing import Any

from hf_vqa.publish.card_secrets import scrub_urls
from hf_vqa.quality.checks import ROW_CHECKS
from hf_vqa.spec import PIPELINES
from hf_vqa.version import __version__

MARK_START = "<!-- hf_vqa:start -->"


MARK_END = "<!-- hf_vqa:end -->"


_DIVERSITY = ("<!-- hf_vqa:diversity -->", "<!-- /hf_vqa:diversity -->")


COUNT_KEYS = ("failed", "parse_failed", "prompt_tokens", "completion_tokens", "seconds")


_MEANINGS = {check.name: check.meaning for check in ROW_CHECKS}


def _describe(pipeline: str) -> str:
    spec = PIPELINES.get(pipeline)
    return spec.description if spec else "a custom pipeline."


def shard_totals(shards: list[dict]) -> dict[str, Any]:
    """Rows and counts summed over the shards in the YAML (a count is None when some shard lacks it)."""
    out: dict[str, Any] = {"rows": sum(s.get("rows", 0) for s in shards)}
    for key in COUNT_KEYS:  # None when some shard was pushed without a RunInfo
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


def render(run: dict, data: dict, totals: dict, *, mock: bool) -> str:
    """The generated block (markers included) from a run's provenance and its per-split shard counts."""
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
            t = shard_totals(entry["shards"])
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


def replace_block(text: str, block: str) -> str:
    """`text` with its generated block replaced by `block`, or `block` added at the end."""
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start != -1 and end > start:
        return text[:start] + block + text[end + len(MARK_END) :]
    return (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"


def from_block(text: str) -> dict[str, Any]:
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
