"""Tiny inline-SVG bar charts for the HTML report: no JavaScript, no network, no library.

Example:
    >>> svg = bar_chart("Pairs per image", [("1", 3), ("2", 5)])
    >>> svg.startswith("<figure") and "<svg" in svg and "Pairs per image" in svg
    True
"""

from __future__ import annotations

from html import escape

__all__ = ["bar_chart", "histogram"]

_ROW = 22  # pixels per bar
_LABEL = 110  # pixels for the labels on the left
_WIDTH = 360


def bar_chart(title: str, bars: list[tuple[str, int]], *, css_class: str = "chart") -> str:
    """Horizontal bars, one per `(label, value)`, with the value written after each bar."""
    top = max((v for _, v in bars), default=0) or 1
    height = _ROW * max(1, len(bars)) + 8
    parts = [
        f'<figure class="{escape(css_class)}"><figcaption>{escape(title)}</figcaption>',
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{_LABEL + _WIDTH + 50}" height="{height}" viewBox="0 0 {_LABEL + _WIDTH + 50} {height}">',
    ]
    for i, (label, value) in enumerate(bars):
        y = 4 + i * _ROW
        w = max(1, round(_WIDTH * value / top)) if value else 0
        parts.append(
            f'<text x="{_LABEL - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{_LABEL}" y="{y + 3}" width="{w}" height="{_ROW - 6}" rx="2">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{_LABEL + w + 4}" y="{y + 15}" class="value">{value}</text>'
        )
    if not bars:
        parts.append(f'<text x="{_LABEL}" y="18">no data</text>')
    parts.append("</svg></figure>")
    return "".join(parts)


def histogram(title: str, values: list[int], *, buckets: int = 8) -> str:
    """Values grouped into at most `buckets` equal-width ranges, drawn with `bar_chart`.

    Example:
        >>> "0–7" in histogram("Tokens", [0, 5, 9, 12, 30], buckets=4)
        True
    """
    if not values:
        return bar_chart(title, [])
    low, high = min(values), max(values)
    width = max(1, -(-(high - low + 1) // buckets))
    counts: dict[int, int] = {}
    for v in values:
        start = low + (v - low) // width * width
        counts[start] = counts.get(start, 0) + 1
    bars = []
    for start in range(low, high + 1, width):
        label = str(start) if width == 1 else f"{start}–{start + width - 1}"
        bars.append((label, counts.get(start, 0)))
    return bar_chart(title, bars)
