"""`Summary`: a run's totals, counted from its output columns, one batch at a time.

`run_pipeline` (Arrow), the stream path and the shard merge all count with it, so it sits below them
(it imports nothing from the pipeline).

Example:
    >>> s = Summary()
    >>> s.add({"vqa": ["x", None], "vqa_usage": [_U, _U], "qas": [[], None], "qas_error": [None, None]}, "qas")
    >>> s.line()
    'rows=2 succeeded=1 failed=1 parse_failed=0 tokens=6 seconds=0.0'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_vqa.quality.checks import ROW_CHECKS

__all__ = ["Summary"]

_U = {"cached": False, "attempts": 1, "prompt_tokens": 2, "completion_tokens": 1}  # the docstring's usage


@dataclass
class Summary:
    """Totals for a run, read back from the output columns (so they hold across processes)."""

    rows: int = 0
    succeeded: int = 0
    failed: int = 0
    parse_failed: int = 0
    cached: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    checks: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    adapted: str = ""  # what the endpoint made the run change (`engine.adapt`), "" when nothing
    quality: str = ""  # the verify/blind passes: "verified=N rejected=N guessable=N" (`quality.summary`)
    repaired: int = 0  # rows whose pairs came from a `--repair-parse` reformatting
    repair_requests: int = 0  # repair requests made (answered or not), tokens counted in the totals

    def add(
        self, batch: dict[str, list], refined_key: str, prices: tuple[float, float] | None = None
    ) -> None:
        """Count one batch of output rows (columns `vqa*`, `<refined_key>*` and the row checks) in."""
        for text, usage, parsed_err in zip(batch["vqa"], batch["vqa_usage"], batch[f"{refined_key}_error"]):
            self.rows += 1
            if text is None:
                self.failed += 1
            else:
                self.succeeded += 1
                self.parse_failed += parsed_err is not None
            self.cached += bool(usage["cached"])
            self.retries += max(0, usage["attempts"] - 1)
            self.prompt_tokens += usage["prompt_tokens"]
            self.completion_tokens += usage["completion_tokens"]
        for usage, done in zip(batch.get("vqa_repair_usage") or [], batch.get("repaired") or []):
            if usage is not None:
                self.repair_requests += 1
                self.repaired += bool(done)
                self.prompt_tokens += usage["prompt_tokens"]
                self.completion_tokens += usage["completion_tokens"]
        parsed = [v is not None for v in batch[refined_key]]
        for check in ROW_CHECKS:
            if check.column in batch:
                hits = sum(bool(v) for v, p in zip(batch[check.column], parsed) if p)
                self.checks[check.name] = self.checks.get(check.name, 0) + hits
        if prices is not None:
            self.cost_usd = (self.prompt_tokens * prices[0] + self.completion_tokens * prices[1]) / 1e6

    def line(self) -> str:
        """The one-line closing summary."""
        parts = [
            f"rows={self.rows}",
            f"succeeded={self.succeeded}",
            f"failed={self.failed}",
            f"parse_failed={self.parse_failed}",
            f"tokens={self.prompt_tokens + self.completion_tokens}",
            f"seconds={self.seconds:.1f}",
        ]
        if self.repair_requests:
            parts.append(f"repaired={self.repaired}/{self.repair_requests}")
        parts += [f"{k}={v}" for k, v in self.checks.items()]
        if self.quality:
            parts.append(self.quality)
        if self.cost_usd is not None:
            parts.append(f"cost_usd={self.cost_usd:.4f}")
        if self.adapted:
            parts.append(f"(sent: {self.adapted})")
        return " ".join(parts)
