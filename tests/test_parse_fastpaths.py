"""The parser's shortcuts (a pattern runs only when the character it needs is there) change no result."""

from __future__ import annotations

import itertools
import random
import re

from hf_vqa.parse import lines, tokens

PIECES = ["<br>", "<br/>", "<b>", "</em>", "<span x>", "[a](b)", "[x]", "_", "__", "*", "**", "`", " ", "  ", "\t",
          "\u00a0", "\u3000", "\u2003", ">", "> ", "Q1:", "Q2: ", "A1:", "Question 1:", "Answer:", "问题1：", "- ", "1. ",
          "#", "|", "word", "What?", "<think>", "</think>", "◁think▷", "<|im_end|>", "<answer>", "<s>", "é"]  # fmt: skip


def _strip_markup_every_pattern(text: str) -> str:  # strip_markup as it was, every pattern always run
    text = lines._HTML_INLINE.sub("", lines._HTML_BREAK.sub(" ", text))
    text = lines._LINK.sub(r"\1", text)
    text = text.replace("*", "").replace("`", "")
    text = lines._UNDERSCORE.sub(r"\1", text)
    return lines._SPACES.sub(" ", text).strip()


def _split_every_line(line: str) -> list[str]:
    starts = [m.start() for m in lines._Q_MARKER.finditer(line)]
    if len(starts) < 2:
        return [line]
    cuts = [0, *(i for i in starts if i > 0), len(line)]
    return [line[a:b] for a, b in itertools.pairwise(cuts) if line[a:b].strip()]


def test_shortcuts_give_what_every_pattern_gives():
    rng = random.Random(26)
    for _ in range(20000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 10)))
        assert lines.strip_markup(text) == _strip_markup_every_pattern(text), text
        assert lines._split_squashed(text) == _split_every_line(text), text
        quoted = lines.classify_line(text)
        assert quoted.raw == re.sub(r"^(?:>\s?)+", "", text.strip()).strip() or quoted.kind == "blank", text
        if "<" not in text and "◁" not in text:
            assert tokens.strip_special(text) == text
