"""The two seed pipelines as chains of map steps, with a summary computed from the data itself.

`run_pipeline` is what the CLI runs; in a notebook you can call it, or the map steps directly.

Example:
    >>> ds, summary = run_pipeline(ds, "image-vqa", vlm=VLM(model="m"))  # doctest: +SKIP
    >>> summary.line()  # doctest: +SKIP
    'rows=8 succeeded=8 failed=0 parse_failed=0 tokens=1234 seconds=3.1'
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from typing import Any

import datasets

from hf_vqa import generate
from hf_vqa import refine as refiners
from hf_vqa.config import VLM
from hf_vqa.engine.adapt import Adaptations, record_path
from hf_vqa.engine.progress import ProgressBar
from hf_vqa.engine.store import get_store
from hf_vqa.errors import ConfigError
from hf_vqa.generate import prompted_vqa
from hf_vqa.images.columns import decoded, image_columns, undecoded
from hf_vqa.images.verify import drop_non_images
from hf_vqa.quality.checks import ROW_CHECKS
from hf_vqa.quality.pairs import PAIR_FILTERS, filter_pairs
from hf_vqa.runner.datasets_internals import fingerprint
from hf_vqa.runner.lookahead import drop_warm, source_for
from hf_vqa.runner.memory import release_free_memory
from hf_vqa.runner.summary import Summary
from hf_vqa.schema import features_after
from hf_vqa.spec import FILTER_NAMES, PIPELINES, PipelineSpec, get_spec

__all__ = ["PIPELINES", "Summary", "filter_rows", "run_pipeline", "summarize"]


def run_pipeline(
    ds: datasets.Dataset | datasets.IterableDataset,
    pipeline: str,
    *,
    vlm: VLM,
    system_prompt: str | None = None,
    prompt: str | None = None,
    image_key: str = "image",
    conversation_key: str = "conversation",
    json_mode: bool = False,
    keep_existing: bool = False,
    num_proc: int | None = None,
    batch_size: int | None = None,
    prices: tuple[float, float] | None = None,
    progress: bool = False,
    lookahead: bool = True,
    store_only: bool = False,
    batch_errors: dict[str, str] | None = None,
    language: str = "en",
    repair_parse: bool = False,
) -> tuple[datasets.Dataset, Summary]:
    """Generate, then refine, with the Arrow cache and the request store; return data and totals.

    The steps read images undecoded (`{"bytes", "path"}`); the returned dataset's image columns are
    decodable `Image()` again, so `ds.push_to_hub(...)` embeds the image files, and `ds[0]["image"]`
    gives PIL images. For further `map` steps that don't need pixels, pass `input_columns`.

    `json_mode=True` asks for JSON through `response_format` (only for endpoints that support it).
    `keep_existing=True` keeps rows that already have a reply and retries only the failed ones.
    `lookahead=True` keeps requests in flight across batch boundaries (see `runner/lookahead.py`).
    `progress=True` shows one live bar for all processes (rows/s, failures, retries, 429s, tokens)
    in place of `datasets`' per-batch bar.
    `language` ("zh", "de", ...; `hf_vqa.languages`) sends the prompts written for that language and
    grounds answers with its number words and forms. `vlm.structured=True` sends the pipeline's JSON
    schema as `response_format`.
    `repair_parse=True` sends each reply that did not parse (or lost its cut-off last pair) back as
    text only with the JSON schema, to be reformatted (`hf_vqa.repair`); such rows get `repaired`.
    `store_only=True` sends nothing and reads every reply from the request store (a collected batch
    run; see `hf_vqa.batch`); `batch_errors` maps request keys to the batch's per-line errors.

    An `IterableDataset` (`load_dataset(..., streaming=True)`) gives an `IterableDataset` back: the
    steps run as you iterate it, and the `Summary` fills in as rows go by (see `runner/streaming.py`).
    """
    spec = get_spec(pipeline)
    vlm = spec.vlm_for(vlm)  # structured=True: the pipeline's JSON schema goes out as response_format
    start = time.monotonic()
    ds = undecoded(ds)
    system_prompt, prompt = spec.instructions(system_prompt, prompt, language)
    refine_kwargs = refine_step_kwargs(language)
    gen_kwargs: dict[str, Any] = {
        "vlm": vlm,
        "system_prompt": system_prompt,
        "prompt": prompt,
        "image_key": image_key,
        "conversation_key": conversation_key,
        "response_format": spec.json_format if json_mode else None,
        "keep_existing": keep_existing,
        # datasets hashes hf_vqa's map functions by reference: a changed step changes the cache key
        # only through fn_kwargs, so its version goes there
        "version": generate.STEP_VERSION,
    }
    if isinstance(ds, datasets.IterableDataset):  # streaming: lazy steps, totals counted as rows flow
        from hf_vqa.runner.streaming import run_streaming

        if repair_parse:
            raise ConfigError("--repair-parse does not work on a streamed dataset", received="streaming=True",
                              fix="load the dataset without streaming=True, or run without repair_parse")  # fmt: skip
        refine = refine_step(spec)
        if language != "en":  # the grounded check in the language; the declared columns stay the refiner's
            refine = functools.update_wrapper(functools.partial(refine, language=language), refine)
        return run_streaming(ds, spec, refine, gen_kwargs, batch_size=batch_size, prices=prices)
    if store_only:  # only then: online runs keep the fn_kwargs (and so the Arrow cache key) they had
        gen_kwargs |= {"store_only": True, "batch_errors": dict(sorted((batch_errors or {}).items()))}
    gen_kwargs["lookahead"] = source_for(ds, num_proc) if lookahead else None
    map_kwargs: dict[str, Any] = {
        "batched": True,
        "with_indices": True,
        "with_rank": True,
        "batch_size": batch_size or max(64, 8 * vlm.max_concurrency),
        "num_proc": num_proc if num_proc and num_proc > 1 else None,
        "fn_kwargs": gen_kwargs,
        "features": features_after(ds, prompted_vqa),
        "desc": f"Asking {vlm.model}",
    }
    if progress:
        folder = vlm.cache_folder
        folder.mkdir(parents=True, exist_ok=True)
        was_enabled = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            with ProgressBar(
                len(ds), str(folder / f"progress-{os.getpid()}.sqlite"), desc=f"Asking {vlm.model}"
            ):
                ds = ds.map(prompted_vqa, **map_kwargs)
        finally:
            if was_enabled:
                datasets.enable_progress_bars()
    else:
        ds = ds.map(prompted_vqa, **map_kwargs)
    drop_warm()  # a warm start this map did not take (it came from the Arrow cache) sends nothing more
    release_free_memory()  # what the requests held goes back to the OS before the next steps allocate
    if vlm.use_store and not keep_existing and not store_only and _has_failed_rows(ds):
        ds = _recovered(ds, vlm, map_kwargs)
    refine = refine_step(spec)
    ds = ds.map(refine, batched=True, features=features_after(ds, refine), desc="Refining",
                fn_kwargs=refine_kwargs)  # fmt: skip
    if repair_parse and not store_only:
        from hf_vqa import repair

        repair_kwargs = {
            "vlm": vlm,
            "pipeline": spec.name,
            "language": language,
            "version": repair.STEP_VERSION,
        }
        ds = ds.map(repair.repair_parse, batched=True, batch_size=map_kwargs["batch_size"],
                    features=features_after(ds, repair.repair_parse), desc="Repairing replies",
                    fn_kwargs=repair_kwargs)  # fmt: skip
    summary = summarize(ds, spec.refined, seconds=time.monotonic() - start, prices=prices)
    if summary.failed and (columns := image_columns(ds)):  # failed rows' non-images never get published
        ds = ds.map(drop_non_images, batched=True, features=ds.features, desc="Checking failed rows' images",
                    fn_kwargs={"columns": columns, "error_column": "vqa_error", "version": 1})  # fmt: skip
    summary.adapted = Adaptations.load(record_path(vlm.cache_folder, vlm.base_url, vlm.model)).describe()
    return decoded(ds), summary  # images decodable again: a plain push_to_hub embeds them


def _has_failed_rows(ds: datasets.Dataset) -> bool:
    """True when some row has no reply: the Arrow column's null count, without reading the texts."""
    return ds.with_format("arrow")["vqa"].null_count > 0


def _recovered(ds: datasets.Dataset, vlm: VLM, map_kwargs: dict[str, Any]) -> datasets.Dataset:
    """Failed rows take the replies a later retry stored for them (nothing is sent).

    The Arrow cache keeps a map's failures even after `--retry-failed` recovered them into the
    request store; without this, rerunning the first command would bring them back. The step is
    keyed on the store's state, so it and every later step's cache follow the store.
    """
    state = get_store(vlm.cache_dir).state()
    key = hashlib.sha256(f"{fingerprint(ds)}|store_only|{state}".encode()).hexdigest()[:16]
    fn_kwargs = {**map_kwargs["fn_kwargs"], "keep_existing": True, "store_only": True, "lookahead": None}
    kwargs = {**map_kwargs, "with_indices": False, "with_rank": False, "fn_kwargs": fn_kwargs}
    return ds.map(prompted_vqa, **kwargs | {"desc": "Reading recovered replies", "new_fingerprint": key})


def summarize(
    ds: datasets.Dataset, refined_key: str, *, seconds: float = 0.0, prices: tuple[float, float] | None = None
) -> Summary:
    """Count rows, failures, parse failures, tokens and checks from the output columns."""
    flags = {check.column for check in ROW_CHECKS}
    cols = ds.select_columns([c for c in ds.column_names if c.startswith("vqa") or c.startswith(refined_key)
                              or c in flags or c == "repaired"])  # fmt: skip
    s = Summary(seconds=seconds)
    for batch in cols.iter(batch_size=4096):
        s.add(batch, refined_key, prices)
    if prices is not None:
        s.cost_usd = (s.prompt_tokens * prices[0] + s.completion_tokens * prices[1]) / 1e6
    return s


def refine_step_kwargs(language: str = "en") -> dict[str, Any]:
    """The refine map's `fn_kwargs` in `run_pipeline` (its cache key); the CLI's output spool uses them too."""
    kwargs: dict[str, Any] = {"version": refiners.STEP_VERSION}
    if language != "en":  # English runs keep the refine step's cache key they had
        kwargs["language"] = language
    return kwargs


def refine_step(spec: PipelineSpec):
    """The refiner map function a spec names (from `hf_vqa.refine`)."""
    return getattr(refiners, spec.refine)


def filter_rows(ds: datasets.Dataset, pipeline: str, filters: list[str]) -> datasets.Dataset:
    """Keep only rows passing every named check (`parsed`, `grounded`, `no-duplicate`, `no-leak`); the pair
    filters `verified` and `not-guessable` drop pairs, and rows left with none (see `quality.pairs`)."""
    unknown = sorted(set(filters) - set(FILTER_NAMES))
    if unknown:
        raise ConfigError("unknown filter", received=unknown, fix=f"use any of {', '.join(FILTER_NAMES)}")
    if not filters:
        return ds
    spec = get_spec(pipeline)
    if not_applying := [name for name in filters if name not in spec.filters]:
        raise ConfigError(f"--filter {' '.join(not_applying)} does not apply to {pipeline} (its checks need "
                          "an article, which only context-vqa writes)", received=not_applying,
                          fix=f"for {pipeline}, use --filter {' or '.join(spec.filters)}")  # fmt: skip
    if set(filters) & set(PAIR_FILTERS):  # `verified`, `not-guessable`: they drop pairs (quality.pairs)
        ds, _ = filter_pairs(ds, filters)
    key = spec.refined
    wanted = [(check.column, check.passing) for check in ROW_CHECKS if check.filter in filters]
    parsed = "parsed" in filters
    columns = [key, *(column for column, _ in wanted if column in ds.column_names)]
    return ds.filter(_passes, input_columns=columns, desc="Filtering",  # never decodes the images
                     fn_kwargs={"names": columns, "wanted": wanted, "parsed": parsed})  # fmt: skip


def _passes(*values: Any, names: list[str], wanted: list[tuple[str, bool]], parsed: bool) -> bool:
    row = dict(zip(names, values))
    if parsed and row[names[0]] is None:
        return False
    return all(bool(row.get(column)) == passing for column, passing in wanted)
