"""Turn a VLM's free-text answer into structured VQA data. Pure functions, no I/O.

Two shapes, one per pipeline:

- Image VQA: `parse_qa_pairs(text) -> list[QA]`.
- ContextVQA (SK-VQA style): `parse_wiki_qa(text) -> WikiQA(context, qas)`.

Both accept JSON (fenced or bare, even cut off) and the common free-text layouts: markdown headings or
bold labels, plain labels ("Article:", "Q&A", "文章：", "问答对"), numbered or bulleted pairs, "Q:/A:",
"Q1:/A1:", "Question 1:/Answer 1:", one-line "Q: ... A: ...", answers on their own bullet line,
markdown tables. Decisions:

- Titles ("# The Golden Gate Bridge", "**Title: ...**", "## Wikipedia Article: X") are dropped from
  the context: the prompt asks for an article that does not name the pictured subject, and the title
  usually does exactly that. Text before an article label (a preamble) is dropped too.
- The context keeps its paragraphs (blank line between them) and loses markup: bold/italic markers,
  heading hashes, bullets, label lines.
- An answer that is present but empty ("A:" followed by nothing) is kept as `answer=""`; the check layer
  flags it (`hf_vqa.quality.checks`). A question with no answer line at all (e.g. output cut mid-pair) is dropped.
- `truncated=True` (the response had `finish_reason="length"`) also drops the trailing pair unless the
  output visibly continues past it, since its answer may have been cut mid-word.
- Answers keep every listed item ("English, French"); bullet lists under one question are joined with
  ", ". Answer text is otherwise kept as written (no period stripping, no case change); only markup and
  quotes wrapping the whole answer are removed.
- Trailing notes ("Note: ...", "I hope this helps!") never join the last answer.
- JSON items: a null or "" answer is kept as ""; an item with no answer key is dropped.

The work is split by concept: `lines` (classify one line), `article` (where the article ends,
clean its prose), `blocks` (group pair lines), `loose_json` (tolerant JSON).
"""

from __future__ import annotations

from dataclasses import dataclass

from hf_vqa.errors import ParseError
from hf_vqa.parse.article import extract_article, find_split
from hf_vqa.parse.blocks import Block, build_blocks
from hf_vqa.parse.lines import classify_lines, is_qa_section, strip_markup
from hf_vqa.parse.loose_json import find_json, json_context, json_pairs
from hf_vqa.parse.tokens import strip_special

__all__ = ["QA", "WikiQA", "parse_json_payload", "parse_qa_pairs", "parse_wiki_qa"]

_QUOTES = {'"': '"', "“": "”", "「": "」", "'": "'"}


@dataclass(frozen=True)
class QA:
    """One question-answer pair."""

    question: str
    answer: str


@dataclass(frozen=True)
class WikiQA:
    """A ContextVQA record: the article (`context`) and the pairs about the image."""

    context: str
    qas: tuple[QA, ...]


def _clean(text: str) -> str:
    text = strip_markup(text)
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1] and text[0] not in text[1:-1]:
        text = text[1:-1].strip()
    return text


def _prepare(text: object) -> str:
    if not isinstance(text, str):
        raise ParseError(
            "model output is not text", received=type(text).__name__, fix="pass the message content string"
        )
    text = strip_special(text).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ParseError(
            "model output is empty", received=text, fix="check the request; the model returned nothing"
        )
    return text


def _qas_from_pairs(pairs: list[tuple[str, str]]) -> list[QA]:
    qas = [QA(_clean(q), _clean(a)) for q, a in pairs]
    return [qa for qa in qas if qa.question]


def _qas_from_blocks(blocks: list[Block], truncated: bool) -> list[QA]:
    if truncated and blocks and not blocks[-1].closed:
        blocks = blocks[:-1]
    return _qas_from_pairs([pair for b in blocks if (pair := b.pair()) is not None])


def _no_pairs(text: str) -> ParseError:
    return ParseError(
        "no question-answer pairs found in model output",
        received=text,
        fix="ask for pairs as 'Q: ...' / 'A: ...' lines or JSON; inspect the raw text kept with the row",
    )


def parse_json_payload(text: str) -> dict | list | None:
    """Decode the first JSON object/array in `text` (```json fence or bare), tolerating trailing commas
    and output cut off mid-JSON (the last complete item is kept). None when there is no JSON.

    Example:
        >>> parse_json_payload('```json\\n[{"question": "Q?", "answer": "A"},\\n{"question": "Cut')
        [{'question': 'Q?', 'answer': 'A'}]
    """
    found = find_json(text) if isinstance(text, str) else None
    return found[0] if found else None


def parse_qa_pairs(text: str, *, truncated: bool = False) -> list[QA]:
    """Parse Image VQA output into pairs; raises `ParseError` if nothing parses.

    Example:
        >>> parse_qa_pairs("1. What color is the bus?\\n   - Red\\n2. Q: How many wheels? A: Four")
        [QA(question='What color is the bus?', answer='Red'), QA(question='How many wheels?', answer='Four')]
    """
    text = _prepare(text)
    found = find_json(text)
    if found and (qas := _qas_from_pairs(json_pairs(found[0]))):
        return qas
    qas = _qas_from_blocks(build_blocks(classify_lines(text)), truncated)
    if not qas:
        raise _no_pairs(text)
    return qas


def _article_before(text: str) -> str:
    lines = classify_lines(text)
    labels = [i for i, ln in enumerate(lines) if is_qa_section(ln)]
    return extract_article(lines[: labels[-1]] if labels else lines)


def parse_wiki_qa(text: str, *, truncated: bool = False) -> WikiQA:
    """Parse ContextVQA output (an article, then pairs) into `WikiQA`.

    Raises `ParseError` when there is no article or no pair.

    Example:
        >>> out = parse_wiki_qa("**Wikipedia Article:** The bridge opened in 1937.\\n\\n"
        ...                     "**Question Answer Pairs:**\\n1. When did this open?\\n   - 1937")
        >>> out.context, out.qas[0].answer
        ('The bridge opened in 1937.', '1937')
    """
    text = _prepare(text)
    found = find_json(text)
    if found and (qas := _qas_from_pairs(json_pairs(found[0]))):
        context = json_context(found[0])
        context = extract_article(classify_lines(context)) if context else _article_before(text[: found[1]])
    else:
        lines = classify_lines(text)
        article_end, qa_begin = find_split(lines)
        context = extract_article(lines[:article_end])
        qas = _qas_from_blocks(build_blocks(lines[qa_begin:]), truncated)
    if not qas:
        raise _no_pairs(text)
    if not context:
        raise ParseError(
            "no article found before the question-answer pairs",
            received=text,
            fix="make sure the prompt asks for the article first; inspect the raw text kept with the row",
        )
    return WikiQA(context=context, qas=tuple(qas))
