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

import concurrent.futures
import dataclasses
import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hf_vqa.config import VLM
from hf_vqa.engine.client import Engine, get_engine
from hf_vqa.engine.outcomes import Reply
from hf_vqa.errors import ConfigError, EndpointError, HfVqaError, one_line
from hf_vqa.messages import Request
from hf_vqa.runner.lookahead import CHUNK, Source, get_prefetcher
from hf_vqa.runner.rows import image_settings, row_images, row_request  # re-exported: the row's request
from hf_vqa.schema import declares, string_column, vqa_columns

__all__ = [
    "STEP_VERSION",
    "image_settings",
    "prefetch_key",
    "prompted_vqa",
    "row_images",
    "row_request",
    "row_settings",
    "row_submitter",
]

STEP_VERSION = "2"  # bump when the step's output for the same input changes


@declares(vqa_columns)
def prompted_vqa(
    batch: dict[str, list],
    indices: list[int] | None = None,
    rank: int | None = None,
    *,
    vlm: VLM,
    system_prompt: str | None = None,
    prompt: str | None = None,
    image_key: str | None = "image",
    conversation_key: str = "conversation",
    output_key: str = "vqa",
    response_format: dict | None = None,
    keep_existing: bool = False,
    lookahead: Source | None = None,
    store_only: bool = False,
    batch_errors: dict[str, str] | None = None,
    version: str = STEP_VERSION,
) -> dict[str, Any]:
    """Ask the VLM about each row's image(s); use with `ds.map(..., batched=True)`.

    Adds `<output_key>` (the raw reply text, or None), `<output_key>_reasoning` (the model's
    reasoning: ``reasoning_content`` or a leading ``<think>`` block, kept out of the answer),
    `<output_key>_error` (a one-line reason, or None) and `<output_key>_usage` (`{prompt_tokens,
    completion_tokens, attempts, finish_reason, cached}`). A failed row keeps its place; nothing is
    raised for a per-row failure. A run-level refusal (401/403/404, or the same 400 for the first
    requests) raises `EndpointError`: nothing more is sent.

    `prompt` is the instruction for rows without a human turn; `system_prompt` is sent first.
    `response_format` is passed through (e.g. a JSON schema) for endpoints that support it.
    `keep_existing=True` keeps rows that already have a non-null `<output_key>` (from an earlier
    run's output) and asks again only for the others: that is how failed rows are retried.
    `lookahead` (with `with_indices=True, with_rank=True`) keeps requests flowing across batch
    boundaries; `run_pipeline` sets it up (see `runner/lookahead.py`).
    `store_only=True` sends nothing: every reply comes from the request store (a batch run's
    collected output); a request missing there gets its `batch_errors[key]` (or "not collected")
    as the row's error. With `keep_existing=True` too, a failed row takes the reply the store holds
    for it (recovered by a later `--retry-failed`), else it stays as it was.
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
    row_kwargs = row_settings(system_prompt=system_prompt, prompt=prompt, image_key=image_key,
                              conversation_key=conversation_key, output_key=output_key,
                              response_format=response_format, keep_existing=keep_existing,
                              store_only=store_only, batch_errors=batch_errors)  # fmt: skip

    def submit(rows: list[dict], raise_config: bool = False) -> list[Reply | Any]:
        return _submit_rows(rows, engine, vlm, **row_kwargs, raise_config=raise_config)

    def row_at(i: int) -> dict:
        return {column: values[i] for column, values in batch.items()}

    settings_key = prefetch_key(vlm, row_kwargs)  # this map's settings: the lookahead and the spool check it
    prefetcher = None
    if lookahead is not None and indices is not None and n:
        prefetcher = get_prefetcher(lookahead, rank, indices[0], submit, settings_key)
    pending: list[Any] = [None] * n
    ahead = [i for i in range(n) if prefetcher is not None and prefetcher.covers(indices[i])]  # type: ignore[index]
    if ahead:  # submitted by the lookahead thread: taken all at once (None: not this row's request)
        taken = prefetcher.take_many([indices[i] for i in ahead], row=lambda j: row_at(ahead[j]))  # type: ignore[union-attr,index]
        for i, result in zip(ahead, taken):
            pending[i] = result
    own = [i for i in range(n) if pending[i] is None]
    for i, result in zip(own, submit([row_at(i) for i in own])):
        pending[i] = result
    spool = _output_spool() if indices is not None else None  # the CLI writes the output as replies arrive
    step = spool.chunk_rows if spool is not None else max(n, 1)
    replies: list[Reply] = []
    for start in range(0, n, step):  # in order: the spool gets each chunk of rows once its replies are in
        replies += _collect(pending[start : start + step])  # one wait per chunk, not one per reply
        if spool is not None:
            done = len(replies)
            chunk = {column: values[start:done] for column, values in batch.items()}
            spool.put(
                settings_key,
                indices[start:done],
                chunk,
                _columns(replies[start:], output_key),
            )  # type: ignore[index]
    engine.publish_progress()
    if engine.guard.stopped:  # a wrong key, model or URL: nothing more is sent
        raise EndpointError(engine.guard.stopped)
    failed_alike = (
        all(r.text is None and not r.attempts for r in replies) and len({r.error for r in replies}) == 1
    )
    if n and not store_only and failed_alike:  # every row failed before sending, the same way
        _raise_if_a_setting(submit, {column: values[0] for column, values in batch.items()})
    return _columns(replies, output_key)


def _output_spool() -> Any:
    """This process's output spool (`hf_vqa.publish.spool`), if the CLI started one."""
    module = sys.modules.get("hf_vqa.publish.spool")
    return module.current() if module is not None else None


def _columns(replies: Sequence[Reply], output_key: str) -> dict[str, Any]:
    """The map's output columns for these replies (`prompted_vqa`'s docstring lists them)."""
    return {
        output_key: string_column([r.text for r in replies]),
        f"{output_key}_reasoning": string_column([r.reasoning for r in replies]),
        f"{output_key}_error": string_column([r.error for r in replies]),
        f"{output_key}_usage": [r.usage() for r in replies],
    }


def row_settings(
    *,
    system_prompt: str | None = None,
    prompt: str | None = None,
    image_key: str | None = "image",
    conversation_key: str = "conversation",
    output_key: str = "vqa",
    response_format: dict | None = None,
    keep_existing: bool = False,
    store_only: bool = False,
    batch_errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The per-row settings `prompted_vqa` submits each row with (its keyword arguments, minus the VLM).

    Example:
        >>> row_settings(prompt="Describe.")["image_key"]
        'image'
    """
    return {"system_prompt": system_prompt, "prompt": prompt, "image_key": image_key,
            "conversation_key": conversation_key, "output_key": output_key, "response_format": response_format,
            "keep_existing": keep_existing, "store_only": store_only, "batch_errors": batch_errors}  # fmt: skip


def prefetch_key(vlm: VLM, settings: dict[str, Any]) -> tuple:
    """What identifies one map pass's requests for the lookahead (the VLM and the row settings)."""
    return (vlm, json.dumps(settings, sort_keys=True))


def row_submitter(vlm: VLM, settings: dict[str, Any]) -> Callable[[list[dict]], list[Any]]:
    """`submit(rows)`: prepare rows and hand them to this process's engine, as `prompted_vqa` does
    (each a `Reply` at once, or a future). Used by the warm start (`runner/warm.py`)."""
    engine = get_engine(vlm)
    return functools.partial(_submit_rows, engine=engine, vlm=vlm, **settings)


def _submit_rows(
    rows: list[dict],
    engine: Engine,
    vlm: VLM,
    *,
    output_key: str,
    keep_existing: bool,
    store_only: bool = False,
    batch_errors: dict[str, str] | None = None,
    raise_config: bool = False,
    **build: Any,
) -> list[Reply | Any]:
    """Prepare rows and submit them, in order: each a `Reply` at once (kept, answered before, failed
    before sending) or a future. The store is read once for all of them (`Engine.lookup_many`)."""
    if len(rows) > CHUNK:  # a chunk's prepared images are held until it is submitted: keep it small
        return [r for i in range(0, len(rows), CHUNK) for r in _submit_rows(
            rows[i : i + CHUNK], engine, vlm, output_key=output_key, keep_existing=keep_existing,
            store_only=store_only, batch_errors=batch_errors, raise_config=raise_config, **build)]  # fmt: skip
    out: list[Reply | Any] = []
    todo: list[tuple[int, Request]] = []
    for row in rows:
        got = _prepared(row, engine, vlm, output_key=output_key, keep_existing=keep_existing,
                        raise_config=raise_config, **build)  # fmt: skip
        if isinstance(got, Request):
            todo.append((len(out), got))
        out.append(got)
    found = engine.lookup_many([request.key for _, request in todo]) if todo else []
    for (i, request), hit in zip(todo, found):
        if hit is not None:
            out[i] = hit
        elif store_only:
            if keep_existing:  # a rerun reading back what a later retry stored; else the row stays
                out[i] = _as_it_was(rows[i], output_key)
                continue
            engine.stats.failed += 1
            out[i] = Reply.failed((batch_errors or {}).get(request.key) or "not collected from the batch yet")
        else:
            try:
                out[i] = engine.submit(request.key, request.template, request.payload, looked_up=True)
            except Exception as err:  # a row never aborts the map
                engine.stats.prep_failed += 1
                out[i] = Reply.failed(one_line(f"{type(err).__name__}: {err}"))
    return out


def _prepared(
    row: dict,
    engine: Engine,
    vlm: VLM,
    *,
    system_prompt: str | None,
    prompt: str | None,
    image_key: str | None,
    conversation_key: str,
    output_key: str,
    response_format: dict | None,
    keep_existing: bool,
    raise_config: bool = False,
) -> Reply | Request:
    """One row's request, or its `Reply` at once (kept from an earlier run, or failed before sending)."""
    if keep_existing and row.get(output_key) is not None:
        return Reply.from_usage(row[output_key], row.get(f"{output_key}_usage"),
                                reasoning=row.get(f"{output_key}_reasoning"))  # fmt: skip
    try:
        images = row_images(row, vlm, image_key)
        request = row_request(row, vlm, images, system_prompt=system_prompt, prompt=prompt,
                              conversation_key=conversation_key, response_format=response_format)  # fmt: skip
        if raise_config:  # only checking why the row failed: send nothing
            return Reply.failed("")
        return request
    except HfVqaError as err:
        if raise_config:  # checking: a setting's error goes up, a row's own stays the row's
            if isinstance(err, ConfigError):
                raise
            return Reply.failed("")
        engine.stats.prep_failed += 1
        return Reply.failed(one_line(str(err)))
    except Exception as err:  # a row never aborts the map
        engine.stats.prep_failed += 1
        return Reply.failed(one_line(f"{type(err).__name__}: {err}"))


def _collect(pending: Sequence[Any]) -> list[Reply]:
    """The replies of a batch, in order: each a `Reply` already or a future of one.

    The map thread sleeps once for the whole batch (`concurrent.futures.wait`: woken when the last
    future is done), not once per reply: a per-future `result()` woke it, and made it take the GIL
    from the engine's event loop, nearly once per reply.

    Example:
        >>> _collect([Reply(text="a")])[0].text
        'a'
    """
    futures = [p for p in pending if not isinstance(p, Reply)]
    if futures:
        concurrent.futures.wait(futures)
    return [p if isinstance(p, Reply) else p.result() for p in pending]


def _raise_if_a_setting(submit: Any, row: dict) -> None:
    """Raise the `ConfigError` behind a batch whose every row failed the same way (e.g. no prompt).

    A failed row keeps its place, but when a setting is what is missing, all rows fail: then the
    map stops at once with the reason, instead of "succeeding" with every row failed.
    """
    try:
        submit([row], raise_config=True)
    except ConfigError as err:
        raise ConfigError(
            f"every row of a batch failed: {err.what}", received=err.received, fix=err.fix
        ) from None


def _as_it_was(row: dict, output_key: str) -> Reply:
    usage = row.get(f"{output_key}_usage") or {}
    kept = Reply.from_usage(row.get(output_key), usage, cached=bool(usage.get("cached")))
    return dataclasses.replace(kept, error=row.get(f"{output_key}_error"))
