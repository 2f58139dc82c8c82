"""The dataset card: YAML metadata plus a body that says how the data was made.

Built with `huggingface_hub.DatasetCard`. Secrets never reach it: the endpoint appears as its host
only, and the API key is never read here.

Example:
    >>> info = RunInfo(pipeline="image-vqa", model="m", endpoint_host="localhost", rows=2, failed=0)
    >>> "image-vqa" in build_card(info).content
    True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from huggingface_hub import DatasetCard

from . import __version__


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
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    command: str = ""
    checks: dict = field(default_factory=dict)
    cost_usd: float | None = None
    example: dict | None = None
    license: str = "other"
    language: list[str] = field(default_factory=lambda: ["en"])
    split: str = "train"


def size_category(n: int) -> str:
    """The Hub's `size_categories` bucket for `n` rows."""
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "n>1M"


def build_card(info: RunInfo) -> DatasetCard:
    """A `DatasetCard` for a run: YAML header and a body with provenance and counts."""
    meta = {
        "license": info.license,
        "task_categories": ["visual-question-answering"],
        "language": info.language,
        "size_categories": [size_category(info.rows)],
        "tags": ["synthetic", "hf-vqa"] + (["mock"] if info.mock else []),
        "configs": [
            {"config_name": "default", "data_files": [{"split": info.split, "path": f"data/{info.split}-*"}]}
        ],
    }
    header = "---\n" + _yaml(meta) + "---\n"
    lines = [
        f"# {info.pipeline} data made with hf_vqa",
        "",
    ]
    if info.mock:
        lines += ["> **Mock data.** Answers came from hf_vqa's bundled mock VLM, not a real model.", ""]
    ok = info.rows - info.failed
    lines += [
        "## How it was made",
        "",
        f"- Pipeline: `{info.pipeline}` (hf_vqa {__version__})",
        f"- Model: `{info.model}` at `{info.endpoint_host}`",
        f"- Generation parameters: `{json.dumps(info.params, sort_keys=True)}`",
        f"- Rows: {info.rows} ({ok} succeeded, {info.failed} failed, {info.parse_failed} unparsed)",
        f"- Tokens: {info.prompt_tokens} prompt + {info.completion_tokens} completion",
        f"- Wall time: {info.seconds:.1f} s",
    ]
    if info.cost_usd is not None:
        lines.append(f"- Estimated cost: ${info.cost_usd:.4f}")
    for name, count in info.checks.items():
        lines.append(f"- {name}: {count}")
    for title, text in (("System prompt", info.system_prompt), ("Instruction", info.prompt)):
        if text:
            lines += ["", f"### {title}", "", "```text", text, "```"]
    if info.command:
        lines += ["", "### Reproduce", "", "```bash", info.command, "```"]
    if info.example:
        lines += [
            "",
            "## Example row",
            "",
            "```json",
            json.dumps(info.example, indent=2, ensure_ascii=False),
            "```",
        ]
    return DatasetCard(header + "\n".join(lines) + "\n")


def _yaml(meta: dict) -> str:
    import yaml  # a dependency of datasets and huggingface_hub

    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


__all__ = ["RunInfo", "asdict", "build_card", "size_category"]
