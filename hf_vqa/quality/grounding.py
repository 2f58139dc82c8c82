"""Is an answer written in the article? Read the way a person reads, and say why.

An answer is grounded when its words appear in the article in the same order, first as written
(modulo case, punctuation and spacing: reason `"exact"`); else after writing every number the same way
(`"number"`: "2,737" = "2737" = "2 737", "twelve" = "12", "1.5 million" = "1500000", "三千" = "3000",
"一九八七" = "1987", "third" = "3rd", "第三" = "第3"); else after writing every date the same way (`"date"`:
"14 July 1789" = "July 14, 1789" = "1789-07-14" = "14/07/1789" = "1789年7月14日"; "July 1789" = "1789年7月");
else after reading plurals as singulars and hyphenated or spaced compounds as one word (`"inflection"`:
"bridges" = "bridge", "well-known" = "wellknown"). The `number` stage also reads units, percent and
approximate words (`quality.forms`: "2,300 km" = "2300 kilometres", "30 %" = "30 per cent", "about 300"
= "300", "1万" = "一万" = "10000"); `inflection` also folds diacritics ("Sao Paulo" = "São Paulo") and,
for `language="de"`, case endings ("großen Saal" = "großer Saal"). Nothing else is forgiven: an answer that adds or
changes a word, a number or a date is not grounded (reason `""`). A numeric date whose day and month are
both 12 or less ("03/04/1990") is left as written, since its order cannot be known.

Example:
    >>> ground("2737 metres", "The main span is 2,737 metres long.")
    Grounding(grounded=True, reason='number')
    >>> ground("July 14, 1789", "The Bastille fell on 14 July 1789.").reason
    'date'
    >>> ground("Red suspension bridges", "It is a red suspension bridge.").reason
    'inflection'
    >>> ground("1938", "It opened in 1937.")
    Grounding(grounded=False, reason='')
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from hf_vqa.quality.canonical import CJK, canonical, words

__all__ = ["REASONS", "Grounder", "Grounding", "canonical", "ground"]

REASONS = ("exact", "number", "date", "inflection")  # from strictest to most forgiving
_STAGES = REASONS[1:]

_ARTICLE = {"the", "a", "an"}
# Items of a listed answer: commas (not the one in "2,737"), CJK commas, semicolons, " and ", " or ".
_ITEM_SPLIT = re.compile(r"(?<!\d),|,(?!\d)|[，、;；]|\s+(?:and|or)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Grounding:
    """Whether an answer is in the article, and the first rule under which it was found (`REASONS`)."""

    grounded: bool
    reason: str


def _find(haystack: list[str], needle: list[str], *, joined: bool) -> bool:
    """`needle` occurs in `haystack` as whole tokens; `joined` also lets spacing differ ("well known" = "wellknown")."""
    if not needle:
        return False
    if any(CJK.search(t) for t in needle):
        return "".join(needle) in "".join(haystack)
    if not joined:
        n = len(needle)
        return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
    target = "".join(needle)
    for i in range(len(haystack)):
        built = ""
        for tok in haystack[i:]:
            built += tok
            if built == target:
                return True
            if not target.startswith(built):
                break
    return False


class Grounder:
    """Grounds many answers against one article, canonicalising the article once per stage.

    Example:
        >>> g = Grounder("Built in the 1930s, it has two towers and cost 35 million dollars.")
        >>> g.ground("2 towers").reason, g.ground("$35,000,000").reason, g.ground("three towers").grounded
        ('number', 'number', False)
    """

    def __init__(self, context: str, language: str = "en") -> None:
        self.context = context
        self.language = language
        self._exact = words(unicodedata.normalize("NFKC", context).casefold(), "PZC")
        self._stages: dict[str, list[str]] = {}

    def _tokens(self, stage: str) -> list[str]:
        if stage not in self._stages:
            self._stages[stage] = canonical(self.context, stage, self.language)
        return self._stages[stage]

    def item_reason(self, item: str) -> str:
        """The first stage at which `item` is found (a leading "the"/"a"/"an" may be missing), or ""."""
        exact = words(unicodedata.normalize("NFKC", item).casefold(), "PZC")
        candidates = [exact, exact[1:]] if len(exact) > 1 and exact[0] in _ARTICLE else [exact]
        if any(_find(self._exact, c, joined=False) for c in candidates):
            return "exact"
        for stage in _STAGES:
            tokens = canonical(item, stage, self.language)
            candidates = [tokens, tokens[1:]] if len(tokens) > 1 and tokens[0] in _ARTICLE else [tokens]
            haystack = self._tokens(stage)
            if any(_find(haystack, c, joined=stage == "inflection") for c in candidates):
                return stage
        return ""

    def ground(self, answer: str) -> Grounding:
        """Ground `answer` as a whole, else item by item when it is a list ("San Francisco, Marin County",
        "小熊猫、黑颈鹤", "red and white": every item must be found); the reason is the most forgiving
        one any item needed. An empty answer is never grounded."""
        whole = self.item_reason(answer) if answer.strip() else ""
        if whole:
            return Grounding(True, whole)
        items = [item for item in _ITEM_SPLIT.split(answer) if item.strip()]
        if len(items) < 2:
            return Grounding(False, "")
        reasons = [self.item_reason(item) for item in items]
        if not all(reasons):
            return Grounding(False, "")
        return Grounding(True, max(reasons, key=REASONS.index))


def ground(answer: str, context: str, language: str = "en") -> Grounding:
    """Ground one answer against one article (see the module docstring); `language` picks the number
    words and the case-ending rule (`quality.forms`)."""
    return Grounder(context, language).ground(answer)
