"""The mock VLM's answers in other languages: it answers in the language of `hf_vqa.languages`' prompt it
was sent, with that language's labels, so a `--mock --language X` run parses and grounds.

Every answer is still computed from the request (image tags, prompt id, seeded names), and every
ContextVQA answer is written verbatim in the article, so grounding holds in any language.

Example:
    >>> print(render_vqa("de", [("Q1", "A1")]))
    Frage 1: Q1
    Antwort 1: A1
"""

from __future__ import annotations

__all__ = ["TEXTS", "render_context", "render_vqa"]

# fmt: off
# per language: q label, a label, article label, section label, yes, no, then the sentence templates
TEXTS: dict[str, dict[str, str]] = {
    "zh": {"q": "问题", "a": "答案", "article": "维基百科文章", "section": "问答对", "yes": "是", "no": "否",
           "dims": "第{i}张图片的尺寸和颜色是什么？", "wide": "第{i}张图片是否宽大于高？", "prompt": "我收到的是哪个提示？",
           "intro": "{name}是{who}于{year}年编目的一组合成图片。", "image": "该收藏中的第{i}张图片为{tag}。",
           "shown": "该收藏首次在{first}和{second}展出，编号为{pid}。",
           "q_dims": "{name}中第{i}张图片的尺寸和颜色是什么？", "q_who": "{name}由谁编目？",
           "q_year": "{name}于哪一年编目？", "q_where": "{name}首次在哪两个地方展出？", "q_ref": "{name}展出时的编号是什么？",
           "name": "{n}收藏", "sep": "、"},
    "ja": {"q": "質問", "a": "回答", "article": "記事", "section": "質問と回答", "yes": "はい", "no": "いいえ",
           "dims": "画像{i}の大きさと色は何ですか？", "wide": "画像{i}は縦より横が長いですか？", "prompt": "私に与えられたプロンプトはどれですか？",
           "intro": "{name}は{who}が{year}年に目録化した合成画像のコレクションである。", "image": "収蔵品のうち{i}番目の画像は{tag}である。",
           "shown": "このコレクションは{first}と{second}で初めて展示され、参照番号は{pid}である。",
           "q_dims": "{name}の画像{i}の大きさと色は何ですか？", "q_who": "{name}を目録化したのは誰ですか？",
           "q_year": "{name}が目録化されたのは何年ですか？", "q_where": "{name}が初めて展示された2つの場所はどこですか？",
           "q_ref": "{name}はどの参照番号で展示されましたか？", "name": "{n}", "sep": "、"},
    "ko": {"q": "질문", "a": "답변", "article": "기사", "section": "질문과 답변", "yes": "예", "no": "아니요",
           "dims": "이미지 {i}의 크기와 색은 무엇입니까?", "wide": "이미지 {i}는 세로보다 가로가 깁니까?", "prompt": "내가 받은 프롬프트는 무엇입니까?",
           "intro": "{name}은 {who}이 {year}년에 목록으로 만든 합성 이미지 모음이다.", "image": "모음의 이미지 {i}는 {tag}이다.",
           "shown": "이 모음은 {first}와 {second}에서 처음 전시되었으며 참조 번호는 {pid}이다.",
           "q_dims": "{name}의 이미지 {i}의 크기와 색은 무엇입니까?", "q_who": "{name}을 목록으로 만든 곳은 어디입니까?",
           "q_year": "{name}은 몇 년에 목록으로 만들어졌습니까?", "q_where": "{name}이 처음 전시된 두 곳은 어디입니까?",
           "q_ref": "{name}은 어떤 참조 번호로 전시되었습니까?", "name": "{n} 컬렉션", "sep": ", "},
    "de": {"q": "Frage", "a": "Antwort", "article": "Artikel", "section": "Fragen und Antworten", "yes": "ja", "no": "nein",
           "dims": "Welche Maße und Farbe hat Bild {i}?", "wide": "Ist Bild {i} breiter als hoch?", "prompt": "Welche Anweisung habe ich bekommen?",
           "intro": "Die {name} ist eine Reihe synthetischer Bilder, die {who} im Jahr {year} katalogisierte.",
           "image": "Bild {i} der Sammlung misst {tag}.", "shown": "Die Sammlung wurde zuerst in {first} und {second} unter der Nummer {pid} gezeigt.",
           "q_dims": "Welche Maße und Farbe hat Bild {i} der {name}?", "q_who": "Wer katalogisierte die {name}?",
           "q_year": "In welchem Jahr wurde die {name} katalogisiert?", "q_where": "An welchen zwei Orten wurde die {name} zuerst gezeigt?",
           "q_ref": "Unter welcher Nummer wurde die {name} gezeigt?", "name": "Sammlung {n}", "sep": ", "},
    "fr": {"q": "Question", "a": "Réponse", "article": "Article", "section": "Questions et réponses", "yes": "oui", "no": "non",
           "dims": "Quelles sont les dimensions et la couleur de l'image {i} ?", "wide": "L'image {i} est-elle plus large que haute ?",
           "prompt": "Quelle consigne m'a-t-on donnée ?", "intro": "La {name} est un ensemble d'images synthétiques catalogué par {who} en {year}.",
           "image": "L'image {i} de la collection mesure {tag}.", "shown": "La collection a d'abord été exposée à {first} et à {second}, sous la référence {pid}.",
           "q_dims": "Quelles sont les dimensions et la couleur de l'image {i} de la {name} ?", "q_who": "Qui a catalogué la {name} ?",
           "q_year": "En quelle année la {name} a-t-elle été cataloguée ?", "q_where": "Dans quels deux lieux la {name} a-t-elle d'abord été exposée ?",
           "q_ref": "Sous quelle référence la {name} a-t-elle été exposée ?", "name": "collection {n}", "sep": ", "},
    "es": {"q": "Pregunta", "a": "Respuesta", "article": "Artículo", "section": "Preguntas y respuestas", "yes": "sí", "no": "no",
           "dims": "¿Qué dimensiones y color tiene la imagen {i}?", "wide": "¿Es la imagen {i} más ancha que alta?", "prompt": "¿Qué instrucción recibí?",
           "intro": "La {name} es un conjunto de imágenes sintéticas catalogado por {who} en {year}.", "image": "La imagen {i} de la colección mide {tag}.",
           "shown": "La colección se expuso por primera vez en {first} y {second}, con la referencia {pid}.",
           "q_dims": "¿Qué dimensiones y color tiene la imagen {i} de la {name}?", "q_who": "¿Quién catalogó la {name}?",
           "q_year": "¿En qué año se catalogó la {name}?", "q_where": "¿En qué dos lugares se expuso por primera vez la {name}?",
           "q_ref": "¿Con qué referencia se expuso la {name}?", "name": "colección {n}", "sep": ", "},
    "pt": {"q": "Pergunta", "a": "Resposta", "article": "Artigo", "section": "Perguntas e respostas", "yes": "sim", "no": "não",
           "dims": "Quais são as dimensões e a cor da imagem {i}?", "wide": "A imagem {i} é mais larga do que alta?", "prompt": "Que instrução recebi?",
           "intro": "A {name} é um conjunto de imagens sintéticas catalogado por {who} em {year}.", "image": "A imagem {i} da coleção mede {tag}.",
           "shown": "A coleção foi exposta pela primeira vez em {first} e {second}, com a referência {pid}.",
           "q_dims": "Quais são as dimensões e a cor da imagem {i} da {name}?", "q_who": "Quem catalogou a {name}?",
           "q_year": "Em que ano a {name} foi catalogada?", "q_where": "Em quais dois lugares a {name} foi exposta pela primeira vez?",
           "q_ref": "Com que referência a {name} foi exposta?", "name": "coleção {n}", "sep": ", "},
    "ru": {"q": "Вопрос", "a": "Ответ", "article": "Статья", "section": "Вопросы и ответы", "yes": "да", "no": "нет",
           "dims": "Каковы размеры и цвет изображения {i}?", "wide": "Изображение {i} шире, чем выше?", "prompt": "Какую инструкцию я получил?",
           "intro": "{name} — набор синтетических изображений, каталогизированный организацией {who} в {year} году.",
           "image": "Изображение {i} коллекции имеет параметры {tag}.", "shown": "Коллекция впервые выставлялась в городах {first} и {second} под номером {pid}.",
           "q_dims": "Каковы размеры и цвет изображения {i} из коллекции «{name}»?", "q_who": "Кто каталогизировал коллекцию «{name}»?",
           "q_year": "В каком году была каталогизирована коллекция «{name}»?", "q_where": "В каких двух местах впервые выставлялась коллекция «{name}»?",
           "q_ref": "Под каким номером выставлялась коллекция «{name}»?", "name": "Коллекция {n}", "sep": ", "},
}
# fmt: on


def render_vqa(code: str, pairs: list[tuple[str, str]]) -> str:
    """Image-VQA pairs with `code`'s labels, numbered."""
    t = TEXTS[code]
    return "\n".join(f"{t['q']} {i}: {q}\n{t['a']} {i}: {a}" for i, (q, a) in enumerate(pairs, 1))


def vqa_pairs(code: str, tags: list[tuple[str, bool]], pid: str) -> list[tuple[str, str]]:
    """The mock's image-VQA pairs in `code`: `tags` are (image tag, wider than tall) per image."""
    t = TEXTS[code]
    pairs: list[tuple[str, str]] = []
    for i, (tag, wide) in enumerate(tags, 1):
        pairs += [(t["dims"].format(i=i), tag), (t["wide"].format(i=i), t["yes"] if wide else t["no"])]
    return [*pairs, (t["prompt"], pid)]


def render_context(code: str, facts: dict[str, str], tags: list[str], *, as_json: bool) -> str:
    """The ContextVQA reply in `code` from `facts` (raw name, who, year, first, second, pid); the article
    holds every answer verbatim. JSON when `as_json`."""
    import json

    t = TEXTS[code]
    name = t["name"].format(n=facts["name"])
    f = {**facts, "name": name}
    parts = [t["intro"].format(**f), *(t["image"].format(i=i, tag=tag) for i, tag in enumerate(tags, 1))]
    parts.append(t["shown"].format(**f))
    article = ("" if code in ("zh", "ja") else " ").join(parts)
    pairs = [(t["q_dims"].format(i=i, name=name), tag) for i, tag in enumerate(tags, 1)]
    pairs += [(t["q_who"].format(**f), facts["who"]), (t["q_year"].format(**f), facts["year"])]
    pairs += [(t["q_where"].format(**f), f"{facts['first']}{t['sep']}{facts['second']}")]
    pairs += [(t["q_ref"].format(**f), facts["pid"])]
    if as_json:
        return json.dumps({"context": article, "qas": [{"question": q, "answer": a} for q, a in pairs]},
                          ensure_ascii=False)  # fmt: skip
    qas = "\n".join(f"{t['q']} {i}: {q}\n{t['a']} {i}: {a}" for i, (q, a) in enumerate(pairs, 1))
    return f"{t['article']}:\n{article}\n\n{t['section']}:\n{qas}"
