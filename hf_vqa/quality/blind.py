"""`blind_check`: each question alone, with no image and no article, to a text model. A pair whose answer
the blind model gives anyway is `guessable`: it does not need the image (MMStar 2024 found a model
answering 42.9% of MMMU with no image at all).

A batched `datasets.map` function; one request per pair, through the same engine, store, rate limits and
`num_proc` as every request. The blind answer matches the pair's answer with the grounded check's
canonical matching (`hf_vqa.quality.grounding`: numbers, dates, plurals written another way still match): the
pair's answer must appear in the blind answer.

Adds `qa_blind` (aligned with the pairs: `{guessable, blind_answer}`, None for a pair whose request failed;
the list None for a row without pairs) and `qa_blind_error`.

Example:
    >>> ds = ds.map(blind_check, batched=True, fn_kwargs={"vlm": VLM(model="gpt-4o-mini")})  # doctest: +SKIP
    >>> ds[0]["qa_blind"][0]  # doctest: +SKIP
    {'guessable': True, 'blind_answer': 'Yes.'}
"""

from __future__ import annotations

from typing import Any

from datasets import List, Value

from hf_vqa.config import VLM
from hf_vqa.engine.client import get_engine
from hf_vqa.errors import ConfigError, EndpointError, one_line
from hf_vqa.messages import build_request
from hf_vqa.quality.grounding import Grounder
from hf_vqa.quality.pairs import pairs_of, qas_key_for
from hf_vqa.quality.verify import send
from hf_vqa.schema import declares, string_column

__all__ = ["BLIND_SYSTEM_PROMPT", "STEP_VERSION", "blind_check", "blind_requests", "blind_vlm", "guessable"]

STEP_VERSION = "1"
BLIND_SYSTEM_PROMPT = (
    "Answer the question in a few words. No image is available to you: answer with your best guess from "
    "the question alone, or say that you cannot tell."
)


def _columns(**_: Any) -> dict[str, Any]:
    return {
        "qa_blind": List({"guessable": Value("bool"), "blind_answer": Value("string")}),
        "qa_blind_error": Value("string"),
    }


def guessable(answer: str, blind_answer: str | None) -> bool:
    """True when the pair's `answer` appears in the blind model's answer (grounding's matching).

    Example:
        >>> guessable("yes", "Yes, it is."), guessable("2,737", "About 2737 metres"), guessable("red", "I cannot tell.")
        (True, True, False)
    """
    if not blind_answer or not (answer or "").strip():
        return False
    return Grounder(blind_answer).ground(answer).grounded


def blind_vlm(vlm: VLM) -> VLM:
    """The blind model's `VLM`: `vlm` without `response_format` (it answers in words)."""
    import dataclasses

    return dataclasses.replace(vlm, response_format=None, structured=False) if vlm.response_format else vlm


def blind_requests(row: dict, vlm: VLM, *, qas_key: str = "qas") -> list[tuple[str, Any]]:
    """`[(store key, Request)]`, one per pair of the row (none when it has no pairs)."""
    vlm = blind_vlm(vlm)
    out = []
    for pair in pairs_of(row, qas_key) or []:
        request = build_request(None, [], model=vlm.model, params=vlm.generation_params(),
                                system_prompt=BLIND_SYSTEM_PROMPT, prompt=" ".join(str(pair.get("question") or "").split()) or "?",
                                endpoint=vlm.base_url)  # fmt: skip
        out.append((request.key, request))
    return out


@declares(_columns)
def blind_check(
    batch: dict[str, list],
    *,
    vlm: VLM,
    qas_key: str | None = None,
    store_only: bool = False,
    batch_errors: dict[str, str] | None = None,
    version: str = STEP_VERSION,
) -> dict[str, Any]:
    """Ask each pair's question with no image; flag the pairs answered anyway (see the module doc).

    `store_only=True` reads every answer from the request store (a collected batch), sending nothing.
    """
    del version
    if not isinstance(vlm, VLM):
        raise ConfigError(
            "vlm must be an hf_vqa.VLM", received=type(vlm).__name__, fix="fn_kwargs={'vlm': VLM(...)}"
        )
    vlm = blind_vlm(vlm)
    n = len(next(iter(batch.values()))) if batch else 0
    qas_key = qas_key or qas_key_for(list(batch))
    engine = get_engine(vlm)
    rows = []
    for i in range(n):
        row = {column: values[i] for column, values in batch.items()}
        pairs = pairs_of(row, qas_key)
        try:
            futures = [
                send(engine, key, r, store_only, batch_errors)
                for key, r in blind_requests(row, vlm, qas_key=qas_key)
            ]
            rows.append((pairs, futures, None))
        except Exception as err:  # a row never aborts the map
            rows.append((pairs, [], one_line(f"{type(err).__name__}: {err}")))
    out: dict[str, list] = {"qa_blind": [], "qa_blind_error": []}
    for pairs, futures, error in rows:
        if pairs is None or error:
            out["qa_blind"].append(None)
            out["qa_blind_error"].append(error)
            continue
        replies = [f.result() for f in futures]
        flags = [None if r.text is None else {"guessable": guessable(p.get("answer") or "", r.text),
                                               "blind_answer": " ".join(r.text.split())[:500]}
                 for p, r in zip(pairs, replies)]  # fmt: skip
        errors = [r.error for r in replies if r.text is None]
        out["qa_blind"].append(flags)
        out["qa_blind_error"].append("; ".join(dict.fromkeys(e or "no reply" for e in errors)) or None)
    engine.publish_progress()
    if engine.guard.stopped:
        raise EndpointError(engine.guard.stopped)
    out["qa_blind_error"] = string_column(out["qa_blind_error"])
    return out
