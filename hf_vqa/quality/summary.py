"""Counting verdicts for the summary line and the card's "Verification" section; the verify dry run.

Example:
    >>> counts = VerifyCounts(pairs=10, verified=7, rejected=2, failed=1, guessable=3)
    >>> counts.line()
    'verified=7 rejected=2 guessable=3'
    >>> print("\\n".join(card_lines({"judge_model": "m", "judge_host": "h", "votes": 1, "counts": counts.to_dict()})[:3]))
    ## Verification
    <BLANKLINE>
    - Judge: `m` at `h`, 1 vote per row (yes/no per pair: answerable, correct)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hf_vqa.quality.pairs import pairs_of, qas_key_for

__all__ = ["VerifyCounts", "card_lines", "count_verdicts", "estimate_quality"]


@dataclass
class VerifyCounts:
    """Pairs judged and flagged: `verified` (answerable and correct), `rejected` (not), `failed` (no
    verdict: the judge failed for the row or said nothing of the pair), `guessable` (the blind pass)."""

    pairs: int = 0
    verified: int = 0
    rejected: int = 0
    failed: int = 0
    guessable: int = 0
    blind_checked: int = 0
    rows_failed: int = 0

    def line(self) -> str:
        """The summary line's part: ``verified=N rejected=N guessable=N``."""
        return f"verified={self.verified} rejected={self.rejected} guessable={self.guessable}"

    def to_dict(self) -> dict:
        """Plain data, for the card."""
        return asdict(self)


def count_verdicts(ds: Any) -> VerifyCounts:
    """Count the verdicts and blind flags of a dataset (columns `qa_verdicts`, `qa_blind`)."""
    counts = VerifyCounts()
    qas_key = qas_key_for(ds.column_names)
    top = qas_key.split(".")[0]
    wanted = [c for c in (top, "qa_verdicts", "qa_verdicts_error", "qa_blind") if c in ds.column_names]
    for batch in ds.select_columns(wanted).iter(batch_size=1000):
        for k, value in enumerate(batch[top]):
            pairs = pairs_of({top: value}, qas_key) or []
            counts.pairs += len(pairs)
            if "qa_verdicts" in batch:
                verdicts = batch["qa_verdicts"][k]
                counts.rows_failed += bool(pairs) and verdicts is None
                for j in range(len(pairs)):
                    v = verdicts[j] if verdicts and j < len(verdicts) else None
                    if v is None:
                        counts.failed += 1
                    elif v.get("answerable") and v.get("correct"):
                        counts.verified += 1
                    else:
                        counts.rejected += 1
            for flag in (batch["qa_blind"][k] or []) if "qa_blind" in batch else []:
                counts.blind_checked += flag is not None
                counts.guessable += bool(flag and flag.get("guessable"))
    return counts


def _share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)" if whole else str(part)


def card_lines(v: dict) -> list[str]:
    """The card's "Verification" section from the run's `verification` record."""
    c = v.get("counts") or {}
    pairs = c.get("pairs", 0)
    votes = v.get("votes", 1)
    lines = ["## Verification", ""]
    if v.get("judge_model"):
        lines.append(f"- Judge: `{v['judge_model']}` at `{v.get('judge_host', '')}`, {votes} vote{'s' if votes != 1 else ''} "
                     "per row (yes/no per pair: answerable, correct)" + (" (the majority kept)" if votes > 1 else ""))  # fmt: skip
        lines += [
            f"- Pairs verified (answerable and correct): {_share(c.get('verified', 0), pairs)} of {pairs}",
            f"- Pairs rejected: {_share(c.get('rejected', 0), pairs)}; not judged (the judge failed): "
            f"{_share(c.get('failed', 0), pairs)} in {c.get('rows_failed', 0)} row(s)",
        ]
    if v.get("blind_model"):
        lines.append(f"- Blind pass (each question alone, no image, to `{v['blind_model']}`): "
                     f"{_share(c.get('guessable', 0), c.get('blind_checked', 0))} of {c.get('blind_checked', 0)} "
                     "pairs guessable (the blind answer matched)")  # fmt: skip
    if v.get("batch"):
        b = v["batch"]
        lines.append(f"- Sent as a batch ({', '.join(f'`{i}`' for i in b.get('batch_ids') or []) or 'none'}): "
                     f"{b.get('requests')} requests, {b.get('completed')} answered, {b.get('failed')} failed")  # fmt: skip
    dropped = v.get("filters") or {}
    if dropped.get("filters"):
        lines.append(f"- `--filter {' '.join(dropped['filters'])}` dropped {dropped.get('pairs_dropped', 0)} pair(s) "
                     f"and {dropped.get('rows_dropped', 0)} row(s) left with no pair")  # fmt: skip
    agreement = v.get("agreement")
    if agreement and agreement.get("n"):

        def f(x: Any) -> str:
            return "n/a" if x is None else f"{x:.2f}"

        lines.append(f"- Agreement with human labels ({v.get('labels') or 'labels'}), n={agreement['n']} pairs: "
                     f"accuracy {f(agreement.get('accuracy'))}; rejecting a wrong pair: precision "
                     f"{f(agreement.get('precision'))}, recall {f(agreement.get('recall'))}; Cohen's kappa "
                     f"{f(agreement.get('kappa'))} (tp {agreement['tp']}, fp {agreement['fp']}, fn {agreement['fn']}, "
                     f"tn {agreement['tn']})")  # fmt: skip
    elif v.get("judge_model"):
        lines.append("- Agreement with people: not measured (give human labels with `verify --labels`)")
    if v.get("prompt"):
        lines += ["", "### Judge prompt", "", "````text", v["prompt"], "````"]
    return lines


def estimate_quality(ds: Any, judge: Any, *, votes: int = 1, blind: Any = None, image_key: str | None = "image",
                     pairs_per_row: int | None = None) -> dict:  # fmt: skip
    """Requests and tokens of the verify (and blind) pass over `ds`, sending nothing.

    With the pairs known (an existing output), the requests are counted exactly and their keys looked up in
    the store; before generation (`pairs_per_row` given) they are `rows x votes` and `rows x pairs_per_row`.
    """
    from hf_vqa.engine.store import get_store
    from hf_vqa.quality.blind import blind_requests
    from hf_vqa.quality.verify import judge_requests

    store = get_store(judge.cache_dir)
    out = {"judge_requests": 0, "blind_requests": 0, "in_store": 0, "prompt_tokens": 0}
    if pairs_per_row is not None:
        out["judge_requests"] = len(ds) * votes
        out["blind_requests"] = len(ds) * pairs_per_row if blind is not None else 0
        return out
    qas_key = qas_key_for(ds.column_names)
    seen: set[str] = set()
    for row in ds:
        kinds = [
            ("judge_requests", judge_requests(row, judge, image_key=image_key, qas_key=qas_key, votes=votes))
        ]
        if blind is not None:
            kinds.append(("blind_requests", blind_requests(row, blind, qas_key=qas_key)))
        for kind, requests in kinds:
            for key, request in requests:
                if key in seen:
                    continue
                seen.add(key)
                out[kind] += 1
                if store.get(key) is not None:
                    out["in_store"] += 1
                    continue
                text = sum(len(str(m.get("content"))) for m in request.template["messages"]) // 4
                out["prompt_tokens"] += text + 85 * len(request.image_urls)  # 85: a low-detail image tile
    return out
