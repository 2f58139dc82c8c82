"""One row of the report's gallery as HTML: thumbnails, pairs with their flags, verdicts, article, error.

The classes on a row (`failed`, `ungrounded`, `repeat`, `unverified`, ...) are what the report's CSS
filters select on (`hf_vqa.publish.report.FILTERS`).

Example:
    >>> row_html(0, {"vqa": None, "vqa_error": "timeout"}, [], refined="qa", qas_key="qas", image_key="image")[:40]
    '<div class="row failed" data-row="0"><di'
"""

from __future__ import annotations

import base64
import io
import os
from html import escape
from pathlib import Path
from typing import Any

from hf_vqa.quality.checks import PAIR_CHECKS
from hf_vqa.quality.diversity import as_shown, read_pairs


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


def row_html(index: int, row: dict, repeats: list[int], *, refined: str, qas_key: str, image_key: str) -> str:
    """Row `index` as a gallery card; `repeats` are its pairs that repeat an earlier question."""
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


__all__ = ["row_html", "thumbnail_data_url"]
