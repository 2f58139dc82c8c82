"""Line-level machinery behind `hf_vqa.parse`: classify lines, split the article from the pairs, group pairs.

Every regex here is anchored or bounded and has no nested quantifiers, and each line is looked at a
constant number of times, so parsing is linear in the input (20 KB in a few milliseconds).

Example:
    >>> [ln.label for ln in classify_lines("**Q1:** Who built it?\\n- **Answer**: Joseph Strauss")]
    ['q', 'a']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADING = re.compile(r"^#{1,6}\s+")
_BULLET = re.compile(r"^[-*•+–—·]\s+")
_QUOTE = re.compile(r"^(?:>\s?)+")
_RULE = re.compile(r"^(?:[-*_=]\s*){3,}$")
_FENCE = re.compile(r"^(?:```|~~~)")
_NUMBER = re.compile(r"^(?:\(\d{1,2}\)|（\d{1,2}）|\d{1,2}\s*[.)、．:：](?!\d))\s*")
_TABLE_SEP = re.compile(r"^[\s|:\-–—]+$")
_LINK = re.compile(r"\[([^\[\]\n]{0,300})\]\([^()\s]{0,500}\)")
_UNDERSCORE = re.compile(r"(?<!\w)_{1,2}([^_\n]+)_{1,2}(?!\w)")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")

_Q_LABEL = re.compile(
    r"^(?:(?:Q|(?i:question))\s*(?:\d{1,2}\s*)?[:：]|(?:Q|(?i:question))\s*\d{1,2}\s*[.)]|问题?\s*(?:\d{1,2}\s*)?[:：])\s*"
)
_Q_MARKER = re.compile(r"(?:^|(?<=\s))(?:\*\*)?(?:Q\d{0,2}|Question\s*\d{0,2})(?:\*\*)?\s*[:：]")
_DASH_SPLIT = re.compile(r"\s[-–—]\s")
_Q_ALONE = re.compile(r"^(?:(?i:question)\s*\d{0,2}|Q\d{1,2}|问题\s*\d{0,2})\s*$")
_A_LABEL = re.compile(
    r"^(?:(?:A|(?i:answer)s?)\s*(?:\d{1,2}\s*)?[:：]|(?:A|(?i:answer))\s*\d{1,2}\s*[.)]"
    r"|(?:答案|答|回答)\s*(?:\d{1,2}\s*)?[:：])\s*"
)
_A_ALONE = re.compile(r"^(?:(?i:answer)s?\s*\d{0,2}|A\d{1,2}|答案\s*\d{0,2})\s*$")
# An answer label inside a question line ("Q: Who? A: Joseph Strauss"): must follow a space or a stop.
_A_INLINE = re.compile(
    r"(?:(?<=\s)|(?<=[?？。]))(?:A\s*(?:\d{1,2}\s*)?|(?i:answer)\s*(?:\d{1,2}\s*)?|答案|答)[:：]"
)

_QA_SECTION = re.compile(
    r"^(?:the\s+)?(?:(?:(?:visual\s+)?question[\s\-–/]*(?:and\s+|&\s*)?answer|q\s*&\s*a|q\s*/\s*a|v?qa)s?"
    r"(?:[\s\-]*pairs?)?|questions?|问答对?|问题与答案|问题和答案)$"
)
_ARTICLE = re.compile(
    r"^(?:(?i:(?:the\s+)?(?:wikipedia|wiki|encyclopedia)(?:[\s\-]*style)?\s+(?:article|entry|passage)|article)"
    r"|维基百科(?:风格)?文章|百科文章|文章)"
)
_WEAK_ARTICLE = re.compile(r"^(?:(?i:context|passage|background(?:\s+knowledge)?)|背景知识|背景|上下文)")
_TITLE = re.compile(r"^(?:(?i:(?:article\s+)?title)|标题)\s*[:：]")
_PREAMBLE = re.compile(
    r"^(?:(?i:sure|certainly|of course|okay|ok|absolutely|alright|great|here is|here's|here are|below is"
    r"|below are)\b|好的|以下是|下面是)"
)
_NOTE = re.compile(
    r"^(?:(?i:\(?(?:notes?|explanation|rationale|reasoning|evidence|justification|source|disclaimer|remarks?)"
    r"\s*[:：)]|i hope|hope this|let me know|feel free|if you|these (?:questions|answers|qa|q&a|pairs)"
    r"|the above|all (?:of )?(?:the |these )?(?:answers|questions))|(?:注|注意|说明|备注)\s*[:：]|希望|以上)"
)


def strip_markup(text: str) -> str:
    """Remove inline markdown (bold/italic markers, backticks, links, `<br>`) and collapse spaces.

    Example:
        >>> strip_markup("**Answer**: *International* `Orange`")
        'Answer: International Orange'
    """
    text = _HTML_BREAK.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = text.replace("*", "").replace("`", "")
    text = _UNDERSCORE.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


@dataclass
class Line:
    """One classified line. `text` is the plain content without markup, bullet or numbering."""

    kind: str  # "blank" | "rule" | "fence" | "table" | "text"
    raw: str = ""  # the stripped original line, markup kept
    full: str = ""  # plain content with its numbering kept (used for article prose)
    text: str = ""
    indent: int = 0
    heading: bool = False
    bullet: bool = False
    numbered: bool = False
    bold: bool = False  # the whole line is wrapped in ** **
    label: str = ""  # "q" | "a" | ""
    content: str = ""  # text after the q/a label


def classify_line(line: str) -> Line:
    """Classify one raw line (see `Line`)."""
    stripped = line.strip()
    indent = len(line) - len(line.lstrip())
    if not stripped:
        return Line("blank", indent=indent)
    stripped = _QUOTE.sub("", stripped).strip() or stripped
    if _FENCE.match(stripped):
        return Line("fence", stripped, indent=indent)
    if _RULE.match(stripped):
        return Line("rule", stripped, indent=indent)
    if stripped.startswith("|") and stripped.count("|") >= 2:
        return Line("table", stripped, indent=indent)
    ln = Line("text", stripped, indent=indent)
    s = stripped
    if m := _HEADING.match(s):
        ln.heading, s = True, s[m.end() :].rstrip("#").strip()
    if m := _BULLET.match(s):
        ln.bullet, s = True, s[m.end() :]
    ln.bold = len(s) > 4 and s.startswith(("**", "__")) and s.endswith(("**", "__"))
    plain = strip_markup(s)
    ln.full = plain
    if m := _NUMBER.match(plain):
        ln.numbered, plain = True, plain[m.end() :]
    ln.text = plain
    if m := _Q_LABEL.match(plain):
        ln.label, ln.content = "q", plain[m.end() :]
    elif _Q_ALONE.match(plain):
        ln.label = "q"
    elif m := _A_LABEL.match(plain):
        ln.label, ln.content = "a", plain[m.end() :]
    elif _A_ALONE.match(plain):
        ln.label = "a"
    return ln


def _split_squashed(line: str) -> list[str]:
    """Split "Q1: ... A1: ... Q2: ... A2: ..." written as one paragraph into one line per question."""
    starts = [m.start() for m in _Q_MARKER.finditer(line)]
    if len(starts) < 2:
        return [line]
    cuts = [0, *(i for i in starts if i > 0), len(line)]
    return [line[a:b] for a, b in zip(cuts, cuts[1:]) if line[a:b].strip()]


def classify_lines(text: str) -> list[Line]:
    """Classify every line of `text` (a paragraph of squashed "Q1: ... Q2: ..." pairs is split first)."""
    return [classify_line(part) for line in text.splitlines() for part in _split_squashed(line)]


def _has_qmark(text: str) -> bool:
    return "?" in text or "？" in text


def is_qa_section(ln: Line, *, after_text: bool = False) -> bool:
    """True for a heading/label that opens the question-answer section ("## Q&A", "QA pairs:").

    A sentence line ending in ":" that mentions questions and answers counts too ("Here are some
    question-answer pairs based on the article:"), unless it is the opening line and also mentions the
    article: then it is a preamble announcing both parts (`after_text` says some text came before).
    """
    if ln.kind != "text" or ln.label or not ln.text:
        return False
    low = ln.text.lower().rstrip(":：").strip()
    if _QA_SECTION.match(low):
        return True
    if len(low.split()) > 25:
        return False
    if not after_text and any(w in low for w in ("article", "wikipedia", "passage", "文章")):
        return False
    mentions = ("question" in low and "answer" in low) or "q&a" in low or "qa pair" in low or "问答" in low
    return mentions and (ln.text.endswith((":", "：")) or ln.heading or ln.bold)


def _is_strong_start(ln: Line) -> bool:
    if ln.kind == "table":
        return "question" in ln.raw.lower() or "问题" in ln.raw
    return ln.kind == "text" and (ln.label == "q" or ((ln.numbered or ln.bullet) and _has_qmark(ln.text)))


def find_split(lines: list[Line]) -> tuple[int, int]:
    """Return `(article_end, qa_begin)` line indices separating the article from the pairs."""
    first = next((i for i, ln in enumerate(lines) if ln.kind == "text"), 0)
    sections = [i for i, ln in enumerate(lines) if is_qa_section(ln, after_text=i > first)]
    strong = next((i for i, ln in enumerate(lines) if _is_strong_start(ln)), None)
    if strong is not None:
        label = max((i for i in sections if i < strong), default=None)
        return (strong if label is None else label), strong
    labels = sections
    if labels:
        return labels[-1], labels[-1] + 1
    seen_body = False
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
    m = _ARTICLE.match(ln.text) or _WEAK_ARTICLE.match(ln.text)
    if m is None:
        return None
    rest = ln.text[m.end() :].strip()
    if rest and rest[0] not in ":：-–—":
        return None
    inline = rest.lstrip(":：-–— ").strip()
    is_title = bool(inline) and (ln.heading or ln.bold or _looks_like_title(inline))
    return m.re is _ARTICLE, inline, is_title


def extract_article(lines: list[Line]) -> str:
    """Article prose from the lines before the pairs: labels, titles and preambles dropped, markup removed.

    Text before an article label ("**Wikipedia Article:**", "文章：") is discarded, and so is a title
    (a heading, a bold-only line or "Title: ...") before the first prose line. Paragraphs are kept,
    separated by a blank line; lines within a paragraph are joined with a newline.
    """
    paras: list[list[str]] = [[]]
    body = False
    for i, ln in enumerate(lines):
        if ln.kind in ("blank", "rule"):
            if paras[-1]:
                paras.append([])
            continue
        if ln.kind == "fence" or is_qa_section(ln):
            continue
        label = _article_label(ln)
        if label is not None and (label[0] or not body or not label[1]):
            paras, body = [[]], False
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
            paras[-1].append(text)
            body = True
    return "\n\n".join("\n".join(p) for p in paras if p)


def split_inline(question: str, raw: str) -> tuple[str, str | None]:
    """Split "What year? A: 1937", "**What year?** 1937", "What year? – 1937", "What year? (1937)"."""
    qpos = min((i for i in (question.find("?"), question.find("？")) if i >= 0), default=-1)
    if m := _A_INLINE.search(question, max(qpos, 0)):
        return question[: m.start()].strip(), question[m.end() :].strip()
    if qpos >= 0:
        rest = question[qpos + 1 :].strip()
        if rest and rest[0] in "-–—:：→":
            return question[: qpos + 1].strip(), rest.lstrip("-–—:：→ ").strip()
        if rest[:1] in ("(", "（") and rest[-1:] in (")", "）") and not _NOTE.match(rest[1:]):
            return question[: qpos + 1].strip(), rest[1:-1].strip()
        if rest and any(mark in raw for mark in ("?**", "?*", "?__", "？**")):
            return question[: qpos + 1].strip(), rest
    return question.strip(), None


@dataclass
class Block:
    """One question with the lines that follow it, until the next question starts."""

    indent: int
    question: str = ""
    answer: list[str] | None = None  # None: no answer seen; []: an explicit but empty answer
    closed: bool = False
    items: bool = False  # the answer is a list of bullet items
    extra: list[str] = field(default_factory=list)

    def pair(self) -> tuple[str, str] | None:
        """(question, answer) with list items joined by ", "; None when no answer was found.

        A numbered item with no "?" and no answer line ("1. Name the gulf - Gulf of Naples") is split at
        its first spaced dash as a last resort.
        """
        if self.answer is not None:
            return self.question, ", ".join(self.answer)
        if not _has_qmark(self.question) and (m := _DASH_SPLIT.search(self.question)):
            return self.question[: m.start()].strip(), self.question[m.end() :].strip()
        return None

    def set_question(self, text: str, raw: str) -> None:
        self.question, inline = split_inline(text, raw)
        if inline is not None:
            self.answer = [inline] if inline else []

    def feed(self, ln: Line) -> None:
        if self.closed:
            return
        if ln.kind == "blank":
            self.closed = bool(self.answer)
            return
        if ln.kind in ("rule", "fence", "table") or (ln.heading and not ln.label):
            self.closed = self.answer is not None
            return
        if _NOTE.match(ln.text) or is_qa_section(ln, after_text=True):
            self.closed = self.answer is not None
            return
        if ln.label == "a":
            if self.answer:
                self.closed = True
            else:
                self.answer = [ln.content] if ln.content else []
            return
        if self.answer is None:
            if not self.question:
                self.set_question(ln.text, ln.raw)
            else:
                self.answer, self.items = [ln.text], ln.bullet
        elif not self.answer:
            self.answer, self.items = [ln.text], ln.bullet
        elif ln.bullet or ln.numbered:
            self.answer.append(ln.text)
        else:
            self.answer[-1] += " " + ln.text


def _starts_block(ln: Line, cur: Block | None) -> bool:
    if ln.kind != "text" or ln.label == "a":
        return False
    if ln.label == "q":
        return True
    if ln.numbered:
        return not (cur is not None and cur.answer is not None and ln.indent > cur.indent)
    answered = cur is None or cur.answer is not None
    if ln.bullet and _has_qmark(ln.text):
        return answered or ln.indent <= cur.indent  # type: ignore[union-attr]
    return answered and ln.text.endswith(("?", "？"))


def _table_pair(ln: Line, header: tuple[int, int] | None) -> tuple[tuple[str, str] | None, tuple | None]:
    cells = [strip_markup(c) for c in ln.raw.strip().strip("|").split("|")]
    if _TABLE_SEP.match(ln.raw):
        return None, header
    lows = [c.lower() for c in cells]
    if header is None and any("question" in c or "问题" in c for c in lows):
        qi = next(i for i, c in enumerate(lows) if "question" in c or "问题" in c)
        ai = next((i for i, c in enumerate(lows) if "answer" in c or "答案" in c), qi + 1)
        return None, (qi, ai)
    if header is not None:
        qi, ai = header
        return ((cells[qi], cells[ai]) if max(qi, ai) < len(cells) else None), header
    rest = [c for c in cells if c and not c.strip(" .#").isdigit()]
    return ((rest[0], rest[1]) if len(rest) >= 2 else None), header


def _answer_list_follows(lines: list[Line], i: int) -> bool:
    j = i + 1
    while j < len(lines) and lines[j].kind == "blank":
        j += 1
    return j < len(lines) and lines[j].kind == "text" and lines[j].numbered


def _trailing_unanswered(blocks: list[Block]) -> list[Block]:
    k = len(blocks)
    while k > 0 and blocks[k - 1].answer is None:
        k -= 1
    return blocks[k:]


def build_blocks(lines: list[Line]) -> list[Block]:
    """Group the lines of a question-answer section into blocks, one per question."""
    blocks: list[Block] = []
    cur: Block | None = None
    header: tuple[int, int] | None = None
    pending: list[Block] = []  # questions listed first, answered by a separate "Answers:" list
    for i, ln in enumerate(lines):
        if pending:
            if ln.kind == "blank":
                continue
            if ln.kind == "text" and (ln.numbered or ln.bullet or ln.label == "a"):
                block = pending.pop(0)
                block.answer, block.closed = [ln.content if ln.label == "a" else ln.text], True
                continue
            pending = []
        if ln.label == "a" and not ln.content and _answer_list_follows(lines, i):
            pending = _trailing_unanswered(blocks)
            if len(pending) >= 2:
                cur = None
                continue
            pending = []
        if ln.kind == "table":
            pair, header = _table_pair(ln, header)
            if cur is not None:
                cur.closed = True
            if pair is not None:
                cur = Block(ln.indent, pair[0], [pair[1]] if pair[1] else [])
                blocks.append(cur)
            continue
        if _starts_block(ln, cur):
            if cur is not None:
                cur.closed = True
            cur = Block(ln.indent)
            blocks.append(cur)
            cur.set_question(ln.content if ln.label == "q" else ln.text, ln.raw)
        elif cur is not None:
            cur.feed(ln)
    return blocks
