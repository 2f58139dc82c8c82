"""Ways of writing the same quantity or word, as data for `hf_vqa.quality.canonical`.

- number words per language (`number_words`): "zwölf" = 12, "vingt-deux" = 22, "doscientos" = 200;
- units, symbol and spelled, metric and imperial spellings: "km" = "kilometres" = "kilometers" =
  "Kilometer"; "m" = "metres" = "meters"; "ft" = "feet"; "%" = "percent" = "per cent" = "Prozent";
- approximate words before a number ("about", "approximately", "around", "etwa", "environ", "约"), which
  are dropped so that "about 300" reads as "300";
- mixed CJK numerals ("1万" = "一万" = 10000, "3.5万" = 35000, "1万2千" = 12000);
- diacritics folding ("Sao Paulo" = "São Paulo") and safe German case endings ("großen Saal" = "großer Saal", "Hauses" = "Haus").

Nothing here turns one number, unit or word into a different one: "5 km" stays apart from "5 m",
"about 300" from "400", "Hund" from "Katze".

Example:
    >>> unit_forms(["2737", "metres", "about", "30", "per", "cent"])
    ['2737', 'm', '30', 'percent']
    >>> mixed_cjk("人口约1万2千人")
    '人口12000人'
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "german_stem", "mixed_cjk", "number_words", "unit_forms"]

# fmt: off
_DE_UNITS = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn", "achtzehn", "neunzehn"]
_DE_TENS = ["zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig"]
_FR_UNITS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze", "treize", "quatorze", "quinze", "seize"]
_FR_TENS = {"vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60, "septante": 70, "octante": 80, "huitante": 80, "nonante": 90}
_ES_UNITS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once", "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve", "veinte", "veintiuno", "veintidós", "veintitrés", "veinticuatro", "veinticinco", "veintiséis", "veintisiete", "veintiocho", "veintinueve"]
_ES_TENS = ["treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"]
_ES_HUNDREDS = ["ciento", "doscientos", "trescientos", "cuatrocientos", "quinientos", "seiscientos", "setecientos", "ochocientos", "novecientos"]
_PT_UNITS = ["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez", "onze", "doze", "treze", "catorze", "quinze", "dezesseis", "dezessete", "dezoito", "dezenove"]
_PT_TENS = ["vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta", "noventa"]
_PT_HUNDREDS = ["cento", "duzentos", "trezentos", "quatrocentos", "quinhentos", "seiscentos", "setecentos", "oitocentos", "novecentos"]
_IT_UNITS = ["zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove", "dieci", "undici", "dodici", "tredici", "quattordici", "quindici", "sedici", "diciassette", "diciotto", "diciannove"]
_IT_TENS = ["venti", "trenta", "quaranta", "cinquanta", "sessanta", "settanta", "ottanta", "novanta"]
_RU_UNITS = ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять", "одиннадцать", "двенадцать", "тринадцать", "четырнадцать", "пятнадцать", "шестнадцать", "семнадцать", "восемнадцать", "девятнадцать"]
_RU_TENS = ["двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят", "девяносто"]
_RU_HUNDREDS = ["сто", "двести", "триста", "четыреста", "пятьсот", "шестьсот", "семьсот", "восемьсот", "девятьсот"]
_NL_UNITS = ["nul", "één", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen", "tien", "elf", "twaalf", "dertien", "veertien", "vijftien", "zestien", "zeventien", "achttien", "negentien"]
_NL_TENS = ["twintig", "dertig", "veertig", "vijftig", "zestig", "zeventig", "tachtig", "negentig"]
# spelled unit -> symbol (every form casefolded; plurals and other spellings listed)
_UNIT_WORDS = {
    "m": "metre metres meter meters mètre mètres metro metros metri метр метра метров meters",
    "km": "kilometre kilometres kilometer kilometers kilomètre kilomètres kilómetro kilómetros quilômetro quilômetros quilómetro quilómetros chilometro chilometri километр километра километров",
    "cm": "centimetre centimetres centimeter centimeters centimètre centimètres centímetro centímetros сантиметр сантиметров",
    "mm": "millimetre millimetres millimeter millimeters millimètre millimètres milímetro milímetros миллиметр миллиметров",
    "kg": "kilogram kilograms kilogramme kilogrammes kilogramm kilogramo kilogramos quilograma quilogramas килограмм килограммов kilo kilos",
    "g": "gram grams gramme grammes gramm gramo gramos grama gramas грамм граммов",
    "t": "tonne tonnes tonnen",
    "l": "litre litres liter liters litro litros литр литров",
    "ml": "millilitre millilitres milliliter milliliters",
    "ha": "hectare hectares hektar",
    "mi": "mile miles meile meilen",
    "ft": "foot feet fuß",
    "lb": "pound pounds lbs",
    "percent": "percent prozent procent pourcent процент процента процентов",
    "c": "celsius",
    "f": "fahrenheit",
}
_TWO_WORDS = {("per", "cent"): "percent", ("pour", "cent"): "percent", ("por", "ciento"): "percent",
              ("por", "cento"): "percent", ("per", "cento"): "percent"}
_DEGREES = {"degree", "degrees", "grad", "degré", "degrés", "grado", "grados", "graus", "grau", "градусов", "градуса"}
_APPROX = {"about", "approximately", "approx", "around", "roughly", "circa", "ca", "some", "etwa", "ungefähr", "rund",
           "zirka", "environ", "aproximadamente", "alrededor", "cerca", "unos", "unas", "около", "примерно",
           "приблизительно", "ongeveer", "około", "yaklaşık", "khoảng", "sekitar"}
_APPROX_AFTER = {("alrededor", "de"), ("cerca", "de"), ("à", "peu"), ("près", "de"), ("por", "volta")}
# fmt: on
_UNIT = {form: symbol for symbol, forms in _UNIT_WORDS.items() for form in forms.split()}
_SQUARE = {"square", "sq", "quadrat", "carré", "carrés", "cuadrado", "cuadrados", "quadrado", "quadrados"}
_CJK_APPROX = re.compile(r"(?:大约|大概|约|約|およそ|약)\s*(?=\d)|(?<=\d)\s*(?:左右|ほど|程度|가량|정도)")
_CJK_PERCENT = re.compile(r"百分之\s*(\d+(?:\.\d+)?)")
_MIXED = re.compile(
    r"\d+(?:\.\d+)?\s*[十百千万萬亿億만억천](?:\s*[\d.零〇一二两三四五六七八九十百千万萬亿億만억천]+)*"
)
_MIXED_UNITS = {"十": 10, "百": 100, "千": 1000, "천": 1000}
_MIXED_BIG = {"万": 10**4, "萬": 10**4, "만": 10**4, "亿": 10**8, "億": 10**8, "억": 10**8}
_ZH_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_FOLD_EXTRA = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ё": "е", "ı": "i"}
)
_DE_ENDINGS = ("es", "en", "em", "er", "e", "s", "n")


def _compound(units: list[str], tens: list[str], joiner: str, first_ten: int = 20) -> dict[str, int]:
    words = {w: i for i, w in enumerate(units)} | {t: first_ten + 10 * i for i, t in enumerate(tens)}
    for i, t in enumerate(tens):
        for u in range(1, 10):
            words[joiner.format(u=units[u], t=t)] = first_ten + 10 * i + u
    return words


def _italian() -> dict[str, int]:
    words = {w: i for i, w in enumerate(_IT_UNITS)} | {t: 20 + 10 * i for i, t in enumerate(_IT_TENS)}
    for i, t in enumerate(_IT_TENS):
        for u in range(1, 10):
            unit = _IT_UNITS[u]
            words[(t[:-1] if unit[0] in "uo" else t) + ("tré" if u == 3 else unit)] = 20 + 10 * i + u
    return words


_LANG_WORDS: dict[str, tuple[dict[str, int], dict[str, int], str]] = {
    "de": (
        _compound(_DE_UNITS, _DE_TENS, "{u}und{t}")
        | {"einund" + t: 21 + 10 * i for i, t in enumerate(_DE_TENS)},
        {
            "hundert": 100,
            "tausend": 10**3,
            "million": 10**6,
            "millionen": 10**6,
            "milliarde": 10**9,
            "milliarden": 10**9,
        },
        "und",
    ),
    "fr": (
        {w: i for i, w in enumerate(_FR_UNITS)} | {"une": 1} | _FR_TENS,
        {
            "cent": 100,
            "cents": 100,
            "mille": 10**3,
            "million": 10**6,
            "millions": 10**6,
            "milliard": 10**9,
            "milliards": 10**9,
        },
        "et",
    ),
    "es": (
        {w: i for i, w in enumerate(_ES_UNITS)}
        | {
            "un": 1,
            "una": 1,
            "veintidos": 22,
            "veintitres": 23,
            "dieciseis": 16,
            "veintiseis": 26,
            "cien": 100,
            "quinientas": 500,
        }
        | {t: 30 + 10 * i for i, t in enumerate(_ES_TENS)}
        | {h: 100 * (i + 1) for i, h in enumerate(_ES_HUNDREDS)},
        {"mil": 10**3, "millón": 10**6, "millones": 10**6, "millon": 10**6},
        "y",
    ),
    "pt": (
        {w: i for i, w in enumerate(_PT_UNITS)}
        | {"uma": 1, "duas": 2, "quatorze": 14, "dezasseis": 16, "dezassete": 17, "dezanove": 19, "cem": 100}
        | {t: 20 + 10 * i for i, t in enumerate(_PT_TENS)}
        | {h: 100 * (i + 1) for i, h in enumerate(_PT_HUNDREDS)},
        {"mil": 10**3, "milhão": 10**6, "milhões": 10**6},
        "e",
    ),
    "it": (
        _italian() | {"un": 1, "una": 1, "cento": 100},
        {"mille": 10**3, "mila": 10**3, "milione": 10**6, "milioni": 10**6},
        "e",
    ),
    "ru": (
        {w: i for i, w in enumerate(_RU_UNITS)}
        | {"одна": 1, "одно": 1, "две": 2}
        | {t: 20 + 10 * i for i, t in enumerate(_RU_TENS)}
        | {h: 100 * (i + 1) for i, h in enumerate(_RU_HUNDREDS)},
        {
            "тысяча": 10**3,
            "тысячи": 10**3,
            "тысяч": 10**3,
            "миллион": 10**6,
            "миллиона": 10**6,
            "миллионов": 10**6,
        },
        "",
    ),
    "nl": (
        _compound(_NL_UNITS, _NL_TENS, "{u}en{t}") | {"een": 1, "tweeëntwintig": 22, "drieëntwintig": 23},
        {"honderd": 100, "duizend": 10**3, "miljoen": 10**6},
        "en",
    ),
}


def number_words(language: str) -> tuple[dict[str, int], dict[str, int], str] | None:
    """`(words, scales, conjunction)` of `language`'s cardinal numbers, or None (English is in `canonical`).

    Example:
        >>> number_words("de")[0]["zweiundzwanzig"], number_words("es")[0]["doscientos"]
        (22, 200)
    """
    return _LANG_WORDS.get(language)


def _approx_words(tokens: list[str], i: int) -> int:
    """How many approximate words start at `i` right before a number ("about 300", "cerca de 300")."""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if tokens[i] in _APPROX and nxt[:1].isdigit():
        return 1
    after = tokens[i + 2] if i + 2 < len(tokens) else ""
    return 2 if (tokens[i], nxt) in _APPROX_AFTER and after[:1].isdigit() else 0


def unit_forms(tokens: list[str]) -> list[str]:
    """Right after a number: units to their symbols, "per cent" to "percent", "square km" to "km2",
    "degrees Celsius" to "c"; approximate words before a number dropped. Other words stay as they are
    ("the children's feet")."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok, nxt = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
        if skip := _approx_words(tokens, i):
            i += skip
        elif not (out and out[-1][:1].isdigit()):
            out.append(tok)
            i += 1
        elif (tok, nxt) in _TWO_WORDS:
            out.append(_TWO_WORDS[tok, nxt])
            i += 2
        elif tok in _SQUARE and _UNIT.get(nxt, nxt) in ("m", "km", "cm", "mm", "mi", "ft"):
            out.append(_UNIT.get(nxt, nxt) + "2")
            i += 2
        elif tok in _DEGREES and nxt in ("celsius", "fahrenheit", "c", "f"):
            i += 1
        else:
            out.append(_UNIT.get(tok, tok))
            i += 1
    return out


def _mixed_value(run: str) -> str:
    total = section = 0.0
    digit = 0.0
    for piece in re.findall(r"\d+(?:\.\d+)?|\S", run):
        if piece[0].isdigit():
            digit = float(piece)
        elif piece in _ZH_DIGIT:
            digit = _ZH_DIGIT[piece]
        elif piece in _MIXED_UNITS:
            section += (digit or 1) * _MIXED_UNITS[piece]
            digit = 0
        elif piece in _MIXED_BIG:
            total = (total + section + digit) * _MIXED_BIG[piece]
            section = digit = 0
    value = total + section + digit
    return str(int(value)) if value == int(value) else str(value)


def mixed_cjk(text: str) -> str:
    """Numbers written with digits and CJK units ("1万", "3.5万", "1万2千", "3천") as plain digits;
    "约"/"左右"-style approximate words next to a number dropped; "百分之30" as "30%"."""
    text = _CJK_PERCENT.sub(r"\1%", text)
    text = _MIXED.sub(lambda m: _mixed_value(m[0]), text)
    return _CJK_APPROX.sub("", text)


def fold(token: str) -> str:
    """Latin and Cyrillic letters without diacritics ("são" -> "sao", "straße" -> "strasse", "ёж" -> "еж");
    other scripts (CJK, Hangul, Devanagari, Arabic) are left as they are.

    Example:
        >>> fold("são"), fold("한국"), fold("हिंदी") == "हिंदी"
        ('sao', '한국', True)
    """
    if token.isascii():
        return token
    out = []
    for ch in token.translate(_FOLD_EXTRA):
        if ch.isascii() or not unicodedata.name(ch, "").startswith("LATIN"):
            out.append(ch)
        else:
            out.append("".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)))
    return "".join(out)


def german_stem(token: str) -> str:
    """A German word without one case ending (-es, -en, -em, -er, -e, -s, -n) when at least four letters
    remain: "hauses" -> "haus", "großen" -> "groß"; "hund" and "katze" stay different.

    Example:
        >>> german_stem("hauses"), german_stem("haus"), german_stem("rot")
        ('haus', 'haus', 'rot')
    """
    if not token.isalpha() or len(token) < 5:
        return token
    for ending in _DE_ENDINGS:
        if token.endswith(ending) and len(token) - len(ending) >= 4:
            return token[: -len(ending)]
    return token
