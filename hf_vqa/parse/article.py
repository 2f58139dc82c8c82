"""Split a ContextVQA output into the article and the pair section, and clean the article prose.

Example:
    >>> lines = classify_lines("# Title\\n\\nBody text.\\n\\n## Q&A\\nQ: Why? A: Because.")
    >>> find_split(lines), extract_article(lines[: find_split(lines)[0]])
    ((4, 5), 'Body text.')
"""

from __future__ import annotations

import re

from hf_vqa.parse.labels import alternation, words
from hf_vqa.parse.lines import Line, classify_lines, has_qmark, is_qa_section

__all__ = ["classify_lines", "extract_article", "find_split"]

_ARTICLE = re.compile(
    r"^(?:(?i:(?:the\s+)?(?:wikipedia|wiki|encyclopedia)(?:[\s\-]*style)?\s+(?:article|entry|passage)|article)"
    r"|维基百科(?:风格)?文章|百科文章|文章)"
)
# The same in every language of `labels.LABELS`, tried first, as a whole label ("Article de type Wikipédia:").
_WORLD_ARTICLE = re.compile(rf"^(?i:{alternation(words('article', letters=False))})(?=\s*(?:[:：\-–—]|$))")
_WEAK_ARTICLE = re.compile(r"^(?:(?i:context|passage|background(?:\s+knowledge)?)|背景知识|背景|上下文)")
_TITLE = re.compile(rf"^(?:(?i:(?:article\s+)?title|{alternation(words('title'))})|标题)\s*[:：]")
_PREAMBLE = re.compile(
    r"^(?:(?i:sure|certainly|of course|okay|ok|absolutely|alright|great|here is|here's|here are|below is"
    rf"|below are|{alternation(words('preamble'))})(?!\w)|好的|以下是|下面是)"
)
# A restated task before the article: "Task: ...", "Criteria:", "Consigne :", "任务：".
_INSTRUCTION = re.compile(rf"^(?i:{alternation(words('instructions'))})\s*[:：]")


def _is_strong_start(ln: Line) -> bool:
    if ln.kind == "table":
        return "question" in ln.raw.lower() or "问题" in ln.raw
    return ln.kind == "text" and (ln.label == "q" or ((ln.numbered or ln.bullet) and has_qmark(ln.text)))


def find_split(lines: list[Line]) -> tuple[int, int]:
    """Return `(article_end, qa_begin)` line indices separating the article from the pairs.

    The pairs start at the first explicit question ("Q1:", "Question:", "问题：", a numbered or bulleted
    item with a "?", a table with a Question column); the article ends at the last section label
    ("## Q&A", "Question Answer Pairs:") before it, if any.
    """
    first = next((i for i, ln in enumerate(lines) if ln.kind == "text"), 0)
    sections = [i for i, ln in enumerate(lines) if is_qa_section(ln, after_text=i > first)]
    strong = next((i for i, ln in enumerate(lines) if _is_strong_start(ln)), None)
    if strong is not None:
        label = max((i for i in sections if i < strong), default=None)
        return (strong if label is None else label), strong
    if sections:
        return sections[-1], sections[-1] + 1
    seen_body = False  # no label at all: the first line ending in "?" after some prose starts the pairs
    for i, ln in enumerate(lines):
        if ln.kind == "text" and seen_body and ln.text.endswith(("?", "？")):
            return i, i
        seen_body = seen_body or (ln.kind == "text" and not ln.heading and len(ln.text.split()) > 12)
    return len(lines), len(lines)


def _looks_like_title(text: str) -> bool:
    return len(text.split()) <= 10 and not text.endswith((".", "!", "?", "。", "！", "？"))


def _article_label(ln: Line) -> tuple[bool, str, bool] | None:
    """`(strong, inline_text, is_title)` when `ln` is an article label such as "**Wikipedia Article:** ..."."""
    if ln.kind != "text" or ln.label:
        return None
    m = _WORLD_ARTICLE.match(ln.text) or _ARTICLE.match(ln.text) or _WEAK_ARTICLE.match(ln.text)
    if m is None:
        return None
    rest = ln.text[m.end() :].strip()
    if rest and rest[0] not in ":：-–—":
        return None
    inline = rest.lstrip(":：-–— ").strip()
    is_title = bool(inline) and (ln.heading or ln.bold or _looks_like_title(inline))
    return m.re is not _WEAK_ARTICLE, inline, is_title


def _drop_instructions(lines: list[Line]) -> list[Line]:
    """Lines without the paragraphs that restate the task before the article ("Task: ...", "Criteria:" and
    their numbered list), when some prose follows them."""
    out: list[Line] = []
    skipping = False
    for ln in lines:
        if ln.kind == "text" and not out and _INSTRUCTION.match(ln.text):
            skipping = True
        if skipping and ln.kind in ("blank", "rule"):
            skipping = False
            continue
        if not skipping:
            out.append(ln)
    return out if any(ln.kind == "text" for ln in out) else lines


def _is_heading_para(para: list[str], lone: bool) -> bool:
    return lone and len(para) == 1 and _looks_like_title(para[0]) and len(para[0].split()) <= 6


def extract_article(lines: list[Line]) -> str:
    """Article prose from the lines before the pairs: labels, titles, restated instructions, preambles and
    refusals dropped, markup removed, a trailing heading ("Questions About the Image", "Quiz") dropped.

    Text before an article label ("**Wikipedia Article:**", "文章：", "Artikel:") is discarded, and so is
    a title (a heading, a bold-only line or "Title: ...") before the first prose line. Paragraphs are kept,
    separated by a blank line; lines within a paragraph are joined with a newline.
    """
    lines = _drop_instructions(lines)
    paras: list[list[str]] = [[]]
    lone: list[bool] = [True]  # per paragraph: one short line standing alone (a heading)
    body = False
    for i, ln in enumerate(lines):
        if ln.kind in ("blank", "rule"):
            if paras[-1]:
                paras.append([])
                lone.append(True)
            continue
        if ln.kind == "fence" or is_qa_section(ln):
            continue
        label = _article_label(ln)
        if label is not None and (label[0] or not body or not label[1]):
            paras, lone, body = [[]], [True], False
            if label[1] and not label[2]:
                paras[-1].append(label[1])
                body = True
            continue
        if not body and (ln.heading or ln.bold or _TITLE.match(ln.text) or _PREAMBLE.match(ln.text)):
            continue
        alone = i + 1 >= len(lines) or lines[i + 1].kind in ("blank", "rule")
        if not body and alone and not paras[-1] and _looks_like_title(ln.text):
            continue  # a bare title line such as "Chess" above the first paragraph
        text = ln.raw if ln.kind == "table" else ln.full
        if text:
            lone[-1] = lone[-1] and not paras[-1] and ln.kind == "text"
            paras[-1].append(text)
            body = True
    kept = [(p, solo) for p, solo in zip(paras, lone) if p]
    while len(kept) > 1 and _is_heading_para(*kept[-1]):
        kept.pop()  # a heading left above the questions
    return "\n\n".join("\n".join(p) for p, _ in kept)
