"""Line classification for `hf_vqa.parse.reply`: markup stripping, bullets, numbering, Q/A labels, section labels.

Every regex here is anchored or bounded and has no nested quantifiers, and each line is looked at a
constant number of times, so classifying is linear in the input.

Example:
    >>> [ln.label for ln in classify_lines("**Q1:** Who built it?\\n- **Answer**: Joseph Strauss")]
    ['q', 'a']
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from hf_vqa.parse.labels import LABELS, QMARKS, alternation, words

_HEADING = re.compile(r"^#{1,6}\s+")
_BULLET = re.compile(r"^[-*•+–—·]\s+")
_QUOTE = re.compile(r"^(?:>\s?)+")
_RULE = re.compile(r"^(?:[-*_=]\s*){3,}$")
_FENCE = re.compile(r"^(?:```|~~~)")
_NUMBER = re.compile(r"^(?:\(\d{1,2}\)|（\d{1,2}）|\d{1,2}\s*[.)、．:：](?!\d))\s*")
_LINK = re.compile(r"\[([^\[\]\n]{0,300})\]\([^()\s]{0,500}\)")
_UNDERSCORE = re.compile(r"(?<!\w)_{1,2}([^_\n]+)_{1,2}(?!\w)")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_INLINE = re.compile(r"</?(?:b|strong|i|em|u|mark|span|p|code)(?:\s[^<>]{0,200})?>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")

# A label's number: "Q1", "Q 1", "Q-1", "Q#1", "Question (1)".
_N = r"(?:\s*[-#]?\s*(?:\d{1,2}|\(\d{1,2}\)))"
# "Q:", "Q1:", "Q1.", "Q.", "Q)", "Q -", "[Q]", "q:", "Ques:", "Question:", "QUESTION 2:", "Question #2:",
# "Question (2):", "Question.", "Question 1 -", "问题1：", "问：" at the start of a line (after bullets). A bare
# lowercase "q"/"a" takes a colon (or a dot after a number): "a." and "a)" open lettered lists, not answers.
_Q_LABEL = re.compile(
    rf"^(?:\[(?:Q|(?i:question))\]|(?:Q|(?i:q|ques|question|query)){_N}?\s*[:：]"
    rf"|(?:Q|(?i:q|ques|question)){_N}\s*[.)](?!\d)|(?:Q|(?i:ques|question))\s*[.)](?=\s)"
    rf"|(?:Q|(?i:ques|question)){_N}?\s+[-–—](?=\s)|问题?\s*(?:\d{{1,2}}\s*)?[:：])\s*"
)
# Where each question starts in a paragraph of squashed pairs ("Q1: ... A1: ... Q2: ...").
_Q_MARKER = re.compile(r"(?:^|(?<=\s))(?:\*\*)?(?:Q\d{0,2}|Question\s*\d{0,2})(?:\*\*)?\s*[:：]")
_Q_ALONE = re.compile(r"^(?:(?i:question)\s*\d{0,2}|Q\d{1,2}|问题\s*\d{0,2})\s*$")
# "A:", "A1:", "A1.", "A.", "A)", "A -", "[A]", "a:", "Ans:", "Ans.", "Ans -", "Answer:", "Answers:", "ANSWER 2:",
# "Answer #2:", "Answer (2):", "Answer.", "答案：", "答：" at the start of a line.
_A_LABEL = re.compile(
    rf"^(?:\[(?:A|(?i:answer))\]|(?:A|(?i:a|ans|answers?)){_N}?\s*[:：]"
    rf"|(?:A|(?i:a|ans|answer)){_N}\s*[.)](?!\d)|(?:A|(?i:ans|answer))\s*[.)](?=\s)"
    rf"|(?:A|(?i:ans|answer)){_N}?\s+[-–—](?=\s)|(?:答案|答|回答)\s*(?:\d{{1,2}}\s*)?[:：])\s*"
)
# Every language of `labels.LABELS`: "Frage 1:", "R :", "質問1：", "问题一：", "Câu hỏi:", "السؤال:". Words are
# case-insensitive; single letters only upper case, and only with a colon.
_LABEL_N = r"(?:\s*[-#]?\s*(?:\d{1,2}|\(\d{1,2}\)|[一二三四五六七八九十]{1,3}))?\s*[:：]\s*"


# After a whole word, a number with a dot or a dash works too: "Вопрос 1. Что это?", "Frage 1 – Was ist das?".
_WORD_N = r"(?:\s*\d{1,2}\s*[.)](?!\d)\s*|(?:\s*\d{1,2})?\s+[-–—]\s+)"


def _world(kind: str) -> re.Pattern:
    long = alternation(words(kind, letters=False))
    letters = "|".join(re.escape(w) for w in words(kind) if len(w) == 1)
    return re.compile(rf"^(?:(?:(?i:{long})|{letters}){_LABEL_N}|(?i:{long}){_WORD_N})")


def _alone(kind: str) -> re.Pattern:
    return re.compile(rf"^(?i:{alternation(words(kind, letters=False))})\s*(?:\d{{1,2}})?\s*$")


_Q_WORLD, _A_WORLD = _world("question"), _world("answer")
_BLOCK_SCALAR = {"|", ">", "|-", ">-", "|+", ">+"}
_Q_WORLD_ALONE, _A_WORLD_ALONE = _alone("question"), _alone("answer")
_SECTIONS = {w.casefold() for labels in LABELS.values() for w in labels.sections}
_ANY_Q = re.compile(
    "|".join(re.escape(w.casefold()) for w in words("question") if len(w) > 2 or not w.isascii())
)
_SECTION_START = re.compile(rf"^(?i:{alternation(words('question', letters=False))})")
# A whole line "(Answer: ...)" / "(Ans. ...)" / "(A: ...)" under its question.
_A_PAREN = re.compile(r"^[(（]\s*(?:(?i:answer|ans)\s*[:：.]|A\s*[:：]|答案?\s*[:：])\s*(.*?)\s*[)）]$")
_A_ALONE = re.compile(r"^(?:(?i:answer)s?\s*\d{0,2}|A\d{1,2}|答案\s*\d{0,2})\s*$")
# A whole line naming the pair section: "Question-Answer Pairs", "Q&A", "QA pairs", "Questions", "问答对".
_QA_SECTION = re.compile(
    r"^(?:the\s+)?(?:(?:(?:visual\s+)?question[\s\-–/]*(?:and\s+|&\s*)?answer|q\s*&\s*a|q\s*/\s*a|v?qa)s?"
    r"(?:[\s\-]*pairs?)?|questions?|问答对?|问题与答案|问题和答案)$"
)
# Closing remarks after the pairs: they end the last answer instead of joining it.
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
    # each pattern runs only when the character it needs is there (the same result, ~3x faster)
    if "<" in text:
        text = _HTML_INLINE.sub("", _HTML_BREAK.sub(" ", text))
    if "[" in text:
        text = _LINK.sub(r"\1", text)
    text = text.replace("*", "").replace("`", "")
    if "_" in text:
        text = _UNDERSCORE.sub(r"\1", text)
    if "  " in text or "\t" in text or "\u00a0" in text or "\u3000" in text:  # else runs are one " "
        text = _SPACES.sub(" ", text)
    return text.strip()


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
    if stripped.startswith(">"):  # a "> " blockquote is read as plain text
        stripped = _QUOTE.sub("", stripped).strip()
    indent = len(line) - len(line.lstrip())
    if not stripped:
        return Line("blank", indent=indent)
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
    if m := (_Q_LABEL.match(plain) or _Q_WORLD.match(plain)):
        ln.label, ln.content = "q", plain[m.end() :]
    elif _Q_ALONE.match(plain) or _Q_WORLD_ALONE.match(plain):
        ln.label = "q"
    elif m := (_A_LABEL.match(plain) or _A_WORLD.match(plain)):
        ln.label, ln.content = "a", plain[m.end() :]
        if ln.content in _BLOCK_SCALAR:  # YAML "answer: |": the value is on the lines below
            ln.content = ""
    elif _A_ALONE.match(plain) or _A_WORLD_ALONE.match(plain):
        ln.label = "a"
    elif m := _A_PAREN.match(plain):
        ln.label, ln.content = "a", m.group(1)
    return ln


def _split_squashed(line: str) -> list[str]:
    """Split "Q1: ... A1: ... Q2: ... A2: ..." written as one paragraph into one line per question."""
    if line.count("Q") < 2:  # every marker holds a "Q"
        return [line]
    starts = [m.start() for m in _Q_MARKER.finditer(line)]
    if len(starts) < 2:
        return [line]
    cuts = [0, *(i for i in starts if i > 0), len(line)]
    return [line[a:b] for a, b in itertools.pairwise(cuts) if line[a:b].strip()]


def classify_lines(text: str) -> list[Line]:
    """Classify every line of `text` (a paragraph of squashed "Q1: ... Q2: ..." pairs is split first)."""
    return [classify_line(part) for line in text.splitlines() for part in _split_squashed(line)]


def has_qmark(text: str) -> bool:
    """True when `text` holds a question mark of any script (`labels.QMARKS`)."""
    return any(mark in text for mark in QMARKS)


def _mentions_q_and_a(low: str) -> bool:
    """One language's question word and answer word both in `low` ("fragen und antworten", "질문과 답변")."""
    if not _ANY_Q.search(low):
        return False
    for labels in LABELS.values():
        q = any(w.casefold() in low for w in labels.question if len(w) > 2 or not w.isascii())
        if q and any(w.casefold() in low for w in labels.answer if len(w) > 2 or not w.isascii()):
            return True
    return False


def is_qa_section(ln: Line, *, after_text: bool = False) -> bool:
    """True for a heading/label that opens the question-answer section ("## Q&A", "QA pairs:").

    A sentence line ending in ":" that mentions questions and answers counts too ("Here are some
    question-answer pairs based on the article:"), unless it is the opening line and also mentions the
    article: then it is a preamble announcing both parts (`after_text` says some text came before).
    """
    if ln.kind != "text" or ln.label or not ln.text:
        return False
    low = ln.text.lower().rstrip(":：").strip()
    if _QA_SECTION.match(low) or low.casefold() in _SECTIONS:
        return True
    if len(low.split()) > 25:
        return False
    labelled = ln.text.endswith((":", "：")) or ln.heading or ln.bold
    short = len(low.split()) <= 6 and len(low) <= 60 and not has_qmark(low) and not low.endswith(".")
    if short and (labelled or after_text) and _SECTION_START.match(low):  # "Questions About the Image"
        return True
    if not after_text and any(w in low for w in ("article", "wikipedia", "passage", "文章")):
        return False
    mentions = "q&a" in low or "qa pair" in low or "问答" in low or _mentions_q_and_a(low)
    return mentions and labelled


def is_note(text: str) -> bool:
    """True for a closing remark that must not join an answer ("Note: ...", "I hope this helps!")."""
    return bool(_NOTE.match(text))


__all__ = [
    "Line",
    "classify_line",
    "classify_lines",
    "has_qmark",
    "is_note",
    "is_qa_section",
    "strip_markup",
]
