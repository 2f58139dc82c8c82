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

import base64
import io
import os
from html import escape
from pathlib import Path
from typing import Any

from hf_vqa.publish.atomic import replacing
from hf_vqa.publish.charts import bar_chart, histogram
from hf_vqa.quality.checks import PAIR_CHECKS, ROW_CHECKS
from hf_vqa.quality.dedupe import plan_dedupe
from hf_vqa.quality.diversity import as_shown, dataset_stats, read_pairs
from hf_vqa.spec import PIPELINES

__all__ = ["FILTERS", "read_output_folder", "thumbnail_data_url", "write_report"]

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


def thumbnail_data_url(value: Any, size: int = 192) -> str | None:
    """A small JPEG `data:` URL for an image value (`{bytes, path}`, PIL image or local path); None
    when there is nothing local to read (a URL is never fetched: the report stays offline).

    Example:
        >>> from PIL import Image
        >>> thumbnail_data_url(Image.new("RGB", (800, 600), "red")).startswith("data:image/jpeg;base64,")
        True
    """
    from PIL import Image as PILImage

    try:
        if isinstance(value, PILImage.Image):
            im = value.copy()
        else:
            data = value.get("bytes") if isinstance(value, dict) else None
            path = value.get("path") if isinstance(value, dict) else value
            if not data and isinstance(path, str) and os.path.isfile(path):
                data = Path(path).read_bytes()
            if not data:
                return None
            im = PILImage.open(io.BytesIO(data))
        im.thumbnail((size, size))
        out = io.BytesIO()
        im.convert("RGB").save(out, "JPEG", quality=80)
    except Exception:  # an unreadable image is shown as a grey box, never a failed report
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _verdict_html(verdict: dict | None, blind: dict | None, judged: bool) -> str:
    """The judge's verdict and reason for one pair, and the blind pass's flag."""
    html = ""
    if verdict:
        ok = verdict.get("answerable") and verdict.get("correct")
        label = (
            "verified" if ok else ("wrong" if not verdict.get("correct") else "not answerable from the image")
        )
        votes = (
            f" · {escape(verdict['votes'])}" if verdict.get("votes") and "/1," not in verdict["votes"] else ""
        )
        html += f'<span class="flag{"" if ok else " bad"}">{label}</span>'
        html += f'<br><span class="reason">judge: {escape(verdict.get("reason") or "")}{votes}</span>'
    elif judged:
        html += '<span class="flag bad">not judged</span>'
    if blind and blind.get("guessable"):
        html += f'<span class="flag bad" title="{escape(blind.get("blind_answer") or "")}">guessable without the image</span>'
    return html


def _pair_html(pair: dict, check: dict | None, repeat: bool, verdict_html: str = "", raw: Any = None) -> str:
    flags = '<span class="flag bad">repeats an earlier question</span>' if repeat else ""
    odd = [
        k
        for k in ("question", "answer")
        if not isinstance(raw, dict) or not isinstance(raw.get(k), (str, type(None)))
    ]
    if odd:  # a value of another type (a foreign or hand-edited parquet): shown as it is, and said so
        flags += f'<span class="flag bad">{escape(" and ".join(odd))} not text</span>'
    if isinstance(check, dict):
        grounded = check.get("grounded")
        why = as_shown(check.get("grounded_by"))
        flags += (
            f'<span class="flag{"" if grounded else " bad"}">{"grounded" if grounded else "not grounded"}'
        )
        flags += f" ({escape(why)})</span>" if grounded and why else "</span>"
        flags += '<span class="flag bad">duplicate</span>' if check.get("duplicate") else ""
        flags += '<span class="flag bad">leak</span>' if check.get("leak") else ""
    q, a = escape(pair.get("question") or ""), escape(pair.get("answer") or "")
    return f'<li><span class="q">{q}</span>{flags}<br><span class="a">{a}</span>{verdict_html}</li>'


def _row_html(
    index: int, row: dict, repeats: list[int], *, refined: str, qas_key: str, image_key: str
) -> str:
    images = row.get(image_key)
    images = images if isinstance(images, list) else [images]
    thumbs = [thumbnail_data_url(im) for im in images if im is not None]
    pairs = read_pairs(row.get(refined), qas_key)
    raw = read_pairs(row.get(refined), qas_key, as_text=False) or []
    checks = row.get(PAIR_CHECKS) if isinstance(row.get(PAIR_CHECKS), list) else []
    classes = ["row"]
    error = row.get("vqa_error") or row.get(f"{refined}_error")
    if row.get("vqa") is None or pairs is None:
        classes.append("failed")
    if pairs is not None and checks:
        classes += [c for c, hit in (("ungrounded", not row.get("all_grounded", True)),
                                     ("leak", row.get("has_leak"))) if hit]  # fmt: skip
    if row.get("has_duplicate"):
        classes.append("duplicate")
    if repeats:
        classes.append("repeat")
    judged = "qa_verdicts" in row and bool(pairs)
    verdicts, blinds = row.get("qa_verdicts") or [], row.get("qa_blind") or []
    if judged and not all(v and v.get("answerable") and v.get("correct") for v in _aligned(verdicts, pairs)):
        classes.append("unverified")
    if any(b and b.get("guessable") for b in blinds):
        classes.append("guessable")
    img = "".join(f'<img alt="row {index} image" src="{t}">' if t else '<div class="noimg">no local image</div>'
                  for t in thumbs) or '<div class="noimg">no image</div>'  # fmt: skip
    names = _file_names(row, images)
    body = [
        f'<div class="{" ".join(classes)}" data-row="{index}">',
        img,
        f'<div class="id">row {index}{" · " + escape(names) if names else ""}</div>',
    ]
    if pairs:
        body.append('<ol class="pairs">')
        body += [
            _pair_html(p, checks[j] if j < len(checks) else None, j in repeats,
                       _verdict_html(_at(verdicts, j), _at(blinds, j), judged), raw[j] if j < len(raw) else None)
            for j, p in enumerate(pairs)
        ]  # fmt: skip
        body.append("</ol>")
    elif pairs is not None:
        body.append('<p class="empty">no pairs left (all dropped by --dedupe or the model gave none)</p>')
    value = row.get(refined)
    if isinstance(value, dict) and value.get("context"):
        body.append(
            f"<details><summary>Article</summary><p>{escape(as_shown(value['context']))}</p></details>"
        )
    if error:
        body.append(f'<div class="error">{escape(str(error))}</div>')
    body.append("</div>")
    return "".join(body)


def _at(items: list, j: int) -> Any:
    return items[j] if j < len(items) else None


def _aligned(items: list, pairs: list | None) -> list:
    return [_at(items, j) for j in range(len(pairs or []))]


def _file_names(row: dict, images: list) -> str:
    """The row's image file name(s), as the input named them (`file_name`, else the images' paths)."""
    if isinstance(row.get("file_name"), str) and row["file_name"]:
        return row["file_name"]
    paths = [im.get("path") for im in images if isinstance(im, dict)]
    return ", ".join(Path(p.split("?")[0]).name for p in paths if isinstance(p, str) and p)


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
    rows = [_row_html(i, row, repeats.get(i, []), refined=refined, qas_key=qas_key, image_key=image_key)
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


def read_output_folder(folder: str | os.PathLike, split: str = "train") -> Any:
    """An output folder's parquet files as a `Dataset`, read directly (never through `load_dataset`'s
    cache, which can hand back an older version of a rewritten folder)."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hf_vqa.errors import InputError

    files = sorted((Path(folder) / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise InputError(f"no parquet files for split {split!r}", received=str(folder),
                         fix="pass the --output folder of a finished run (it holds data/<split>-*.parquet)")  # fmt: skip
    table = pa.concat_tables([pq.read_table(f) for f in files])
    return datasets.Dataset(table)
