"""`prompted_vqa`: the generation step, a batched map function for `datasets.Dataset.map`.

Everything that should invalidate the cache is plain data in `fn_kwargs` (the `VLM`, the prompts,
the keys); the client lives in the per-process engine (`client.py`), never in `fn_kwargs`.

Example:
    >>> ds = ds.map(  # doctest: +SKIP
    ...     hf_vqa.prompted_vqa,
    ...     batched=True,
    ...     fn_kwargs={"vlm": hf_vqa.VLM(model="gpt-4o-mini"), "prompt": "Ask and answer 3 questions."},
    ... )
    >>> ds[0]["vqa"], ds[0]["vqa_error"]  # doctest: +SKIP
    ('Q1: ...', None)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .client import Reply, get_engine
from .config import VLM
from .errors import ConfigError, HfVqaError, one_line
from .images import FetchSettings, ImageSettings, prepare_image
from .messages import build_request
from .schema import string_column

STEP_VERSION = "1"  # bump when the step's output for the same input changes


def prompted_vqa(
    batch: dict[str, list],
    *,
    vlm: VLM,
    system_prompt: str | None = None,
    prompt: str | None = None,
    image_key: str | None = "image",
    conversation_key: str = "conversation",
    output_key: str = "vqa",
    response_format: dict | None = None,
    keep_existing: bool = False,
    version: str = STEP_VERSION,
) -> dict[str, Any]:
    """Ask the VLM about each row's image(s); use with `ds.map(..., batched=True)`.

    Adds `<output_key>` (the raw reply text, or None), `<output_key>_error` (a one-line reason, or
    None) and `<output_key>_usage` (`{prompt_tokens, completion_tokens, attempts, finish_reason,
    cached}`). A failed row keeps its place; nothing is raised for a per-row failure.

    `prompt` is the instruction for rows without a human turn; `system_prompt` is sent first.
    `response_format` is passed through (e.g. a JSON schema) for endpoints that support it.
    `keep_existing=True` keeps rows that already have a non-null `<output_key>` (from an earlier
    run's output) and asks again only for the others: that is how failed rows are retried.
    """
    del version  # only part of the cache fingerprint
    if not isinstance(vlm, VLM):
        raise ConfigError(
            "vlm must be an hf_vqa.VLM", received=type(vlm).__name__, fix="fn_kwargs={'vlm': VLM(...)}"
        )
    n = len(next(iter(batch.values()))) if batch else 0
    if image_key and image_key not in batch:
        raise ConfigError(
            f"no image column {image_key!r} in the dataset",
            received=sorted(batch),
            fix="pass image_key=<your image column> (or image_key=None for text-only rows)",
        )
    engine = get_engine(vlm)
    settings = image_settings(vlm)
    conversations = batch.get(conversation_key) or [None] * n
    pending: list[Any] = [None] * n
    if keep_existing and output_key in batch:
        for i, (text, usage) in enumerate(zip(batch[output_key], batch.get(f"{output_key}_usage") or [None] * n)):
            if text is not None:
                usage = usage or {}
                pending[i] = Reply(text, None, usage.get("finish_reason") or "", usage.get("prompt_tokens") or 0,
                                   usage.get("completion_tokens") or 0, usage.get("attempts") or 0, cached=True)  # fmt: skip
    for i in range(n):
        if pending[i] is not None:
            continue
        try:
            images = [
                prepare_image(v, settings) for v in _as_list(batch[image_key][i] if image_key else None)
            ]
            request = build_request(
                conversations[i],
                images,
                model=vlm.model,
                params=vlm.generation_params(),
                system_prompt=system_prompt,
                prompt=prompt,
                response_format=response_format,
                endpoint=vlm.base_url,
            )
            pending[i] = engine.submit(request.key, request.body)
        except HfVqaError as err:
            pending[i] = Reply(None, one_line(str(err)))
            engine.stats.prep_failed += 1
        except Exception as err:  # a row never aborts the map
            pending[i] = Reply(None, one_line(f"{type(err).__name__}: {err}"))
            engine.stats.prep_failed += 1
    replies: list[Reply] = [p if isinstance(p, Reply) else p.result() for p in pending]
    engine.publish_progress()
    return {
        output_key: string_column([r.text for r in replies]),
        f"{output_key}_error": string_column([r.error for r in replies]),
        f"{output_key}_usage": [
            {
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "attempts": r.attempts,
                "finish_reason": r.finish_reason or "",
                "cached": r.cached,
            }
            for r in replies
        ],
    }


def image_settings(vlm: VLM) -> ImageSettings:
    """The image caps and URL-fetch rules a `VLM` asks for."""
    return ImageSettings(
        max_side=vlm.max_image_side,
        max_pixels=vlm.max_image_pixels,
        url=FetchSettings(timeout=vlm.url_timeout, allow_private=vlm.allow_private_urls),
    )


def _as_list(value: Any) -> Sequence[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return value
    return [value]
