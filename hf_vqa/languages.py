"""Prompts written for each language, for both pipelines (`--language CODE`, `run_pipeline(language=)`).

English is `hf_vqa.prompts` as it always was (DataFlow-MM's seed prompts). The others are written for
their language, not machine-glossed: each keeps the seed's eight ContextVQA criteria and asks for pairs
labelled with that language's own words, which `hf_vqa.parse.labels` reads. Chinese comes first after
English: the seeds' own documentation is written in Chinese.

Example:
    >>> prompts_for("zh").image.splitlines()[-2]
    '问题：<问题>'
    >>> language_of(prompts_for("de").context)
    'de'
"""

from __future__ import annotations

from dataclasses import dataclass

from hf_vqa.errors import ConfigError
from hf_vqa.prompts import CONTEXT_VQA_PROMPT, CONTEXT_VQA_SYSTEM_PROMPT, IMAGE_VQA_PROMPT

__all__ = ["LANGUAGE_PROMPTS", "Prompts", "check_language", "language_of", "prompts_for"]


@dataclass(frozen=True)
class Prompts:
    """One language's instructions: `image` (image-vqa), `context` and `system` (context-vqa)."""

    image: str
    context: str
    system: str


def _image(intro: str, rules: list[str], layout: str, q: str, a: str) -> str:
    lines = [intro, *(f"{i}: {rule}" for i, rule in enumerate(rules, 1)), layout, q, a]
    return "\n".join(lines)


def _context(intro: str, criteria: list[str]) -> str:
    return "\n".join([intro, *(f"{i}: {c}" for i, c in enumerate(criteria, 1))])


# fmt: off
LANGUAGE_PROMPTS: dict[str, Prompts] = {
    "en": Prompts(IMAGE_VQA_PROMPT, CONTEXT_VQA_PROMPT, CONTEXT_VQA_SYSTEM_PROMPT),
    "zh": Prompts(
        _image("请仔细观察这张图片，并写出关于它的5个问答对。\n要求：",
               ["每个问题都必须只看图片就能回答；不要问图片中看不到的内容。",
                "涵盖不同方面：物体、属性（颜色、材质、大小）、数量、空间关系、动作、可见的文字以及整体场景。",
                "答案简短、客观：一个词、一个短语或一句短句。", "不要重复问题。"],
               "每个问答对写成两行，格式严格如下，问答对前后不要有任何其他内容：", "问题：<问题>", "答案：<答案>"),
        _context("请写一篇与这张图片相关的维基百科风格文章，不要直接提及图片。然后写出问答对。问答对应满足以下标准。",
                 ["问题应指向图片。", "问题应避免提及图片中物体的名称。", "问题应通过对维基百科文章的推理来回答。",
                  "问题应自然、简洁。", "答案应从维基百科文章中摘取。", "答案不应是图片中的任何物体。",
                  "答案应为单个词或短语，如有多个正确答案，请用逗号分隔全部列出。", "答案不应包含“和”“或”，而应拆分为多个答案。"]),
        "你是一个乐于助人的助手。"),
    "ja": Prompts(
        _image("この画像をよく見て、画像についての質問と回答のペアを5つ書いてください。\n条件：",
               ["各質問は画像だけを見て答えられるものにしてください。写っていないことは聞かないでください。",
                "物体、属性（色・素材・大きさ）、数、位置関係、動作、見える文字、全体の場面など、さまざまな側面を扱ってください。",
                "回答は短く事実に基づくもの（単語、句、または短い一文）にしてください。", "同じ質問を繰り返さないでください。"],
               "各ペアを次の形式どおり2行で書き、ペアの前後には何も書かないでください：", "質問：<質問>", "回答：<回答>"),
        _context("この画像に関連するウィキペディア風の記事を、画像に直接言及せずに書いてください。次に質問と回答のペアを書いてください。ペアは次の基準を満たす必要があります。",
                 ["質問は画像を指すこと。", "質問では画像内の物体の名前を出さないこと。", "質問はウィキペディア記事を読んで推論すれば答えられること。",
                  "質問は自然で簡潔であること。", "回答はウィキペディア記事から抜き出すこと。", "回答は画像内の物体そのものではないこと。",
                  "回答は単語または句とし、正解が複数ある場合はすべてを読点で区切って挙げること。", "回答に「と」「または」を含めず、複数の回答に分けること。"]),
        "あなたは親切なアシスタントです。"),
    "ko": Prompts(
        _image("이 이미지를 자세히 보고 이미지에 대한 질문-답변 쌍 5개를 작성하세요.\n요구 사항:",
               ["각 질문은 이미지만 보고 답할 수 있어야 합니다. 보이지 않는 것은 묻지 마세요.",
                "사물, 속성(색, 재질, 크기), 개수, 공간 관계, 동작, 보이는 글자, 전체 장면 등 다양한 측면을 다루세요.",
                "답변은 짧고 사실적으로: 단어, 구 또는 짧은 한 문장.", "질문을 반복하지 마세요."],
               "각 쌍을 정확히 다음과 같이 두 줄로 쓰고, 쌍 앞뒤에는 아무것도 쓰지 마세요:", "질문: <질문>", "답변: <답변>"),
        _context("이 이미지와 관련된 위키백과 스타일의 글을 이미지를 직접 언급하지 않고 작성하세요. 그런 다음 질문-답변 쌍을 작성하세요. 질문-답변 쌍은 다음 기준을 충족해야 합니다.",
                 ["질문은 이미지를 가리켜야 합니다.", "질문은 이미지 속 사물의 이름을 언급하지 않아야 합니다.", "질문은 위키백과 글을 근거로 추론하여 답할 수 있어야 합니다.",
                  "질문은 자연스럽고 간결해야 합니다.", "답변은 위키백과 글에서 가져와야 합니다.", "답변은 이미지 속 사물이 아니어야 합니다.",
                  "답변은 한 단어나 구여야 하며, 정답이 여럿이면 쉼표로 구분해 모두 나열하세요.", "답변에 '그리고', '또는'을 넣지 말고 여러 답변으로 나누세요."]),
        "당신은 도움이 되는 어시스턴트입니다."),
    "de": Prompts(
        _image("Sieh dir dieses Bild genau an und schreibe 5 Frage-Antwort-Paare dazu.\nAnforderungen:",
               ["Jede Frage muss sich allein durch Betrachten des Bildes beantworten lassen; frage nicht nach Dingen, die nicht zu sehen sind.",
                "Decke verschiedene Aspekte ab: Objekte, Eigenschaften (Farbe, Material, Größe), Anzahlen, räumliche Beziehungen, Handlungen, sichtbarer Text und die Gesamtszene.",
                "Halte die Antworten kurz und sachlich: ein Wort, eine Wortgruppe oder ein kurzer Satz.", "Wiederhole keine Frage."],
               "Schreibe jedes Paar genau so in zwei Zeilen, ohne etwas davor oder danach:", "Frage: <Frage>", "Antwort: <Antwort>"),
        _context("Schreibe einen Wikipedia-Artikel, der mit diesem Bild zu tun hat, ohne direkt auf das Bild Bezug zu nehmen. Schreibe danach Frage-Antwort-Paare. Die Frage-Antwort-Paare sollen folgende Kriterien erfüllen.",
                 ["Die Frage soll sich auf das Bild beziehen.", "Die Frage soll den Namen des Objekts im Bild nicht nennen.", "Die Frage soll durch Schlussfolgern aus dem Wikipedia-Artikel beantwortet werden.",
                  "Die Frage soll natürlich und knapp klingen.", "Die Antwort soll aus dem Wikipedia-Artikel stammen.", "Die Antwort soll keines der Objekte im Bild sein.",
                  "Die Antwort soll ein einzelnes Wort oder eine Wortgruppe sein; mehrere richtige Antworten werden durch Kommas getrennt aufgezählt.", "Die Antwort soll weder „und“ noch „oder“ enthalten; teile sie stattdessen in mehrere Antworten auf."]),
        "Du bist ein hilfreicher Assistent."),
    "fr": Prompts(
        _image("Observe attentivement cette image et écris 5 paires question-réponse à son sujet.\nExigences :",
               ["Chaque question doit pouvoir se répondre en regardant seulement l'image ; ne demande rien qui ne se voit pas.",
                "Couvre différents aspects : objets, attributs (couleur, matière, taille), quantités, relations spatiales, actions, texte visible et scène d'ensemble.",
                "Des réponses courtes et factuelles : un mot, une expression ou une courte phrase.", "Ne répète aucune question."],
               "Écris chaque paire sur deux lignes, exactement ainsi, sans rien avant ni après les paires :", "Question : <question>", "Réponse : <réponse>"),
        _context("Écris un article de style Wikipédia lié à cette image sans faire directement référence à l'image. Écris ensuite des paires question-réponse. Les paires question-réponse doivent respecter les critères suivants.",
                 ["La question doit se rapporter à l'image.", "La question doit éviter de nommer l'objet présent dans l'image.", "La question doit pouvoir se résoudre en raisonnant sur l'article.",
                  "La question doit être naturelle et concise.", "La réponse doit être extraite de l'article.", "La réponse ne doit être aucun des objets de l'image.",
                  "La réponse doit être un seul mot ou une expression ; s'il y a plusieurs bonnes réponses, les lister toutes séparées par des virgules.", "La réponse ne doit pas contenir « et » ou « ou » ; sépare-la plutôt en plusieurs réponses."]),
        "Tu es un assistant serviable."),
    "es": Prompts(
        _image("Observa con atención esta imagen y escribe 5 pares de pregunta y respuesta sobre ella.\nRequisitos:",
               ["Cada pregunta debe poder responderse mirando solo la imagen; no preguntes por cosas que no se ven.",
                "Cubre distintos aspectos: objetos, atributos (color, material, tamaño), cantidades, relaciones espaciales, acciones, texto visible y la escena en general.",
                "Respuestas breves y objetivas: una palabra, una frase o una oración corta.", "No repitas ninguna pregunta."],
               "Escribe cada par en dos líneas, exactamente así, sin nada antes ni después de los pares:", "Pregunta: <pregunta>", "Respuesta: <respuesta>"),
        _context("Escribe un artículo de Wikipedia relacionado con esta imagen sin referirte directamente a la imagen. Después escribe pares de pregunta y respuesta. Los pares deben cumplir los siguientes criterios.",
                 ["La pregunta debe referirse a la imagen.", "La pregunta debe evitar mencionar el nombre del objeto de la imagen.", "La pregunta debe responderse razonando sobre el artículo de Wikipedia.",
                  "La pregunta debe sonar natural y concisa.", "La respuesta debe extraerse del artículo de Wikipedia.", "La respuesta no debe ser ninguno de los objetos de la imagen.",
                  "La respuesta debe ser una sola palabra o frase; si hay varias respuestas correctas, enuméralas todas separadas por comas.", "La respuesta no debe contener «y» ni «o»; divídela en varias respuestas."]),
        "Eres un asistente útil."),
    "pt": Prompts(
        _image("Observe com atenção esta imagem e escreva 5 pares de pergunta e resposta sobre ela.\nRequisitos:",
               ["Cada pergunta deve poder ser respondida apenas olhando a imagem; não pergunte sobre o que não se vê.",
                "Cubra aspectos diferentes: objetos, atributos (cor, material, tamanho), quantidades, relações espaciais, ações, texto visível e a cena geral.",
                "Respostas curtas e objetivas: uma palavra, uma expressão ou uma frase curta.", "Não repita nenhuma pergunta."],
               "Escreva cada par em duas linhas, exatamente assim, sem nada antes ou depois dos pares:", "Pergunta: <pergunta>", "Resposta: <resposta>"),
        _context("Escreva um artigo no estilo da Wikipédia relacionado a esta imagem sem se referir diretamente à imagem. Depois escreva pares de pergunta e resposta. Os pares devem atender aos seguintes critérios.",
                 ["A pergunta deve se referir à imagem.", "A pergunta deve evitar mencionar o nome do objeto da imagem.", "A pergunta deve ser respondida raciocinando sobre o artigo da Wikipédia.",
                  "A pergunta deve soar natural e concisa.", "A resposta deve ser extraída do artigo da Wikipédia.", "A resposta não deve ser nenhum dos objetos da imagem.",
                  "A resposta deve ser uma única palavra ou expressão; se houver várias respostas corretas, liste todas separadas por vírgulas.", "A resposta não deve conter «e» ou «ou»; divida-a em várias respostas."]),
        "Você é um assistente prestativo."),
    "ru": Prompts(
        _image("Внимательно рассмотри это изображение и напиши 5 пар «вопрос — ответ» о нём.\nТребования:",
               ["На каждый вопрос должно быть можно ответить, глядя только на изображение; не спрашивай о том, чего не видно.",
                "Охвати разные стороны: предметы, признаки (цвет, материал, размер), количество, расположение, действия, видимый текст и сцену в целом.",
                "Ответы короткие и по существу: слово, словосочетание или одно короткое предложение.", "Не повторяй вопросы."],
               "Запиши каждую пару в две строки точно так, без текста до или после пар:", "Вопрос: <вопрос>", "Ответ: <ответ>"),
        _context("Напиши статью в стиле Википедии, связанную с этим изображением, не упоминая изображение напрямую. Затем напиши пары «вопрос — ответ». Пары должны соответствовать следующим критериям.",
                 ["Вопрос должен относиться к изображению.", "В вопросе не должно называться имя объекта на изображении.", "Ответ на вопрос должен находиться рассуждением по статье.",
                  "Вопрос должен звучать естественно и кратко.", "Ответ должен быть взят из статьи.", "Ответ не должен быть одним из объектов на изображении.",
                  "Ответ должен быть одним словом или словосочетанием; если верных ответов несколько, перечисли их все через запятую.", "Ответ не должен содержать «и» или «или»; раздели его на несколько ответов."]),
        "Ты полезный ассистент."),
}
# fmt: on


def check_language(code: str) -> str:
    """`code` if there are prompts for it, else a `ConfigError` naming the known codes.

    Example:
        >>> check_language("zh")
        'zh'
    """
    if code not in LANGUAGE_PROMPTS:
        raise ConfigError(
            "no prompts for this language", received=code, fix=f"use one of {', '.join(LANGUAGE_PROMPTS)}"
        )
    return code


def prompts_for(code: str) -> Prompts:
    """The prompts written for language `code` (see `check_language`)."""
    return LANGUAGE_PROMPTS[check_language(code)]


def language_of(text: str) -> str | None:
    """The language whose built-in prompt `text` contains (the mock answers in it), or None.

    Example:
        >>> language_of("Look carefully at this image"), language_of(prompts_for("ru").image)
        (None, 'ru')
    """
    for code, prompts in LANGUAGE_PROMPTS.items():
        if code != "en" and (prompts.image[:40] in text or prompts.context[:40] in text):
            return code
    return None
