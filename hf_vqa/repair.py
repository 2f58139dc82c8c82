"""`repair_parse`: a second chance for replies that did not parse (`--repair-parse`), as a batched map step.

A reply that gave no pairs, or lost its last pair because it was cut off (``finish_reason: length``), is
sent back as text only (no image) with the pipeline's JSON schema, asking only to reformat it
(`hf_vqa.prompts.REPAIR_PROMPT`, `response_format` json_schema). It goes through the same engine and
request store as generation, under its own keys, so a rerun reads the stored repairs back and sends
nothing. When the repaired text parses (into more pairs than before), the row's refined columns are
replaced and `repaired` is True; the repair's text and usage are kept in `vqa_repair` / `vqa_repair_usage`.

Example:
    >>> ds = ds.map(repair_parse, batched=True, fn_kwargs={"vlm": vlm, "pipeline": "image-vqa"})  # doctest: +SKIP
    >>> ds[0]["repaired"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from typing import Any

from datasets import Value

from hf_vqa import refine as refiners
from hf_vqa.config import VLM
from hf_vqa.engine.client import get_engine
from hf_vqa.engine.outcomes import USAGE_TYPES, Reply
from hf_vqa.errors import EndpointError, HfVqaError, ParseError
from hf_vqa.parse.reply import parse_qa_pairs, parse_wiki_qa
from hf_vqa.prompts import REPAIR_PROMPT
from hf_vqa.runner.rows import row_request
from hf_vqa.schema import declares, string_column
from hf_vqa.spec import PipelineSpec, get_spec

__all__ = ["STEP_VERSION", "needs_repair", "repair_parse", "repair_request"]

STEP_VERSION = "1"
_NO_CONVERSATION = "\x00hf_vqa:no-conversation"  # a column no row has: the repair prompt is the only turn


def _columns(**_: Any) -> dict[str, Any]:
    usage = {name: Value(dtype) for name, dtype in USAGE_TYPES.items()}
    return {"repaired": Value("bool"), "vqa_repair": Value("string"), "vqa_repair_usage": usage}


def _pair_count(text: str, spec: PipelineSpec, truncated: bool) -> int:
    try:
        if spec.refine == "refine_qa_pairs":
            return len(parse_qa_pairs(text, truncated=truncated))
        return len(parse_wiki_qa(text, truncated=truncated).qas)
    except ParseError:
        return 0


def needs_repair(text: str | None, parsed: Any, usage: dict | None, spec: PipelineSpec) -> bool:
    """True for a reply that gave no pairs, or whose last pair was dropped because the reply was cut off.

    Example:
        >>> needs_repair("The answer is red.", None, None, get_spec("image-vqa"))
        True
        >>> needs_repair("Q: Colour?\\nA: Red", [{"question": "Colour?", "answer": "Red"}], None, get_spec("image-vqa"))
        False
    """
    if text is None or not text.strip():
        return False
    if parsed is None:
        return True
    if not usage or usage.get("finish_reason") != "length":
        return False
    return _pair_count(text, spec, True) < _pair_count(text, spec, False)


def repair_request(text: str, spec: PipelineSpec, vlm: VLM):
    """The text-only request that asks `vlm` to reformat `text` into `spec`'s JSON schema."""
    schema = json.dumps(spec.json_format["json_schema"]["schema"], ensure_ascii=False)
    context = "context" in spec.json_format["json_schema"]["schema"]["properties"]
    prompt = REPAIR_PROMPT.format(article=" and an article (`context`)" if context else "", schema=schema,
                                  and_article=" and the article" if context else "", reply=text)  # fmt: skip
    return row_request({}, vlm, [], prompt=prompt, conversation_key=_NO_CONVERSATION,
                       response_format=spec.json_format)  # fmt: skip


@declares(_columns)
def repair_parse(
    batch: dict[str, list],
    *,
    vlm: VLM,
    pipeline: str,
    language: str = "en",
    version: str = STEP_VERSION,
) -> dict[str, Any]:
    """Send the replies that did not parse back to be reformatted; use with `ds.map(..., batched=True)`
    after the refine step. Rows that need no repair pass through (`repaired` False)."""
    del version
    spec = get_spec(pipeline)
    refine = getattr(refiners, spec.refine)
    refined = spec.refined
    n = len(batch["vqa"])
    usages = batch.get("vqa_usage") or [None] * n
    engine = get_engine(vlm)
    pending: list[Any] = []
    for i in range(n):
        if not needs_repair(batch["vqa"][i], batch[refined][i], usages[i], spec):
            pending.append(None)
            continue
        try:
            request = repair_request(batch["vqa"][i], spec, vlm)
            pending.append(engine.submit(request.key, request.template, request.payload))
        except HfVqaError as err:
            pending.append(Reply.failed(str(err)))
    replies = [p if p is None or isinstance(p, Reply) else p.result() for p in pending]
    engine.publish_progress()
    if engine.guard.stopped:
        raise EndpointError(engine.guard.stopped)
    out: dict[str, Any] = {key: list(values) for key, values in batch.items() if _refine_output(key, refined)}
    out |= {"repaired": [False] * n, "vqa_repair": [None] * n, "vqa_repair_usage": [None] * n}
    for i, reply in enumerate(replies):
        if reply is None:
            continue
        out["vqa_repair"][i], out["vqa_repair_usage"][i] = reply.text, reply.usage()
        if reply.text is None:
            continue
        before = len(_pairs_of(batch[refined][i]))
        new = refine({"vqa": reply.text}, language=language)
        if new[f"{refined}_error"] is None and len(_pairs_of(new[refined])) > before:
            for key in out:
                if key in new:
                    out[key][i] = new[key]
            out["repaired"][i] = True
    out["vqa_repair"] = string_column(out["vqa_repair"])
    out[f"{refined}_error"] = string_column(out[f"{refined}_error"])
    return out


def _refine_output(key: str, refined: str) -> bool:
    from hf_vqa.quality.checks import PAIR_CHECKS, ROW_CHECKS

    return key in (refined, f"{refined}_error", PAIR_CHECKS) or key in {c.column for c in ROW_CHECKS}


def _pairs_of(value: Any) -> list:
    if value is None:
        return []
    return value.get("qas") or [] if isinstance(value, dict) else list(value)
