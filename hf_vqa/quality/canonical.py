"""Writing numbers, dates and words one way, so that an answer and an article can be compared as a person
would read them (used by `hf_vqa.quality.grounding`).

Stages, each including the ones before: `number` ("2,737" -> "2737", "twenty-one" -> "21", "1.5 million"
-> "1500000", "三千" -> "3000", "third"/"3rd" -> "3th"), `date` ("14 July 1789", "July 14, 1789",
"1789-07-14", "14/07/1789", "1789年7月14日" -> "d17890714"; "July 1789" -> "d178907"), `inflection` (plurals
to singulars, possessive "s" dropped).

Example:
    >>> canonical("Twenty-one bridges, 14 July 1789", "inflection")
    ['21', 'bridge', 'd17890714']
"""

from __future__ import annotations

import re
import unicodedata

from hf_vqa.quality.forms import fold, german_stem, mixed_cjk, number_words, unit_forms

__all__ = ["CJK", "canonical", "words"]

# fmt: off
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORD_UNITS = ["zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth"]
_ORD_TENS = ["twentieth", "thirtieth", "fortieth", "fiftieth", "sixtieth", "seventieth", "eightieth", "ninetieth"]
_MONTH_NAMES = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
_IRREGULAR = {"men": "man", "women": "woman", "children": "child", "feet": "foot", "teeth": "tooth",
              "mice": "mouse", "geese": "goose", "people": "person", "leaves": "leaf", "wolves": "wolf"}
# fmt: on
_EN_WORDS = {w: i for i, w in enumerate(_UNITS)} | {w: 10 * (i + 2) for i, w in enumerate(_TENS)}
_EN_ORDS = {w: i for i, w in enumerate(_ORD_UNITS)} | {w: 10 * (i + 2) for i, w in enumerate(_ORD_TENS)}
_EN_SCALES = {"hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_EN_ORD_SCALES = {"hundredth": 100, "thousandth": 10**3, "millionth": 10**6}
_MONTHS = {n: i + 1 for i, n in enumerate(_MONTH_NAMES)} | {n[:3]: i + 1 for i, n in enumerate(_MONTH_NAMES)}
_MONTHS["sept"] = 9
_SEPARATED = re.compile(r"(?<![\d.,])\d{1,3}(?:(?:,|\u2009|\u202f|\u00a0|'| )\d{3})+(?![\d,]\d)")
_EURO_SEPARATED = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3}){2,}(?![\d.]\d)")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")
_DIGIT_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_ISO_DATE = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")
_NUM_DATE = re.compile(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b")
_ZH_DATE = re.compile(r"(\d{3,4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*[日号])?")
_ZH_NUM = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")
_ZH_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10**4, "亿": 10**8}
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def _zh_number(run: str) -> str:
    if not any(c in _ZH_UNITS or c in _ZH_BIG for c in run):
        return "".join(str(_ZH_DIGITS[c]) for c in run)  # 一九八七 -> 1987
    total = section = digit = 0
    for c in run:
        if c in _ZH_DIGITS:
            digit = _ZH_DIGITS[c]
        elif c in _ZH_UNITS:
            section += (digit or 1) * _ZH_UNITS[c]
            digit = 0
        else:
            total = (total + section + digit) * _ZH_BIG[c]
            section = digit = 0
    return str(total + section + digit)


def _number_words(tokens: list[str], language: str = "en") -> list[str]:
    """ "twenty one" -> "21", "one hundred and five" -> "105", "twenty first" -> "21th", "3 million" -> "3000000";
    in `language`'s words when `forms.number_words` has them ("zweiundzwanzig" -> "22")."""
    nums, ords, scales, ord_scales, conj = _EN_WORDS, _EN_ORDS, _EN_SCALES, _EN_ORD_SCALES, "and"
    if (found := number_words(language)) is not None:
        nums, scales, conj = found
        ords, ord_scales = {}, {}
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        is_digit = tok.replace("p", "", 1).isdigit() and tok[:1].isdigit()
        if (
            not is_digit
            and tok not in nums
            and tok not in ords
            and tok not in scales
            and tok not in ord_scales
        ):
            out.append(tok)
            i += 1
            continue
        total, current, j, ordinal, used_word = 0.0, 0.0, i, False, False
        if is_digit:
            current, j = float(tok.replace("p", ".")), i + 1
            if j >= len(tokens) or tokens[j] not in scales:
                out.append(tok)
                i += 1
                continue
        while j < len(tokens) and not ordinal:
            t = tokens[j]
            if t in nums:
                current += nums[t]
            elif t in ords:
                current, ordinal = current + ords[t], True
            elif t in scales or t in ord_scales:
                scale = scales.get(t) or ord_scales[t]
                ordinal = t in ord_scales
                if scale == 100:
                    current = (current or 1) * 100
                else:
                    total, current = total + (current or 1) * scale, 0
            elif t == conj and j + 1 < len(tokens) and tokens[j + 1] in nums and used_word:
                pass
            else:
                break
            used_word, j = True, j + 1
        value = total + current
        text = str(int(value)) if value == int(value) else str(value).replace(".", "p")
        out.append(text + "th" if ordinal else text)
        i = j
    return out


def _date(year: int, month: int, day: int | None = None) -> str:
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return ""
    return f" d{year:04d}{month:02d}" + (f"{day:02d} " if day else " ")


def _numeric_dates(text: str) -> str:
    def iso(m: re.Match) -> str:
        return _date(int(m[1]), int(m[2]), int(m[3])) or m[0]

    def dmy(m: re.Match) -> str:
        a, b = int(m[1]), int(m[2])
        if a > 12 >= b:
            return _date(int(m[3]), b, a) or m[0]
        if b > 12 >= a:
            return _date(int(m[3]), a, b) or m[0]
        return m[0]  # 03/04/1990: day-month or month-day, nobody can tell

    def zh(m: re.Match) -> str:
        return _date(int(m[1]), int(m[2]), int(m[3]) if m[3] else None) or m[0]

    return _ZH_DATE.sub(zh, _NUM_DATE.sub(dmy, _ISO_DATE.sub(iso, text)))


def _day(tok: str) -> int | None:
    digits = tok[:-2] if tok.endswith("th") else tok
    return int(digits) if digits.isdigit() and 1 <= int(digits) <= 31 else None


def _year(t: list[str], k: int) -> int | None:
    return int(t[k]) if len(t) > k and t[k].isdigit() and len(t[k]) in (3, 4) else None


def _month(t: list[str], k: int) -> int | None:
    return _MONTHS.get(t[k]) if len(t) > k else None


def _word_dates(tokens: list[str]) -> list[str]:
    """ "14 july 1789", "14th of july 1789", "july 14 1789", "july 1789" -> one date token."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i : i + 4]
        if not any(tok in _MONTHS for tok in t[:3]):  # every form below has its month in t[0:3]
            out.append(tokens[i])
            i += 1
            continue
        for size, y, m, d in (
            (4, _year(t, 3), _month(t, 2), _day(t[0]) if len(t) > 1 and t[1] == "of" else None),
            (3, _year(t, 2), _month(t, 1), _day(t[0])),
            (3, _year(t, 2), _month(t, 0), _day(t[1]) if len(t) > 1 else None),
            (2, _year(t, 1), _month(t, 0), -1),
        ):
            if y and m and d and (token := _date(y, m, None if d == -1 else d).strip()):
                out.append(token)
                i += size
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def _singular(tok: str) -> str:
    if tok in _IRREGULAR:
        return _IRREGULAR[tok]
    if len(tok) <= 3 or not tok.isalpha():
        return tok
    if tok.endswith("ies") and len(tok) > 4:
        return tok[:-3] + "y"
    if tok.endswith(("ches", "shes", "sses", "xes", "zes")):
        return tok[:-2]
    if tok.endswith("s") and not tok.endswith(("ss", "us", "is")):
        return tok[:-1]
    return tok


def words(text: str, drop: str = "PZCS") -> list[str]:
    """Tokens: punctuation, spaces (and symbols such as "$" and "°") split words; every CJK character is a token."""
    chars = [
        " " if unicodedata.category(ch)[0] in drop else f" {ch} " if CJK.match(ch) else ch for ch in text
    ]
    return "".join(chars).split()


def canonical(text: str, stage: str, language: str = "en") -> list[str]:
    """The tokens of `text` with every rule up to `stage` (`number`, `date` or `inflection`) applied.

    `number` also writes units, percent and mixed CJK numerals one way and drops approximate words before
    a number (`forms`); `inflection` also folds diacritics and, for German (`language="de"`), case endings.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _SEPARATED.sub(lambda m: re.sub(r"\D", "", m[0]), text)
    text = _EURO_SEPARATED.sub(lambda m: m[0].replace(".", ""), text)
    text = _ZH_NUM.sub(lambda m: _zh_number(m[0]), mixed_cjk(text))
    if language == "fr":
        text = text.replace("quatre-vingt", "octante")
    if stage != "number":
        text = _numeric_dates(text)
    text = _DECIMAL.sub("p", _DIGIT_ORDINAL.sub(r"\1th", text)).replace("%", " percent ")
    tokens = unit_forms(_number_words(words(text), language))
    if stage != "number":
        tokens = _word_dates(tokens)
    if stage == "inflection":
        tokens = [_singular(fold(t)) for t in tokens if t != "s"]  # "bridge's" -> "bridge s"
        if language == "de":
            tokens = [german_stem(t) for t in tokens]
    return tokens
