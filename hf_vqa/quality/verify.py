"""`verify_pairs`: a judge VLM says, pair by pair, whether each answer is answerable and correct.

A batched `datasets.map` function. Per row, one request (per vote) to the judge: the row's image(s), the
article for context-vqa, and the numbered pairs (`verdicts.judge_text`). It goes through the same engine
as generation: the request store (its own keys: the judge's body differs from the generator's; vote k>0
adds ``|vote:k`` to the key), rate limits, retries, adaptation to rejected parameters, `num_proc`.

Adds `qa_verdicts` (a list aligned one to one with the row's pairs, each `{answerable, correct, reason,
judge, votes}`, None for a pair the judge said nothing about; the whole list None when the judge failed
for the row), `qa_verdicts_error` and `qa_verdicts_usage`. Rows without pairs (failed upstream) pass
through with None and no error, and send nothing.

Example:
    >>> judge = judge_vlm(VLM(model="gpt-4o-mini"))  # doctest: +SKIP
    >>> ds = ds.map(verify_pairs, batched=True, fn_kwargs={"judge": judge})  # doctest: +SKIP
    >>> ds[0]["qa_verdicts"][0]  # doctest: +SKIP
    {'answerable': True, 'correct': True, 'reason': 'The car is red.', 'judge': 'gpt-4o-mini', 'votes': 'correct 1/1, answerable 1/1'}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from datasets import List, Value

from hf_vqa.config import VLM
from hf_vqa.engine.client import get_engine
from hf_vqa.engine.outcomes import USAGE_TYPES, Reply
from hf_vqa.errors import ConfigError, EndpointError, HfVqaError, one_line
from hf_vqa.messages import build_request
from hf_vqa.quality.pairs import pairs_of, qas_key_for
from hf_vqa.quality.verdicts import JUDGE_SYSTEM_PROMPT, VERDICT_FORMAT, judge_text, majority, parse_verdicts
from hf_vqa.runner.lookahead import Source, get_prefetcher
from hf_vqa.runner.rows import row_images
from hf_vqa.schema import declares, string_column

__all__ = ["STEP_VERSION", "VERDICT", "judge_requests", "judge_vlm", "send", "verify_pairs", "vote_key"]

STEP_VERSION = "1"
VERDICT = {"answerable": Value("bool"), "correct": Value("bool"), "reason": Value("string"),
           "judge": Value("string"), "votes": Value("string")}  # fmt: skip
VOTE_TEMPERATURE = 0.7  # votes need some spread; an endpoint that rejects it has it dropped (engine.adapt)


def _columns(**_: Any) -> dict[str, Any]:
    usage = {name: Value(dtype) for name, dtype in USAGE_TYPES.items()}
    return {"qa_verdicts": List(VERDICT), "qa_verdicts_error": Value("string"), "qa_verdicts_usage": usage}


def judge_vlm(vlm: VLM, *, votes: int = 1, structured: bool = True, **changes: Any) -> VLM:
    """The judge's `VLM`: `vlm` (by default the generating one) asking for JSON verdicts through
    `response_format` (`structured=False`: free text), at a temperature above 0 when `votes` > 1
    (unless one was set). `changes` override any field (model, base_url, api_key_env, ...).

    Example:
        >>> judge_vlm(VLM(model="m", api_key_env=""), votes=3).temperature
        0.7
    """
    # `structured` is the generation's schema switch (run_pipeline fills response_format from it): off here
    fields: dict[str, Any] = {"response_format": VERDICT_FORMAT if structured else None, "structured": False}
    if votes > 1 and vlm.temperature in (None, 0, 0.0) and "temperature" not in changes:
        fields["temperature"] = VOTE_TEMPERATURE
    return dataclasses.replace(vlm, **fields, **changes)


def vote_key(key: str, vote: int) -> str:
    """The store key of vote `vote` of a request (vote 0 keeps the request's own key).

    Example:
        >>> vote_key("ab", 0), len(vote_key("ab", 1))
        ('ab', 64)
    """
    return key if vote == 0 else hashlib.sha256(f"{key}|vote:{vote}".encode()).hexdigest()


def judge_requests(row: dict, judge: VLM, *, image_key: str | None = "image", qas_key: str = "qas",
                   votes: int = 1) -> list[tuple[str, Any]]:  # fmt: skip
    """`[(store key, Request)]`, one per vote, for one row; `[]` when the row has no pairs.

    The dry run and batch mode build theirs here too, so the three never drift apart.
    """
    pairs = pairs_of(row, qas_key)
    if not pairs:
        return []
    top = qas_key.split(".")[0]
    article = (row.get(top) or {}).get("context") if "." in qas_key else None
    request = build_request(None, row_images(row, judge, image_key), model=judge.model,
                            params=judge.generation_params(), system_prompt=JUDGE_SYSTEM_PROMPT,
                            prompt=judge_text(pairs, article), endpoint=judge.base_url,
                            image_detail=judge.image_detail)  # fmt: skip
    return [(vote_key(request.key, k), request) for k in range(votes)]


@declares(_columns)
def verify_pairs(
    batch: dict[str, list],
    indices: list[int] | None = None,
    rank: int | None = None,
    *,
    judge: VLM,
    image_key: str | None = "image",
    qas_key: str | None = None,
    votes: int = 1,
    keep_existing: bool = False,
    store_only: bool = False,
    batch_errors: dict[str, str] | None = None,
    lookahead: Source | None = None,
    version: str = STEP_VERSION,
) -> dict[str, Any]:
    """Ask the judge about each row's pairs; use with `ds.map(..., batched=True)` (see the module doc).

    `judge` is a `VLM` (see `judge_vlm`); `qas_key` is found from the columns when not given; `votes`
    asks K times and keeps the majority per pair (the split in each verdict's `votes`).
    `keep_existing=True` keeps rows that already have `qa_verdicts` and asks only for the others:
    that is how `--retry-failed` retries the rows the judge failed on. `store_only=True` sends nothing
    and reads every verdict from the request store (a collected batch; `batch_errors[key]` is the
    error of a request the batch did not answer). `lookahead` (with `with_indices=True, with_rank=True`)
    keeps requests flowing across batch boundaries, as for generation (`hf_vqa.runner.lookahead`).
    """
    del version  # only part of the cache fingerprint
    if not isinstance(judge, VLM):
        raise ConfigError("judge must be an hf_vqa.VLM", received=type(judge).__name__,
                          fix="fn_kwargs={'judge': hf_vqa.quality.verify.judge_vlm(VLM(...))}")  # fmt: skip
    if not isinstance(votes, int) or votes < 1:
        raise ConfigError("votes must be an int >= 1", received=votes, fix="--judge-votes 3")
    n = len(next(iter(batch.values()))) if batch else 0
    qas_key = qas_key or qas_key_for(list(batch))
    engine = get_engine(judge)
    settings = {"image_key": image_key, "qas_key": qas_key, "votes": votes, "keep_existing": keep_existing,
                "store_only": store_only, "batch_errors": batch_errors}  # fmt: skip

    def submit(row: dict) -> tuple[str, Any]:
        return _submit_row(row, engine, judge, **settings)

    prefetcher = None
    if lookahead is not None and indices is not None and n:
        prefetcher = get_prefetcher(lookahead, rank, indices[0], lambda rows: [submit(row) for row in rows],
                                    (judge, json.dumps(settings, sort_keys=True)))  # fmt: skip
    pending: list[Any] = []
    for i in range(n):
        if prefetcher is not None and prefetcher.covers(indices[i]):
            pending.append(prefetcher.take(indices[i]))
        else:
            pending.append(submit({column: values[i] for column, values in batch.items()}))
    out: dict[str, list] = {"qa_verdicts": [], "qa_verdicts_error": [], "qa_verdicts_usage": []}
    for kind, value in pending:
        verdicts, error, usage = _row_result(kind, value, judge.model)
        out["qa_verdicts"].append(verdicts)
        out["qa_verdicts_error"].append(error)
        out["qa_verdicts_usage"].append(usage)
    engine.publish_progress()
    if engine.guard.stopped:  # a wrong key, model or URL: nothing more is sent
        raise EndpointError(engine.guard.stopped)
    out["qa_verdicts_error"] = string_column(out["qa_verdicts_error"])
    return out


def _submit_row(row: dict, engine: Any, judge: VLM, *, image_key: str | None, qas_key: str, votes: int,
                keep_existing: bool, store_only: bool, batch_errors: dict[str, str] | None) -> tuple[str, Any]:  # fmt: skip
    """One row's judge requests, submitted: `("sent", (pairs, futures))`, `("kept", row)` or `("failed", why)`."""
    if keep_existing and row.get("qa_verdicts") is not None:
        return "kept", row
    try:
        requests = judge_requests(row, judge, image_key=image_key, qas_key=qas_key, votes=votes)
        futures = [send(engine, key, r, store_only, batch_errors) for key, r in requests]
        return "sent", (len(pairs_of(row, qas_key) or []), futures)
    except HfVqaError as err:
        return "failed", one_line(str(err))
    except Exception as err:  # a row never aborts the map
        return "failed", one_line(f"{type(err).__name__}: {err}")


def send(engine: Any, key: str, request: Any, store_only: bool, batch_errors: dict[str, str] | None) -> Any:
    """A future reply: sent through the engine, or (`store_only`) read from the store only."""
    if not store_only:
        return engine.submit(key, request.template, request.payload)
    found = engine.lookup(key)
    if found is None:
        import concurrent.futures

        found = concurrent.futures.Future()
        found.set_result(Reply.failed((batch_errors or {}).get(key) or "not collected from the batch yet"))
    return found


def _usage(replies: list[Reply]) -> dict[str, Any]:
    usages = [r.usage() for r in replies] or [Reply.failed("").usage()]
    total = dict(usages[0])
    for key in ("prompt_tokens", "completion_tokens", "attempts"):
        total[key] = sum(u[key] for u in usages)
    total["cached"] = all(u["cached"] for u in usages)
    return total


def _row_result(kind: str, value: Any, model: str) -> tuple[list | None, str | None, dict]:
    if kind == "kept":
        return (
            value["qa_verdicts"],
            value.get("qa_verdicts_error"),
            value.get("qa_verdicts_usage") or _usage([]),
        )
    if kind == "failed":
        return None, value, _usage([])
    n, futures = value
    replies: list[Reply] = [f.result() for f in futures]
    if not futures:  # no pairs: nothing to judge
        return None, None, _usage([])
    votes, errors = [], []
    for reply in replies:
        if reply.text is None:
            errors.append(reply.error or "no reply")
            continue
        verdicts, error = parse_verdicts(reply.text, n)
        if verdicts is not None:
            votes.append(verdicts)
        if error:
            errors.append(error)
    if not votes:
        return None, "; ".join(dict.fromkeys(errors)) or "no verdict", _usage(replies)
    result = majority(votes, n, model)
    error = "; ".join(dict.fromkeys(errors)) if any(v is None for v in result) else None
    return result, error, _usage(replies)
