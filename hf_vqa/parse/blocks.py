"""Group the lines of a question-answer section into one block per question, and read each block's answer.

Example:
    >>> [b.pair() for b in build_blocks(classify_lines("1. **Who built it?**\\n   - Joseph Strauss"))]
    [('Who built it?', 'Joseph Strauss')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hf_vqa.parse.labels import LABELS, QMARKS
from hf_vqa.parse.lines import Line, classify_lines, has_qmark, is_note, is_qa_section, strip_markup

__all__ = ["Block", "build_blocks", "classify_lines", "split_inline"]

_QMARK = re.compile(f"[{QMARKS}]")
_TABLE_SEP = re.compile(r"^[\s|:\-–—]+$")
_DASH_SPLIT = re.compile(r"\s[-–—]\s")
# An answer label inside a question line ("Q: Who? A: Joseph Strauss", "Who? Ans. Strauss", "Who? A. Strauss"):
# must follow a space or a stop; the dot forms only right after the question mark.
_A_INLINE = re.compile(
    r"(?:(?<=\s)|(?<=[?？。]))(?:A\s*(?:\d{1,2}\s*)?|(?i:answer|ans)\s*(?:\d{1,2}\s*)?|答案|答)[:：]"
    r"|(?<=[?？])\s*(?:A|(?i:ans|answer))\.\s"
)
_PAREN_AFTER_Q = re.compile(r"[?？]\s*[(（]\s*(?:(?i:answer|ans)\s*[:：.]|A\s*[:：]|答案?\s*[:：])")
# "(Answer: 1937)" after the question: the label inside the brackets goes.
_TABLE_Q = tuple({w.casefold() for lab in LABELS.values() for w in lab.question if len(w) > 1})
_TABLE_A = tuple({w.casefold() for lab in LABELS.values() for w in lab.answer if len(w) > 1})
_PAREN_LABEL = re.compile(r"^(?:(?i:answer|ans)\s*[:：.]|A\s*[:：]|答案?\s*[:：])\s*")


def split_inline(question: str, raw: str) -> tuple[str, str | None]:
    """Split "What year? A: 1937", "**What year?** 1937", "What year? – 1937", "What year? (1937)"."""
    qpos = min((i for i in (question.find("?"), question.find("？")) if i >= 0), default=-1)
    if m := _A_INLINE.search(question, max(qpos, 0)):
        return question[: m.start()].strip(), question[m.end() :].strip()
    if qpos >= 0:
        rest = question[qpos + 1 :].strip()
        if rest and rest[0] in "-–—:：→":
            return question[: qpos + 1].strip(), rest.lstrip("-–—:：→ ").strip()
        if rest[:1] in ("(", "（") and rest[-1:] in (")", "）") and not is_note(rest[1:]):
            return question[: qpos + 1].strip(), _PAREN_LABEL.sub("", rest[1:-1].strip())
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
    one_line: bool = False  # an unlabelled numbered line: "1. What is he doing? He is surfing."

    def pair(self) -> tuple[str, str] | None:
        """(question, answer) with list items joined by ", "; None when no answer was found.

        A numbered item with no "?" and no answer line ("1. Name the gulf - Gulf of Naples") is split at
        its first spaced dash as a last resort.
        """
        if self.answer is not None:
            return self.question, ", ".join(self.answer)
        if self.one_line and (m := _QMARK.search(self.question)) and self.question[m.end() :].strip():
            return self.question[: m.end()].strip(), self.question[m.end() :].strip()
        if not has_qmark(self.question) and (m := _DASH_SPLIT.search(self.question)):
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
        if is_note(ln.text) or is_qa_section(ln, after_text=True):
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
                self.answer = [ln.text]
        elif not self.answer:
            self.answer = [ln.text]
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
    if answered and _PAREN_AFTER_Q.search(ln.text):  # "What year? (Answer: 1937)" on its own line
        return True
    if ln.bullet and has_qmark(ln.text):
        return answered or (cur is not None and ln.indent <= cur.indent)
    return answered and ln.text.endswith(("?", "？"))


def _table_pair(ln: Line, header: tuple[int, int] | None) -> tuple[tuple[str, str] | None, tuple | None]:
    cells = [strip_markup(c) for c in ln.raw.strip().strip("|").split("|")]
    if _TABLE_SEP.match(ln.raw):
        return None, header
    lows = [c.lower() for c in cells]
    if header is None and any(c.startswith(_TABLE_Q) for c in lows):
        qi = next(i for i, c in enumerate(lows) if c.startswith(_TABLE_Q))
        ai = next((i for i, c in enumerate(lows) if c.startswith(_TABLE_A)), qi + 1)
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
            cur.one_line = ln.numbered and not ln.label
        elif cur is not None:
            cur.feed(ln)
    return blocks
