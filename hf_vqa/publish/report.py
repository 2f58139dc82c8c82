"""One self-contained HTML page to look at the data: gallery, filters, charts. Opens offline anywhere.

`write_report(ds, "out_report.html", pipeline="context-vqa")` (or `build_dataset.py report --output OUT`,
or `--report` after a run) writes a single file: thumbnails are embedded as `data:` URLs, the charts are
inline SVG (`charts.py`), and the filters are plain links styled with CSS `:target` (`report.html#failed`
opens filtered), so the page needs no network, no JavaScript and no library. The filters and counts are
the output's own: failed, and rows with a question repeating an earlier one anywhere (what `--dedupe`
drops) for both pipelines; not grounded, duplicate and leak (the row checks, named and counted as in the
summary line and the card) for context-vqa only; "not verified" and "guessable" after the verify and
blind passes. Rows show the row number and the image's file name, the image, the
question-answer pairs with their check flags (and why an answer counted as grounded), the article,
and any error. A mock run's report says so at the top. At most `max_rows` rows go into the gallery
(the charts count every row).

Example:
    >>> write_report(ds, "out_report.html", pipeline="image-vqa")  # doctest: +SKIP
    PosixPath('out_report.html')
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

from hf_vqa.publish.atomic import replacing
from hf_vqa.publish.charts import bar_chart, histogram
from hf_vqa.publish.report_rows import row_html
from hf_vqa.quality.checks import ROW_CHECKS
from hf_vqa.quality.dedupe import plan_dedupe
from hf_vqa.quality.diversity import dataset_stats
from hf_vqa.spec import PIPELINES

__all__ = ["FILTERS", "write_report"]

# filter id -> (label, the row class it keeps); the row checks' names are those of the summary and card
FILTERS = {
    "all": ("All rows", ""),
    "failed": ("Failed", "failed"),
    "ungrounded": ("Not grounded", "ungrounded"),
    "duplicate": ("duplicate (in the row)", "duplicate"),
    "leak": ("leak", "leak"),
    "repeat": ("Repeats (--dedupe drops)", "repeat"),
    "unverified": ("Not verified", "unverified"),
    "guessable": ("Guessable", "guessable"),
}
REPEATS = (
    "repeat an earlier question (--dedupe drops)"  # any row, this one included; not the `duplicate` check
)
_CHECK_FILTERS = ("ungrounded", "duplicate", "leak")  # only where the pipeline runs the row checks
_MOCK_BANNER = ('<p class="mock"><b>Mock data.</b> Answers came from hf_vqa\'s bundled mock VLM, not a real '
                "model.</p>")  # fmt: skip
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 24px 40px;color:#222;background:#fafafa}
h1{font-size:20px;margin:16px 0 4px}.counts span{margin-right:14px}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:8px 0;background:#fff;border:1px solid #ddd;
padding:8px;border-radius:6px}figcaption{font-weight:600;margin-bottom:4px}svg text{font-size:12px;fill:#333}
.bar{fill:#4a7bd0}.filters{margin:14px 0;position:sticky;top:0;background:#fafafa;padding:6px 0;z-index:1}
.filters a{display:inline-block;padding:4px 10px;margin-right:6px;color:#222;text-decoration:none;
border:1px solid #999;border-radius:14px;background:#fff}.anchor{display:block;height:0}
.empty{clear:both;color:#777;font-style:italic}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.row{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px}
.row.failed{border-color:#d33}.row img{max-width:160px;max-height:160px;float:left;margin:0 10px 6px 0;
border-radius:4px}.noimg{float:left;width:120px;height:80px;margin:0 10px 6px 0;background:#eee;
font-size:12px;display:flex;align-items:center;justify-content:center}
.pairs{clear:both;margin:6px 0 0;padding-left:18px}.q{font-weight:600}.flag{font-size:11px;padding:0 5px;
border-radius:8px;margin-left:4px;background:#e6f0e6}.flag.bad{background:#f8dada}
.error{color:#b00;white-space:pre-wrap;clear:both}details{clear:both;margin-top:6px}
.id{color:#777;font-size:12px}.reason{color:#555;font-size:12px}
.mock{background:#fff3cd;border:1px solid #e0c060;padding:8px 12px;border-radius:6px}
"""


def _filters(pipeline: str, columns: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """The filters that apply: the row checks only where the pipeline runs them (context-vqa), the
    verify and blind ones only when those passes ran (their columns are in `columns`)."""
    checked = "grounded" in PIPELINES[pipeline].filters
    have = set(columns or ())
    skip = set() if checked else set(_CHECK_FILTERS)
    skip |= set() if "qa_verdicts" in have else {"unverified"}
    skip |= set() if "qa_blind" in have else {"guessable"}
    return {fid: v for fid, v in FILTERS.items() if fid not in skip}


def _filter_css(filters: dict[str, tuple[str, str]] = FILTERS) -> str:
    rules = []
    for fid, (_, cls) in filters.items():
        rules.append(f'#{fid}:target~.filters a[href="#{fid}"]{{background:#222;color:#fff}}')
        if cls:
            rules.append(f"#{fid}:target~.gallery .row:not(.{cls}){{display:none}}")
    return "\n".join(rules)


def write_report(
    ds: Any,
    target: str | os.PathLike,
    *,
    pipeline: str = "image-vqa",
    image_key: str = "image",
    max_rows: int = 500,
    title: str | None = None,
    mock: bool = False,
) -> Path:
    """Write the self-contained HTML report of `ds` (an hf_vqa output) to `target`; return its path.

    `mock=True` (a run answered by the bundled mock) puts a "Mock data" banner at the top.
    """
    from hf_vqa.images.columns import undecoded

    ds = undecoded(ds)  # thumbnails read the bytes themselves: an unreadable image is a grey box, not a crash
    refined = PIPELINES[pipeline].refined
    qas_key = refined if refined == "qas" else f"{refined}.qas"
    stats = dataset_stats(ds, qas_key)
    wanted = [c for c in ds.column_names if c != image_key]
    repeats = plan_dedupe(ds, qas_key)  # near-identical repeats of an earlier question, anywhere in ds
    filters = _filters(pipeline, ds.column_names)
    checked = [c for c in ROW_CHECKS if "ungrounded" in filters]  # the summary's and card's own names
    counts = {
        "rows": len(ds),
        "failed": 0,
        **{c.name: 0 for c in checked},
        REPEATS: 0,
        "usage not numbers": 0,
    }
    if "qa_verdicts" in ds.column_names or "qa_blind" in ds.column_names:
        from hf_vqa.quality.summary import count_verdicts

        v = count_verdicts(ds)
        counts |= {"pairs verified": v.verified, "pairs not verified": v.rejected + v.failed,
                   "pairs guessable": v.guessable}  # fmt: skip
    tokens: list[int] = []
    for batch in ds.select_columns(wanted).iter(batch_size=1000):
        n = len(next(iter(batch.values())))
        for i in range(n):
            failed = batch.get("vqa", [None] * n)[i] is None or batch.get(refined, [None] * n)[i] is None
            counts["failed"] += failed
            for check in checked:  # counted as the summary counts them: flag set, on parsed rows
                counts[check.name] += not failed and bool(batch.get(check.column, [False] * n)[i])
            counts[REPEATS] += len(tokens) in repeats
            usage = batch.get("vqa_usage", [None] * n)[i]
            usage = usage if isinstance(usage, dict) else {}
            spent = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
            counts["usage not numbers"] += any(v is not None and not _is_count(v) for v in spent)
            tokens.append(sum(int(v) for v in spent if _is_count(v)))
    shown = ds.select(range(min(len(ds), max_rows)))
    rows = [row_html(i, row, repeats.get(i, []), refined=refined, qas_key=qas_key, image_key=image_key)
            for i, row in enumerate(shown)]  # fmt: skip
    charts = [
        bar_chart("Pairs per image", [(str(k), v) for k, v in sorted(stats.pairs_per_image.items())]),
        bar_chart("Question types", sorted(stats.types.items(), key=lambda kv: -kv[1])),
        histogram("Tokens per row (prompt + completion)", tokens),
    ]
    anchors = "".join(f'<span class="anchor" id="{fid}"></span>' for fid in filters)
    links = "".join(f'<a href="#{fid}">{escape(label)}</a>' for fid, (label, _) in filters.items())
    heading = escape(title or f"{pipeline} data")
    more = f"<p>Showing the first {len(shown)} of {len(ds)} rows.</p>" if len(shown) < len(ds) else ""
    summary = "".join(f"<span><b>{v}</b> {escape(k)}</span>" for k, v in counts.items()
                      if v or k != "usage not numbers")  # fmt: skip
    div = escape(" · ".join(stats.lines()[:2]))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{heading}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}{_filter_css(filters)}</style></head>
<body><h1>{heading}</h1>{_MOCK_BANNER if mock else ""}<p class="counts">{summary}</p><p class="diversity">{div}</p>
<div class="charts">{"".join(charts)}</div>
{anchors}<div class="filters">Show: {links}</div>{more}
<div class="gallery">{"".join(rows)}</div>
</body></html>
"""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing(target) as tmp:  # the old report stays until the new one is complete
        tmp.write_text(page, encoding="utf-8")
    return target


def _is_count(value: Any) -> bool:
    """True for a token count that can be summed: a finite, non-negative number (not a bool)."""
    import math

    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
        isinstance(value, float) and math.isfinite(value) and value >= 0
    )
