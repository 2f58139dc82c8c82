"""`Estimate`: what a dry run found (rows, requests, tokens, image sizes), what it would cost online and
through a batch API, and the report and the one line that ``--dry-run`` prints. `estimate.py` fills it.

Example:
    >>> est = Estimate("gpt-4o-mini", "openai-tile", "512-px tiles", rows=2, requests=2, text_tokens=100,
    ...                image_tokens=900, completion_tokens=800, prices=(0.15, 0.6))
    >>> est.cost(), est.to_send
    (0.00063, 2)
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

__all__ = ["BATCH_DISCOUNT", "DEFAULT_COMPLETION_TOKENS", "Estimate"]

DEFAULT_COMPLETION_TOKENS = (
    400  # a guess per request when neither --expect-completion-tokens nor a probe says
)
BATCH_DISCOUNT = 0.5  # OpenAI, Azure, DashScope, Groq, Together: about half the online price


@dataclass
class Estimate:
    """Counts and tokens for the requests a run would send. `line()` is the one-line summary."""

    model: str
    formula: str
    formula_why: str
    rows: int = 0
    images: int = 0
    unreadable: int = 0
    row_errors: int = 0
    requests: int = 0
    in_store: int = 0
    text_tokens: int = 0
    image_tokens: int = 0
    completion_tokens: int = 0
    completion_per_request: float = DEFAULT_COMPLETION_TOKENS
    completion_source: str = "guess"
    by_formula: dict[str, int] = field(default_factory=dict)
    sizes_before: list[tuple[int, int]] = field(default_factory=list)
    sizes_after: list[tuple[int, int]] = field(default_factory=list)
    per_image: list[int] = field(default_factory=list)  # chosen formula, images still to send
    largest: tuple[str, int, int, int, int, int] | None = None  # source, w0, h0, w, h, tokens
    prices: tuple[float, float] | None = None
    batch_discount: float = BATCH_DISCOUNT
    probe_scale: float | None = None
    repair_prompt_tokens: int = 0  # --repair-parse: prompt tokens of one repair request (0: not asked for)
    exact: bool = True  # request keys from prepared images (else from image headers and raw bytes)

    @property
    def to_send(self) -> int:
        """Distinct requests not yet in the request store."""
        return self.requests - self.in_store

    @property
    def prompt_tokens(self) -> int:
        """Estimated prompt tokens of the requests still to send (scaled by a probe, if any)."""
        return round((self.text_tokens + self.image_tokens) * (self.probe_scale or 1.0))

    def prompt_range(self) -> tuple[int, int]:
        """Lowest and highest prompt tokens over the formulas (the chosen one included)."""
        totals = [self.text_tokens + v for v in self.by_formula.values()] or [self.prompt_tokens]
        scale = self.probe_scale or 1.0
        return round(min(totals) * scale), round(max(totals) * scale)

    def cost(self, prompt_tokens: int | None = None, discount: float = 1.0) -> float | None:
        """USD at `prices` (per 1M tokens) times `discount`, or None without prices."""
        if self.prices is None:
            return None
        p = self.prompt_tokens if prompt_tokens is None else prompt_tokens
        return (p * self.prices[0] + self.completion_tokens * self.prices[1]) / 1e6 * discount

    def report(self) -> str:
        """The multi-line account printed by ``--dry-run`` (the summary line last)."""
        lines = [
            f"DRY RUN: nothing was sent to the VLM. model={self.model}",
            f"image-token formula: {self.formula}: {self.formula_why}",
            f"rows: {self.rows}  images: {self.images} (unreadable: {self.unreadable})  "
            f"rows that would fail before sending: {self.row_errors}",
            f"requests: {self.requests} distinct, {self.in_store} already in the request store, "
            f"{self.to_send} to send"
            + ("" if self.exact else " (images read by their headers only: the request store is empty)"),
        ]
        for label, sizes in (("before the caps", self.sizes_before), ("as sent", self.sizes_after)):
            if sizes:
                px = sorted(sizes, key=lambda s: s[0] * s[1])
                mid = px[len(px) // 2]
                lines.append(f"image sizes {label}: min {_wh(px[0])}  median {_wh(mid)}  max {_wh(px[-1])}")
        lo, hi = self.prompt_range()
        scaled = f"; scaled by the probe x{self.probe_scale:.2f}" if self.probe_scale else ""
        lines.append(
            f"prompt tokens to send: {self.prompt_tokens:,} (text ~{self.text_tokens:,} + images "
            f"{self.image_tokens:,}{scaled}); "
            f"over all formulas {lo:,} .. {hi:,}"
        )
        lines.append("  by formula: " + ", ".join(f"{k} {v:,}" for k, v in self.by_formula.items()))
        lines.append(
            f"completion tokens to send: {self.completion_tokens:,} "
            f"({self.completion_per_request:.0f} per request, {self.completion_source})"
        )
        online, batch = self.cost(), self.cost(discount=self.batch_discount)
        if online is None:
            lines.append("cost: unknown (pass --price-in and --price-out, USD per 1M tokens)")
        else:
            low, high = self.cost(lo), self.cost(hi)
            lines.append(
                f"cost: ${online:.4f} online (${low:.4f} .. ${high:.4f} over the formulas), "
                f"${batch:.4f} with --batch (x{self.batch_discount:g})"
            )
        if self.repair_prompt_tokens:
            lines.append(self._repair_line())
        if self.largest is not None and self.sizes_after:
            src, w0, h0, w, h, tok = self.largest
            median = statistics.median(self.per_image) if self.per_image else 0
            ratio = tok / median if median else 0.0
            what = (
                f"largest image: {src} {w0}x{h0}, sent as {w}x{h}, {tok:,} tokens ({ratio:.1f}x the median)"
            )
            if self.prices is not None:
                what += f", ${tok * self.prices[0] / 1e6:.5f} per request"
            lines.append(("warning: " if ratio >= 4 else "") + what)
        lines.append(self.line())
        return "\n".join(lines)

    def _repair_line(self) -> str:
        """What `--repair-parse` may add: one text-only request per reply that does not parse."""
        each_in, each_out = self.repair_prompt_tokens, round(self.completion_per_request)
        worst = self.to_send * each_in, self.to_send * each_out
        price = ""
        if self.prices is not None:
            one = (each_in * self.prices[0] + each_out * self.prices[1]) / 1e6
            price = f", ${one:.5f} each, ${one * self.to_send:.4f} if every reply needs it"
        return (f"--repair-parse: one more text-only request per reply that does not parse, about "
                f"{each_in:,} prompt + {each_out:,} completion tokens each (at most {self.to_send} "
                f"requests: {worst[0]:,} + {worst[1]:,} tokens){price}")  # fmt: skip

    def line(self) -> str:
        """``DRY RUN rows=… requests=… in_store=… images=… prompt_tokens=… completion_tokens=… cost_usd=… batch_cost_usd=…``."""
        online, batch = self.cost(), self.cost(discount=self.batch_discount)
        lo, hi = self.prompt_range()
        parts = [
            f"rows={self.rows}",
            f"requests={self.requests}",
            f"in_store={self.in_store}",
            f"to_send={self.to_send}",
            f"images={self.images}",
            f"unreadable={self.unreadable}",
            f"prompt_tokens={self.prompt_tokens}",
            f"prompt_tokens_range={lo}..{hi}",
            f"completion_tokens={self.completion_tokens}",
            f"cost_usd={'unknown' if online is None else f'{online:.4f}'}",
            f"batch_cost_usd={'unknown' if batch is None else f'{batch:.4f}'}",
            f"formula={self.formula}",
        ]
        return "DRY RUN " + " ".join(parts)


def _wh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
