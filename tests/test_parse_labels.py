"""The parser in every language of `hf_vqa.parse.labels`, the special-token rule, the tolerant structured
reader, article boundaries, one-line pairs and dash labels; plus the new corpus (tests/data/parse_corpus_new/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hf_vqa.parse.labels import LABELS, LANGUAGES, QMARKS
from hf_vqa.parse.reply import parse_qa_pairs, parse_wiki_qa
from hf_vqa.parse.tokens import strip_special

NEW = Path(__file__).parent / "data" / "parse_corpus_new"


def _cases() -> list[dict]:
    cases = []
    for meta in sorted(NEW.glob("*.json")):
        case = json.loads(meta.read_text(encoding="utf-8"))
        case["text"] = meta.with_suffix(".txt").read_text(encoding="utf-8")
        cases.append(case)
    return cases


CASES = _cases()


def test_the_new_corpus_covers_families_languages_and_kinds():
    assert len(CASES) >= 45
    assert len({c["family"] for c in CASES}) >= 16
    assert len({c["language"] for c in CASES}) >= 15
    kinds = {c["layout"] for c in CASES}
    assert {"labels_lang", "special_tokens", "json_comments", "jsonl", "yaml", "markdown_table"} <= kinds
    assert {"article_boundary", "one_line_qa", "dash_decimal"} <= kinds


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_new_corpus_case(case):
    truncated = case["finish_reason"] == "length"
    want = [(qa["question"], qa["answer"]) for qa in case["qas"]]
    if case["pipeline"] == "vqa":
        assert [(p.question, p.answer) for p in parse_qa_pairs(case["text"], truncated=truncated)] == want
        return
    wiki = parse_wiki_qa(case["text"], truncated=truncated)
    assert [(p.question, p.answer) for p in wiki.qas] == want
    if "context" in case:
        assert wiki.context == case["context"]
    assert wiki.context.startswith(case.get("context_startswith", ""))
    for text in case.get("context_not_contains", []):
        assert text not in wiki.context


def test_at_least_fifteen_languages_with_every_kind_of_word():
    assert len(LANGUAGES) >= 15
    for code, labels in LABELS.items():
        assert labels.question and labels.answer and labels.article and labels.title, code
        assert labels.sections and labels.instructions and labels.preamble, code


def _qmark(code: str) -> str:
    return "؟" if code == "ar" else "？" if code in ("zh", "ja") else "?"


@pytest.mark.parametrize("code", LANGUAGES)
@pytest.mark.parametrize("number", ["", " 1"])
def test_labelled_pairs_in_every_language(code, number):
    labels = LABELS[code]
    mark = _qmark(code)
    pairs = []
    for q_word in (w for w in labels.question if len(w) > 1):
        for a_word in (w for w in labels.answer if len(w) > 1):
            pairs.append(f"{q_word}{number}: Wie{mark}\n{a_word}{number}: Rot")
    for text in pairs:
        got = parse_qa_pairs(text)
        assert [(p.question, p.answer) for p in got] == [(f"Wie{mark}", "Rot")], text


@pytest.mark.parametrize("code", LANGUAGES)
def test_single_letter_labels_need_a_capital_and_a_colon(code):
    letters_q = [w for w in LABELS[code].question if len(w) == 1]
    letters_a = [w for w in LABELS[code].answer if len(w) == 1]
    for q in letters_q:
        for a in letters_a:
            got = parse_qa_pairs(f"{q}1: Wie{_qmark(code)}\n{a}1: Rot")
            assert [(p.question, p.answer) for p in got] == [(f"Wie{_qmark(code)}", "Rot")]
    # lower-case letters are words, not labels: "r: x" stays part of the answer
    got = parse_qa_pairs("Q: Which letters?\nA: r: x")
    assert got[0].answer == "r: x"


@pytest.mark.parametrize("code", LANGUAGES)
def test_article_section_and_instruction_words_in_every_language(code):
    labels = LABELS[code]
    article = "The Golden Gate Bridge opened in 1937 and spans the strait of the bay for 2.7 kilometres."
    for art in labels.article[:2]:
        for section in labels.sections[:3]:
            text = (
                f"{labels.instructions[0]}: write an article and pairs.\n\n{art}:\n{article}\n\n"
                f"{section}\n\n1. When did it open?\n   - 1937"
            )
            wiki = parse_wiki_qa(text)
            assert wiki.context == article, text
            assert [(p.question, p.answer) for p in wiki.qas] == [("When did it open?", "1937")]


@pytest.mark.parametrize("code", LANGUAGES)
def test_preamble_and_refusal_lines_before_the_article_go(code):
    article = "The Golden Gate Bridge opened in 1937 and spans the strait of the bay for 2.7 kilometres."
    for opener in LABELS[code].preamble:
        wiki = parse_wiki_qa(f"{opener}, here it is.\n\n{article}\n\nQ: When did it open?\nA: 1937")
        assert wiki.context == article, opener


@pytest.mark.parametrize("code", LANGUAGES)
def test_table_headers_in_every_language(code):
    labels = LABELS[code]
    text = (
        f"| # | {labels.question[0]} | {labels.answer[0]} |\n|---|---|---|\n| 1 | Wie{_qmark(code)} | Rot |"
    )
    assert [(p.question, p.answer) for p in parse_qa_pairs(text)] == [(f"Wie{_qmark(code)}", "Rot")]


def test_question_marks_of_every_script():
    assert set(QMARKS) == {"?", "？", "؟"}


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("<think>a</think>Q: x?\nA: y", "Q: x?\nA: y"),
        ("<THINKING>a</THINKING>\nQ: x?", "\nQ: x?"),
        ("◁think▷a◁/think▷Q: x?", "Q: x?"),
        ("no opening tag\n</think>\nQ: x?", "\nQ: x?"),
        ("no opening ◁/think▷Q: x?", "Q: x?"),
        ("<|begin_of_box|>Q: x?\nA: y<|end_of_box|>", "Q: x?\nA: y"),
        ("<|im_start|>assistant\nQ: x?<|im_end|>", "Q: x?"),
        ("<answer>Q: x?</answer>", "Q: x?"),
        ("<start_of_turn>model\nQ: x?<end_of_turn>", "Q: x?"),
        ("Q: x?\nA: y<end_of_utterance></s>", "Q: x?\nA: y"),
        ("Q: Is <b> bold?\nA: the <em> tag", "Q: Is <b> bold?\nA: the <em> tag"),
        ("Q: x?\nA: y<think>cut off", "Q: x?\nA: y"),
        ("Q: Is 3 < 4 and 5 > 2?\nA: yes", "Q: Is 3 < 4 and 5 > 2?\nA: yes"),
    ],
)
def test_one_rule_strips_special_tokens(text, clean):
    assert strip_special(text) == clean


def test_json_with_comments_trailing_commas_and_urls_in_strings():
    text = '{\n // c\n "qas": [{"question": "Where? //not a comment", "answer": "http://x.org"}, /* c */],\n}'
    assert [(p.question, p.answer) for p in parse_qa_pairs(text)] == [
        ("Where? //not a comment", "http://x.org")
    ]


def test_json_lines_and_a_pretty_printed_context_object_stay_apart():
    lines = '{"q": "One?", "a": "1"}\n{"q": "Two?", "a": "2"},\n{"q": "Three?", "a": "3"}'
    assert [p.answer for p in parse_qa_pairs(lines)] == ["1", "2", "3"]
    pretty = (
        '{"context": "The bridge opened in 1937 and is painted orange.", "qas": [\n'
        '  {"question": "When?", "answer": "1937"},\n  {"question": "Colour?", "answer": "orange"}\n]}'
    )
    wiki = parse_wiki_qa(pretty)
    assert wiki.context == "The bridge opened in 1937 and is painted orange." and len(wiki.qas) == 2


def test_yaml_like_lists():
    text = "- question: What is it?\n  answer: A kite\n- question: 'What colour?'\n  answer: \"Orange\""
    assert [(p.question, p.answer) for p in parse_qa_pairs(text)] == [
        ("What is it?", "A kite"),
        ("What colour?", "Orange"),
    ]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "1. What is the man doing? He is surfing.\n2. Why? Fun.",
            [("What is the man doing?", "He is surfing."), ("Why?", "Fun.")],
        ),
        (
            "1. 这是什么？一只猫。\n2. 什么颜色？黑色。",
            [("这是什么？", "一只猫。"), ("什么颜色？", "黑色。")],
        ),
        ("1. ما هذا؟ قطة\n2. ما لونها؟ أسود", [("ما هذا؟", "قطة"), ("ما لونها؟", "أسود")]),
        ("1. What is it? Why?\n   A kite", [("What is it? Why?", "A kite")]),  # an answer line wins
    ],
)
def test_question_and_answer_on_one_numbered_line(text, want):
    assert [(p.question, p.answer) for p in parse_qa_pairs(text)] == want


@pytest.mark.parametrize("answer", ["21.5 metres", "4.99", "1.5 l", "3.2"])
@pytest.mark.parametrize("label", ["A -", "A1 -", "Answer -", "A -", "A 1 -"])
def test_a_decimal_after_a_dash_label_is_not_a_list_number(label, answer):
    got = parse_qa_pairs(f"Q - How much?\n{label} {answer}")
    assert [(p.question, p.answer) for p in got] == [("How much?", answer)]


@pytest.mark.parametrize(
    "heading", ["Questions About the Image", "**Quiz**", "## Fragen zum Bild", "Q&R", "质量问答对"]
)
def test_trailing_heading_leaves_the_article(heading):
    article = "The bridge opened in 1937. It is painted in a colour called International Orange."
    wiki = parse_wiki_qa(f"{article}\n\n{heading}\n\nWhen did it open?\n1937")
    assert wiki.context == article


def test_a_short_last_paragraph_that_is_prose_stays():
    text = "The bridge opened in 1937.\n\nIt is orange.\n\nQ: When?\nA: 1937"
    assert parse_wiki_qa(text).context == "The bridge opened in 1937.\n\nIt is orange."


def test_restated_task_with_numbered_criteria_is_dropped_only_before_prose():
    task = "Task: write an article.\nCriteria:\n1: The question should refer to the image."
    wiki = parse_wiki_qa(
        f"{task}\n\nThe bridge opened in 1937 after four years of work.\n\nQ: When?\nA: 1937"
    )
    assert wiki.context == "The bridge opened in 1937 after four years of work."


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "qas:\n  - question: What?\n    answer: |\n      A red kite\n  - question: Where?\n    answer: >-\n      Beach",
            [("What?", "A red kite"), ("Where?", "Beach")],
        ),
        (
            "qas:\n- {question: What?, answer: A kite}\n- {question: Where?, answer: 'Beach, north side'}",
            [("What?", "A kite"), ("Where?", "Beach, north side")],
        ),
        (
            "- {frage: Was?, antwort: Ein Hund}\n- {frage: Wo?, antwort: Im Park}",
            [("Was?", "Ein Hund"), ("Wo?", "Im Park")],
        ),
    ],
)
def test_yaml_block_scalars_and_flow_maps(text, want):
    assert [(p.question, p.answer) for p in parse_qa_pairs(text)] == want


@pytest.mark.parametrize(
    "text",
    [
        "Вопрос 1. Что это?\nОтвет 1. Кошка",
        "Frage 1 – Что это?\nAntwort 1 – Кошка",
        "Pregunta 2) Что это?\nRespuesta 2) Кошка",
    ],
)
def test_word_labels_with_a_number_and_a_dot_or_a_dash(text):
    assert [(p.question, p.answer) for p in parse_qa_pairs(text)] == [("Что это?", "Кошка")]


def test_a_word_label_without_a_number_needs_a_colon_or_a_dash():
    # "Frage." alone is not a label; the line is a question of its own
    got = parse_qa_pairs("Antwort. Was ist das?\nEin Hund")
    assert [(p.question, p.answer) for p in got] == [("Antwort. Was ist das?", "Ein Hund")]
