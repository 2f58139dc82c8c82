"""The words models use to label questions, answers, articles, titles and sections, per language, as DATA.

The parser reads every language of this table at once (a reply's language is not known in advance);
`hf_vqa.parse.lines` and `hf_vqa.parse.article` build their patterns from it. Adding a language is adding a
row here, and `tests/test_parse_labels.py` checks every row.

- `question` / `answer`: label words ("Frage", "Antwort"; "質問", "回答"). Single letters ("F", "R") are
  read only in upper case with a colon ("F1:", "R :"), never as "a." or "a)".
- `article`: what an article heading or label says ("Artikel", "記事").
- `title`: a title label ("Titel:").
- `sections`: whole lines that open the pair section ("Fragen zum Bild", "Quiz"). Any short heading that
  names questions and answers of one language ("Fragen und Antworten", "질문과 답변") counts too.
- `instructions`: labels of a restated task ("Aufgabe:", "Criteria:"), dropped before the article.
- `preamble`: how an opening or refusal sentence starts ("Voici", "I can't"), dropped before the article.

Example:
    >>> "Frage" in LABELS["de"].question, "R" in LABELS["fr"].answer
    (True, True)
    >>> len(LANGUAGES) >= 15
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LABELS", "LANGUAGES", "QMARKS", "Labels", "alternation", "words"]

QMARKS = "?？؟"  # Latin, CJK full-width, Arabic


@dataclass(frozen=True)
class Labels:
    """One language's label words (see the module docstring)."""

    question: tuple[str, ...]
    answer: tuple[str, ...]
    article: tuple[str, ...]
    title: tuple[str, ...]
    sections: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()
    preamble: tuple[str, ...] = ()


# fmt: off
LABELS: dict[str, Labels] = {
    "en": Labels(("Question", "Ques", "Query", "Q"), ("Answer", "Ans", "A"),
                 ("Wikipedia article", "Article"), ("Title",),
                 ("questions about the image", "questions about this image", "questions based on the image",
                  "questions about the article", "quiz", "quiz questions", "comprehension questions",
                  "test your knowledge"),
                 ("Task", "Instructions", "Instruction", "Criteria", "Requirements", "Guidelines", "Prompt"),
                 ("I can't", "I cannot", "I can not", "I'm unable", "I am unable", "I'm sorry", "Sorry",
                  "As an AI", "Unfortunately", "While I can't", "While I cannot")),
    "zh": Labels(("问题", "问", "題目", "问句"), ("答案", "回答", "答"), ("维基百科文章", "百科文章", "文章", "背景知识"),
                 ("标题", "题目"), ("问答对", "问答", "问题与答案", "问题和答案", "关于图片的问题", "测验"),
                 ("任务", "要求", "指令", "标准"), ("好的", "当然", "以下是", "下面是", "抱歉", "很抱歉", "我无法")),
    "ja": Labels(("質問", "問題", "問い", "問"), ("回答", "答え", "解答", "答"), ("ウィキペディア記事", "記事", "本文"),
                 ("タイトル", "題名"), ("質問と回答", "質問と答え", "問答", "一問一答", "画像に関する質問", "クイズ"),
                 ("タスク", "指示", "要件", "条件"), ("はい", "以下は", "もちろん", "申し訳")),
    "ko": Labels(("질문", "문제", "문"), ("답변", "정답", "답"), ("위키백과 문서", "기사", "문서", "본문"), ("제목",),
                 ("질문과 답변", "질의응답", "문답", "이미지에 관한 질문", "퀴즈"), ("과제", "지시", "요구 사항", "기준"),
                 ("네", "다음은", "물론", "죄송")),
    "de": Labels(("Frage", "F"), ("Antwort", "A"), ("Wikipedia-Artikel", "Artikel", "Kontext"), ("Titel", "Überschrift"),
                 ("Fragen zum Bild", "Fragen und Antworten", "Fragen", "Frage-Antwort-Paare", "Quiz"),
                 ("Aufgabe", "Anweisung", "Anweisungen", "Kriterien", "Anforderungen"),
                 ("Hier ist", "Hier sind", "Gerne", "Natürlich", "Leider", "Ich kann")),
    "fr": Labels(("Question", "Q"), ("Réponse", "Rép", "R"), ("Article de type Wikipédia", "Article", "Contexte"),
                 ("Titre",), ("Questions et réponses", "Questions-réponses", "Q&R", "Questions sur l'image", "Quiz"),
                 ("Consigne", "Consignes", "Tâche", "Critères", "Instructions", "Exigences"),
                 ("Voici", "Bien sûr", "Certainement", "Désolé", "Je ne peux pas")),
    "es": Labels(("Pregunta", "P"), ("Respuesta", "Resp", "R"), ("Artículo", "Contexto"), ("Título",),
                 ("Preguntas y respuestas", "Preguntas sobre la imagen", "P&R", "Cuestionario"),
                 ("Tarea", "Instrucciones", "Criterios", "Requisitos"),
                 ("Aquí tienes", "Aquí está", "Claro", "Por supuesto", "Lo siento", "No puedo")),
    "it": Labels(("Domanda", "D"), ("Risposta", "R"), ("Articolo", "Contesto"), ("Titolo",),
                 ("Domande e risposte", "Domande sull'immagine", "Quiz"), ("Compito", "Istruzioni", "Criteri", "Requisiti"),
                 ("Ecco", "Certo", "Mi dispiace", "Non posso")),
    "pt": Labels(("Pergunta", "P"), ("Resposta", "R"), ("Artigo", "Contexto"), ("Título",),
                 ("Perguntas e respostas", "Perguntas sobre a imagem", "Questionário"),
                 ("Tarefa", "Instruções", "Critérios", "Requisitos"),
                 ("Aqui está", "Aqui estão", "Claro", "Com certeza", "Desculpe", "Não posso")),
    "ru": Labels(("Вопрос", "В"), ("Ответ", "О"), ("Статья", "Контекст"), ("Заголовок", "Название"),
                 ("Вопросы и ответы", "Вопросы по изображению", "Вопросы", "Викторина"),
                 ("Задание", "Задача", "Инструкция", "Критерии", "Требования"),
                 ("Вот", "Конечно", "Извините", "К сожалению", "Я не могу")),
    "vi": Labels(("Câu hỏi", "Hỏi"), ("Câu trả lời", "Trả lời", "Đáp án", "Đáp"), ("Bài viết", "Bài báo"), ("Tiêu đề",),
                 ("Câu hỏi và trả lời", "Hỏi đáp", "Hỏi và đáp"), ("Nhiệm vụ", "Yêu cầu", "Tiêu chí"),
                 ("Dưới đây là", "Tất nhiên", "Xin lỗi")),
    "ar": Labels(("السؤال", "سؤال", "س"), ("الإجابة", "الجواب", "إجابة", "جواب", "ج"), ("المقالة", "المقال", "مقال"),
                 ("العنوان",), ("الأسئلة والأجوبة", "أسئلة وأجوبة", "الأسئلة"), ("المهمة", "التعليمات", "المعايير"),
                 ("إليك", "بالتأكيد", "عذرا")),
    "nl": Labels(("Vraag", "V"), ("Antwoord", "A"), ("Artikel", "Context"), ("Titel",),
                 ("Vragen en antwoorden", "Vragen over de afbeelding", "Vragen", "Quiz"), ("Taak", "Instructies", "Criteria"),
                 ("Hier is", "Hier zijn", "Natuurlijk", "Sorry")),
    "pl": Labels(("Pytanie", "P"), ("Odpowiedź", "O"), ("Artykuł", "Kontekst"), ("Tytuł",),
                 ("Pytania i odpowiedzi", "Pytania do obrazu", "Pytania", "Quiz"), ("Zadanie", "Instrukcje", "Kryteria"),
                 ("Oto", "Oczywiście", "Przepraszam")),
    "tr": Labels(("Soru", "S"), ("Cevap", "Yanıt", "C"), ("Makale", "Bağlam"), ("Başlık",),
                 ("Sorular ve cevaplar", "Soru-cevap", "Sorular"), ("Görev", "Talimatlar", "Kriterler"),
                 ("İşte", "Elbette", "Üzgünüm")),
    "hi": Labels(("प्रश्न", "सवाल"), ("उत्तर", "जवाब"), ("लेख",), ("शीर्षक",), ("प्रश्न और उत्तर", "प्रश्नोत्तर"),
                 ("कार्य", "निर्देश", "मानदंड"), ("यहाँ", "ज़रूर", "क्षमा करें")),
    "id": Labels(("Pertanyaan", "Tanya"), ("Jawaban", "Jawab", "J"), ("Artikel", "Konteks"), ("Judul",),
                 ("Pertanyaan dan jawaban", "Tanya jawab", "Kuis"), ("Tugas", "Instruksi", "Kriteria"),
                 ("Berikut", "Tentu", "Maaf")),
}
# fmt: on
LANGUAGES: tuple[str, ...] = tuple(LABELS)


def words(kind: str, *, letters: bool = True) -> list[str]:
    """Every language's words of one `kind` ("question", "answer", ...), longest first, de-duplicated.

    `letters=False` leaves single-letter labels out.

    Example:
        >>> words("answer")[:2]
        ['Câu trả lời', 'Odpowiedź']
    """
    found = {w for labels in LABELS.values() for w in getattr(labels, kind)}
    return sorted((w for w in found if letters or len(w) > 1), key=lambda w: (-len(w), w))


def alternation(items: list[str]) -> str:
    """A regex alternation of `items` (spaces and hyphens match any run of them).

    Example:
        >>> bool(re.fullmatch(alternation(["Câu hỏi"]), "Câu  hỏi"))
        True
    """
    return "|".join(re.sub(r"\\[ \-]", r"[\\s\\-]+", re.escape(w)) for w in items)
