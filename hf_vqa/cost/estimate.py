"""`estimate`: what a run will cost, before anything is sent (the CLI's ``--dry-run``).

It builds every row's request exactly as `prompted_vqa` would (`runner.rows.row_request`), so the
distinct requests and the "already in the request store" count are exact. Images are read locally
(their headers for the size before the caps; their bytes for the request key); nothing goes to the
VLM unless `probe` > 0. Text tokens are counted as characters / 4 (+4 per message); image tokens by
the model family's documented formula (`image_tokens.py`); completion tokens are a per-request
guess unless a probe measured them. What it finds is an `Estimate` (`figures.py`: the numbers, the
cost, the report and the line it prints).

Example:
    >>> est = estimate(ds, VLM(model="gpt-4o-mini"), prices=(0.15, 0.6))  # doctest: +SKIP
    >>> est.line()  # doctest: +SKIP
    'DRY RUN rows=8 requests=8 in_store=0 images=8 ... cost_usd=0.0123 batch_cost_usd=0.0062'
"""

from __future__ import annotations

from typing import Any

from hf_vqa.config import VLM
from hf_vqa.cost.figures import BATCH_DISCOUNT, DEFAULT_COMPLETION_TOKENS, Estimate
from hf_vqa.cost.headers import header_size, readable, request_image_tokens, sized
from hf_vqa.cost.image_tokens import FORMULAS, formula_for
from hf_vqa.errors import HfVqaError, one_line

__all__ = ["BATCH_DISCOUNT", "DEFAULT_COMPLETION_TOKENS", "Estimate", "estimate"]


def estimate(
    ds: Any,
    vlm: VLM,
    pipeline: str = "image-vqa",
    *,
    system_prompt: str | None = None,
    prompt: str | None = None,
    image_key: str | None = "image",
    conversation_key: str = "conversation",
    json_mode: bool = False,
    prices: tuple[float, float] | None = None,
    batch_discount: float = BATCH_DISCOUNT,
    image_tokens: str | None = None,
    completion_tokens: int | None = None,
    probe: int = 0,
    exact: bool | None = None,
    repair_parse: bool = False,
) -> Estimate:
    """Count rows, images, distinct requests and tokens of a run of `pipeline` over `ds`; price them.

    Sends nothing unless `probe` > 0: then the first `probe` requests still to send are really sent
    (their replies land in the request store, so they are not paid again) and their `usage` scales
    the prompt estimate and sets the completion tokens per request. `repair_parse=True` adds the price
    of one `--repair-parse` request (the instruction, the schema and a reply as long as expected). `image_tokens` names a formula
    (see `image_tokens.FORMULAS`) instead of the one chosen from the model name.

    `exact=True` prepares every image as the run would (decoding and resizing those above the
    caps) to get the exact request-store keys; `exact=False` reads only image headers (sizes after
    the caps are computed, duplicates are found by the raw bytes' hash); the default is exact only
    when the request store already holds replies (so "already in the store" is exact).

    Example:
        >>> import datasets
        >>> ds = datasets.Dataset.from_list([{"conversation": [{"from": "human", "value": "Hi?"}]}])
        >>> est = estimate(ds, VLM(model="gpt-4o", api_key_env="", use_store=False), image_key=None)
        >>> est.rows, est.requests, est.images, est.to_send
        (1, 1, 0, 1)
    """
    from hf_vqa.engine.store import get_store
    from hf_vqa.images.columns import undecoded
    from hf_vqa.runner.rows import row_images, row_request
    from hf_vqa.spec import get_spec

    spec = get_spec(pipeline)
    system_prompt, prompt = spec.instructions(system_prompt, prompt)
    response_format = spec.json_format if json_mode else None
    chosen = formula_for(vlm.model, image_tokens)
    others = {f.name: f for f in FORMULAS.values() if f.name != "openai-tile-4o-mini"}
    others[chosen.name] = chosen
    est = Estimate(vlm.model, chosen.name, chosen.why, prices=prices, batch_discount=batch_discount)
    est.by_formula = dict.fromkeys(others, 0)
    store = get_store(vlm.cache_dir) if vlm.use_store else None
    if exact is None:  # exact request keys need the prepared images; only worth it when the store has replies
        exact = store is not None and len(store) > 0
    exact = exact or probe > 0  # a probe sends real requests: the prepared images
    est.exact = exact
    seen: set[str] = set()
    to_send: list[Any] = []
    ds = undecoded(ds) if image_key and image_key in ds.column_names else ds
    for row in ds:
        est.rows += 1
        values = _as_list(row.get(image_key)) if image_key else []
        est.images += len(values)
        try:
            images = row_images(row, vlm, image_key) if exact else [sized(v, vlm) for v in values]
        except HfVqaError:
            est.unreadable += sum(1 for v in values if not readable(v, vlm, exact))
            est.row_errors += 1
            continue
        try:
            request = row_request(row, vlm, images, system_prompt=system_prompt, prompt=prompt,
                                  conversation_key=conversation_key, response_format=response_format)  # fmt: skip
        except HfVqaError:
            est.row_errors += 1
            continue
        for value, img in zip(values, images):
            before = header_size(value) or (img.width, img.height)
            est.sizes_before.append(before)
            est.sizes_after.append((img.width, img.height))
        if request.key in seen:
            continue
        seen.add(request.key)
        est.requests += 1
        if store is not None and store.get(request.key) is not None:
            est.in_store += 1
            continue
        to_send.append(request)
        est.text_tokens += _text_tokens(request.template)
        for value, img in zip(values, images):
            for name, f in others.items():
                est.by_formula[name] += f.tokens(img.width, img.height)
            tok = chosen.tokens(img.width, img.height)
            est.image_tokens += tok
            est.per_image.append(tok)
            if est.largest is None or tok > est.largest[5]:
                w0, h0 = header_size(value) or (img.width, img.height)
                est.largest = (img.source, w0, h0, img.width, img.height, tok)
    per = (
        completion_tokens if completion_tokens is not None else (vlm.max_tokens or DEFAULT_COMPLETION_TOKENS)
    )
    est.completion_per_request = float(per)
    est.completion_source = ("--expect-completion-tokens" if completion_tokens is not None
                             else "max_tokens" if vlm.max_tokens else "a guess: pass --expect-completion-tokens or --probe N")  # fmt: skip
    if probe > 0 and to_send:
        _probe(est, vlm, to_send[:probe], chosen)
    est.completion_tokens = round(est.completion_per_request * est.to_send)
    if repair_parse:
        from hf_vqa.repair import repair_request

        template = repair_request("", spec, vlm).template
        est.repair_prompt_tokens = _text_tokens(template) + round(est.completion_per_request)
    return est


def _probe(est: Estimate, vlm: VLM, requests: list[Any], chosen: Any) -> None:
    """Send `requests` for real; scale the prompt estimate by measured/estimated and take the mean completion."""
    from hf_vqa.engine.client import get_engine

    engine = get_engine(vlm)
    replies = [f.result() for f in [engine.submit(r.key, r.template, r.payload) for r in requests]]
    ok = [(r, q) for r, q in zip(replies, requests) if r.error is None]
    if not ok:
        errors = "; ".join(one_line(str(r.error)) for r in replies[:3])
        est.completion_source = f"the probe failed ({errors}); a guess"
        return
    guessed = sum(_text_tokens(q.template) + request_image_tokens(q, chosen) for _r, q in ok)
    measured = sum(r.prompt_tokens for r, _q in ok)
    est.probe_scale = measured / guessed if guessed and measured else None
    est.completion_per_request = sum(r.completion_tokens for r, _q in ok) / len(ok)
    est.completion_source = f"measured by a probe of {len(ok)} request(s)"


def _text_tokens(body: dict) -> int:
    chars, messages = 0, 0
    for message in body.get("messages", []):
        messages += 1
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        else:
            chars += sum(len(p.get("text", "")) for p in content or [] if p.get("type") == "text")
    if body.get("response_format"):
        import json

        chars += len(json.dumps(body["response_format"]))
    return chars // 4 + 4 * messages + 3


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
