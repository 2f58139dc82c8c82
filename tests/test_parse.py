"""Parsing VLM output: the whole hand-written corpus (tests/data/parse_corpus/) plus targeted unit tests."""

from __future__ import annotations

import contextlib
import json
import pickle
import time
from pathlib import Path

import pytest

from hf_vqa.errors import ParseError
from hf_vqa.parse.reply import QA, WikiQA, parse_json_payload, parse_qa_pairs, parse_wiki_qa

CORPUS = Path(__file__).parent / "data" / "parse_corpus"


def _load_corpus() -> list[dict]:
    cases = []
    for meta in sorted(CORPUS.glob("*.json")):
        case = json.loads(meta.read_text(encoding="utf-8"))
        case["text"] = meta.with_suffix(".txt").read_text(encoding="utf-8")
        cases.append(case)
    return cases


CASES = _load_corpus()


def _param(case: dict):
    marks = [pytest.mark.xfail(reason=case["xfail"], strict=True)] if case.get("xfail") else []
    return pytest.param(case, id=case["id"], marks=marks)


# --------------------------------------------------------------------------- corpus


def test_corpus_is_big_and_varied():
    pipelines = [c["pipeline"] for c in CASES]
    assert len(CASES) >= 40
    assert pipelines.count("context_vqa") >= 30
    assert len({c["layout"] for c in CASES}) >= 10
    tags = {t for c in CASES for t in c["tags"]}
    for needed in (
        "hostile_article_line_starts_with_question",
        "hostile_article_line_starts_with_qatar",
        "hostile_answer_contains_a_colon",
        "empty_answer",
        "truncated_mid_question",
        "truncated_mid_answer",
        "trailing_note",
        "title_line",
    ):
        assert needed in tags, needed


def test_corpus_articles_are_realistic_length():
    for case in CASES:
        if case["pipeline"] == "context_vqa" and not case.get("expect_error") and "context" not in case:
            wiki = parse_wiki_qa(case["text"], truncated=case["finish_reason"] == "length")
            cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in wiki.context)
            size = cjk // 2 if cjk > len(wiki.context) // 3 else len(wiki.context.split())  # ~2 hanzi a word
            assert 80 <= size <= 250, (case["id"], size)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_corpus_case(case):
    truncated = case["finish_reason"] == "length"
    parse = parse_qa_pairs if case["pipeline"] == "vqa" else parse_wiki_qa
    if case.get("expect_error"):
        with pytest.raises(ParseError, match=case["expect_error"]):
            parse(case["text"], truncated=truncated)
        return
    expected = [QA(qa["question"], qa["answer"]) for qa in case["qas"]]
    if case["pipeline"] == "vqa":
        assert parse_qa_pairs(case["text"], truncated=truncated) == expected
        return
    wiki = parse_wiki_qa(case["text"], truncated=truncated)
    assert list(wiki.qas) == expected
    if "context" in case:
        assert wiki.context == case["context"]
    assert wiki.context.startswith(case.get("context_startswith", ""))
    for part in case.get("context_contains", []):
        assert part in wiki.context
    for part in case.get("context_not_contains", []):
        assert part not in wiki.context


# --------------------------------------------------------------------------- hostile cases

ARTICLE = (
    "The Voynich manuscript is an illustrated codex written in an unknown script. Its vellum has been "
    "carbon-dated to the early 15th century, and it was bought by Wilfrid Voynich in 1912."
)


@pytest.mark.parametrize(
    "line",
    [
        "Questions about its origin remain unresolved, and some think it a hoax.",
        "Qatar hosted the 2022 FIFA World Cup, which drew visitors to the museum.",
        "Q&A sessions with curators are held every Friday in the reading room.",
        "Answers to its riddles have been proposed by many amateur codebreakers.",
    ],
)
def test_article_lines_that_look_like_labels_stay_in_the_article(line):
    text = f"**Wikipedia Article:**\n{ARTICLE}\n{line}\n\n**Question Answer Pairs:**\nQ1: When was it bought?\nA1: 1912"
    wiki = parse_wiki_qa(text)
    assert wiki.context == f"{ARTICLE}\n{line}"
    assert wiki.qas == (QA("When was it bought?", "1912"),)


@pytest.mark.parametrize(
    "pairs",
    [
        "Q: What does one serving provide?\nA: Vitamin A: 835 micrograms",
        "Q: What does one serving provide? A: Vitamin A: 835 micrograms",
        "1. What does one serving provide?\n   - Vitamin A: 835 micrograms",
        "**Q1:** What does one serving provide?\n**A1:** Vitamin A: 835 micrograms",
    ],
)
def test_answer_containing_a_colon_label_stays_whole(pairs):
    text = (
        "Article:\nA serving of carrots provides Vitamin A: 835 micrograms, most of the daily value.\n\n"
        + pairs
    )
    assert parse_wiki_qa(text).qas == (QA("What does one serving provide?", "Vitamin A: 835 micrograms"),)


def test_empty_answer_is_kept_as_empty_string():
    text = "Q1: Who built it?\nA1:\n\nQ2: When?\nA2: 1937\nQ3: Where? A3:"
    assert parse_qa_pairs(text) == [QA("Who built it?", ""), QA("When?", "1937"), QA("Where?", "")]


def test_question_without_any_answer_is_dropped():
    text = "Q1: Who built it?\nA1: Strauss\n\nQ2: What colour is it?\n\nQ3: When? A3: 1937"
    assert parse_qa_pairs(text) == [QA("Who built it?", "Strauss"), QA("When?", "1937")]


def test_truncated_mid_question_drops_the_incomplete_pair():
    text = "1. Who built it?\n   - Strauss\n2. When did it open?\n   - 1937\n3. Which two cities does it conn"
    expected = [QA("Who built it?", "Strauss"), QA("When did it open?", "1937")]
    assert parse_qa_pairs(text, truncated=True) == expected
    assert parse_qa_pairs(text) == expected  # no answer line at all: dropped either way


def test_truncated_mid_answer_drops_the_last_pair_only_when_told():
    text = "Q: Who built it?\nA: Joseph Strauss\nQ: Who styled it?\nA: Irving Mor"
    assert parse_qa_pairs(text, truncated=True) == [QA("Who built it?", "Joseph Strauss")]
    assert parse_qa_pairs(text)[-1] == QA("Who styled it?", "Irving Mor")


def test_truncated_keeps_the_last_pair_when_the_output_continues_past_it():
    text = "Q: Who built it?\nA: Joseph Strauss\n\nNote: all answers come from the arti"
    assert parse_qa_pairs(text, truncated=True) == [QA("Who built it?", "Joseph Strauss")]


@pytest.mark.parametrize(
    "tail",
    [
        "\n\nNote: All answers are taken from the article.",
        "\nNote: All answers are taken from the article.",
        "\n\nI hope this helps! Let me know if you need more.",
        "\n\n---\n\n*These questions avoid naming the object.*",
        "\n(Note: the questions avoid naming the object.)",
        "\n\n注：所有答案均来自文章。",
    ],
)
def test_trailing_notes_do_not_leak_into_the_last_answer(tail):
    text = "Article: The bridge opened in 1937 and was painted International Orange.\n\n"
    text += "Q: When did it open?\nA: 1937\nQ: What colour is it?\nA: International Orange" + tail
    assert parse_wiki_qa(text).qas[-1] == QA("What colour is it?", "International Orange")


# --------------------------------------------------------------------------- layouts

BODY = "The bridge opened in 1937. It links San Francisco to Marin County."


@pytest.mark.parametrize(
    "pairs",
    [
        "Q: When did it open?\nA: 1937",
        "Q1: When did it open?\nA1: 1937",
        "Q: When did it open? A: 1937",
        "Question 1: When did it open?\nAnswer 1: 1937",
        "Question: When did it open?\nAnswer: 1937",
        "1. When did it open?\n   - 1937",
        "1) When did it open?\n   Answer: 1937",
        "- When did it open?\n  - 1937",
        "• When did it open? – 1937",
        "1. **When did it open?** 1937",
        "1. **Question:** When did it open?\n   **Answer:** 1937",
        "* **Q:** When did it open?\n  * **Answer**: 1937",
        "**Question 1**\nWhen did it open?\n**Answer**\n1937",
        "### 1. When did it open?\n1937",
        "| Question | Answer |\n|---|---|\n| When did it open? | 1937 |",
        "1. When did it open? (1937)",
        "Questions:\n1. When did it open?\n2. Which cities does it link?\n\nAnswers:\n1. 1937\n2. San Francisco",
    ],
)
def test_pair_layouts(pairs):
    qas = parse_wiki_qa(f"## Article\n\n{BODY}\n\n## Question-Answer Pairs\n\n{pairs}").qas
    assert qas[0] == QA("When did it open?", "1937")


@pytest.mark.parametrize(
    "article",
    [
        f"# The Golden Gate Bridge\n\n{BODY}",
        f"**Title: The Golden Gate Bridge**\n\n{BODY}",
        f"## Wikipedia Article: The Golden Gate Bridge\n\n{BODY}",
        f"Wikipedia Article: The Golden Gate Bridge\n\n{BODY}",
        f"### Wikipedia Article\n\n**The Golden Gate Bridge**\n\n{BODY}",
        f"Wikipedia Article:\n\nTitle: The Golden Gate Bridge\n\n{BODY}",
        f"Sure! Here is a Wikipedia-style article about the image:\n\n{BODY}",
        f"Golden Gate Bridge\n\n{BODY}",
        f"Context: {BODY}",
        f"**Wikipedia Article:** {BODY}",
        f"> {BODY}",
    ],
)
def test_titles_preambles_and_labels_stay_out_of_the_context(article):
    wiki = parse_wiki_qa(f"{article}\n\nQuestion Answer Pairs:\nQ: When did it open?\nA: 1937")
    assert wiki.context == BODY


def test_context_loses_markup_but_keeps_prose_and_paragraphs():
    text = (
        "### Wikipedia Article\n\nThe **Golden Gate Bridge** is a *suspension* bridge [link](https://x.y).\n\n"
        "#### History\n\nKey facts:\n- Opened in `1937`\n- Painted __International Orange__\n\n"
        "### Q&A\n\n1. When did it open?\n   - 1937"
    )
    assert parse_wiki_qa(text).context == (
        "The Golden Gate Bridge is a suspension bridge link.\n\nHistory\n\n"
        "Key facts:\nOpened in 1937\nPainted International Orange"
    )


def test_listed_answers_keep_every_item():
    text = f"Article: {BODY}\n\nQ: Which places does it link?\nA:\n- San Francisco\n- Marin County\n"
    text += "Q: Which places again?\nA: San Francisco, Marin County"
    assert [qa.answer for qa in parse_wiki_qa(text).qas] == ["San Francisco, Marin County"] * 2


def test_chinese_labels_with_fullwidth_colons():
    text = "维基百科文章：\n长城是中国古代的军事防御工程。1987年被列入世界文化遗产。\n\n问答对：\n问题1：它哪一年被列入世界遗产？\n答案：1987年"
    wiki = parse_wiki_qa(text)
    assert wiki.context == "长城是中国古代的军事防御工程。1987年被列入世界文化遗产。"
    assert wiki.qas == (QA("它哪一年被列入世界遗产？", "1987年"),)


def test_think_block_is_ignored():
    text = "<think>\nQ: Should I mention the image? A: no\n</think>\nQ: What colour is the car?\nA: Red"
    assert parse_qa_pairs(text) == [QA("What colour is the car?", "Red")]


def test_squashed_paragraph_of_pairs():
    text = "Q1: What colour is the car? A1: Red. Q2: How many doors? A2: Four. Q3: Is it moving? A3: No."
    assert parse_qa_pairs(text) == [
        QA("What colour is the car?", "Red."),
        QA("How many doors?", "Four."),
        QA("Is it moving?", "No."),
    ]


# --------------------------------------------------------------------------- JSON


@pytest.mark.parametrize(
    "context_key", ["article", "context", "passage", "wikipedia_article", "Wikipedia Article"]
)
@pytest.mark.parametrize("qa_key", ["qa_pairs", "qas", "questions", "qa", "question_answer_pairs"])
@pytest.mark.parametrize(("q_key", "a_key"), [("question", "answer"), ("q", "a"), ("Question", "Answer")])
def test_json_key_variants(context_key, qa_key, q_key, a_key):
    payload = {"title": "Bridge", context_key: BODY, qa_key: [{q_key: "When did it open?", a_key: "1937"}]}
    for text in (json.dumps(payload), f"```json\n{json.dumps(payload, indent=2)}\n```"):
        assert parse_wiki_qa(text) == WikiQA(BODY, (QA("When did it open?", "1937"),))


def test_json_answer_lists_are_joined():
    text = json.dumps({"context": BODY, "qas": [{"question": "Which places?", "answer": ["SF", "Marin"]}]})
    assert parse_wiki_qa(text).qas == (QA("Which places?", "SF, Marin"),)


def test_json_items_without_an_answer_key_are_dropped_but_null_answers_kept():
    items = [{"q": "When?", "a": "1937"}, {"q": "Who?", "a": None}, {"q": "Where?"}]
    assert parse_qa_pairs(json.dumps(items)) == [QA("When?", "1937"), QA("Who?", "")]


def test_json_pairs_after_a_prose_article():
    text = (
        f'**Article**\n\n{BODY}\n\n**QA pairs:**\n```json\n[{{"q": "When did it open?", "a": "1937"}}]\n```'
    )
    assert parse_wiki_qa(text) == WikiQA(BODY, (QA("When did it open?", "1937"),))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure!\n```json\n{"a": [1, 2,],}\n```\nDone.', {"a": [1, 2]}),
        ("```\n[1, 2]\n```", [1, 2]),
        ('Here you go:\n{"qas": [{"q": "x", "a": "y"}]}\nThanks', {"qas": [{"q": "x", "a": "y"}]}),
        ('```json\n{"qas": [{"q": "x", "a": "y"}, {"q": "cut', {"qas": [{"q": "x", "a": "y"}]}),
        ('[{"q": "x", "a": "y"}, {"q": "z", "a": "w"}, {"q"', [{"q": "x", "a": "y"}, {"q": "z", "a": "w"}]),
        ('{"text": "line one\nline two"}', {"text": "line one\nline two"}),
        ("No JSON here, just prose [1] and {braces}.", None),
        ("", None),
    ],
)
def test_parse_json_payload(text, expected):
    assert parse_json_payload(text) == expected


def test_wrapped_and_parallel_json_shapes():
    wrapped = {"result": {"article": BODY, "qa_pairs": [{"question": "When?", "answer": "1937"}]}}
    assert parse_wiki_qa(json.dumps(wrapped)).qas == (QA("When?", "1937"),)
    parallel = {"questions": ["When?", "Where?"], "answers": ["1937", "San Francisco"]}
    assert parse_qa_pairs(json.dumps(parallel)) == [QA("When?", "1937"), QA("Where?", "San Francisco")]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("I'm sorry, I can't help with that.", "no question-answer pairs"),
        (f"Article: {BODY}", "no question-answer pairs"),
        ("Q: When did it open?\nA: 1937", "no article"),
        ('{"qas": [{"q": "When?", "a": "1937"}]}', "no article"),
    ],
)
def test_wiki_errors(text, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_wiki_qa(text)
    assert info.value.fix
    assert pickle.loads(pickle.dumps(info.value)).what == info.value.what


def test_vqa_errors_and_non_text_input():
    with pytest.raises(ParseError, match="no question-answer pairs"):
        parse_qa_pairs("A red car parked on a quiet street.")
    with pytest.raises(ParseError, match="not text"):
        parse_qa_pairs(None)  # type: ignore[arg-type]
    assert parse_json_payload(None) is None  # type: ignore[arg-type]


def test_results_are_frozen_values():
    wiki = parse_wiki_qa(f"Article: {BODY}\n\nQ: When?\nA: 1937")
    assert wiki == WikiQA(BODY, (QA("When?", "1937"),))
    with pytest.raises(AttributeError):
        wiki.qas[0].answer = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- speed


def test_big_input_parses_in_milliseconds():
    article = " ".join(["The bridge opened in 1937 and links San Francisco to Marin County."] * 250)
    pairs = "\n".join(
        f"{i}. **Question {i}: When did part {i} open?**\n   - 19{i % 100:02d}" for i in range(1, 120)
    )
    text = f"### Wikipedia Article\n\n{article}\n\n### Question Answer Pairs\n\n{pairs}"
    assert len(text) > 20_000
    start = time.perf_counter()
    wiki = parse_wiki_qa(text)
    assert time.perf_counter() - start < 0.1
    assert len(wiki.qas) == 119


@pytest.mark.parametrize(
    "text",
    [
        "*" * 20_000,
        "_a " * 7_000,
        "[" * 20_000,
        "{" * 20_000,
        "[" * 5_000 + "](" * 5_000,
        "Q: " * 7_000,
        "Q: x? " + "A: " * 7_000,
        '{"a": "' + "x" * 20_000,
        "1. What?\n" * 2_000,
        "#" * 20_000,
        "|" * 20_000,
    ],
)
def test_pathological_input_stays_fast(text):
    start = time.perf_counter()
    for parse in (parse_qa_pairs, parse_wiki_qa):
        with contextlib.suppress(ParseError):
            parse(text)
    parse_json_payload(text)
    assert time.perf_counter() - start < 1.0


# --------------------------------------------------------------------------- label forms and Python literals


@pytest.mark.parametrize(
    "text",
    [
        "Q: What color is the bus?\nAns: Red",
        "Q: What color is the bus?\nANS. Red",
        "1. What color is the bus? Ans: Red",
        "1. What color is the bus? Ans. Red",
        "1. What color is the bus? (Answer: Red)",
        "1. What color is the bus? (Ans. Red)",
        "What color is the bus?\n(Answer: Red)",
        "Q. What color is the bus?\nA. Red",
        "Q. What color is the bus? A. Red",
        "Q) What color is the bus?\nA) Red",
        "Q - What color is the bus?\nA - Red",
        "q: What color is the bus?\na: Red",
        "QUESTION: What color is the bus?\nANSWER: Red",
        "Question. What color is the bus?\nAnswer. Red",
        "Question #1: What color is the bus?\nAnswer #1: Red",
        "Ques: What color is the bus?\nAns: Red",
        "*Question:* What color is the bus?\n*Answer:* Red",
        "__Q:__ What color is the bus?\n__A:__ Red",
        "<b>Q:</b> What color is the bus?<br><b>A:</b> Red",
        "<strong>Q1.</strong> What color is the bus?\n<strong>A1.</strong> Red",
        "- Q: What color is the bus?\n  - Ans: Red",
        "Q-1: What color is the bus?\nA-1: Red",
        "Q#1: What color is the bus?\nA#1: Red",
        "Question (1): What color is the bus?\nAnswer (1): Red",
        "[Q] What color is the bus?\n[A] Red",
        "Question - What color is the bus?\nAnswer - Red",
        "Question 1 - What color is the bus?\nAnswer 1 - Red",
        "Q: What color is the bus?\nAns - Red",
        "What color is the bus? (Ans: Red)",
        "**Q1**: What color is the bus?\n**A1**: Red",
    ],
)
def test_every_common_label_form(text):
    assert parse_qa_pairs(text) == [QA("What color is the bus?", "Red")]


@pytest.mark.parametrize(
    "line",
    [
        "As: the chemical symbol of arsenic, it appears on the label.",
        "a. the first option on the menu is soup",
        "Answers vary between guides, but most name Strauss.",
        "A. Lincoln signed the act in 1862 after long debate.",
        "Quite a few visitors cross the bridge every day, mostly on foot.",
        "Q-tips were invented in 1923, a fact few visitors to the museum know.",
        "[Answers to its riddles] have been proposed by many amateur codebreakers.",
    ],
)
def test_prose_that_resembles_a_label_stays_in_the_article(line):
    text = f"Article:\n{ARTICLE}\n{line}\n\nQuestion Answer Pairs:\nQ. When was it bought?\nA. 1912"
    wiki = parse_wiki_qa(text)
    assert wiki.qas == (QA("When was it bought?", "1912"),)
    assert line.split()[1] in wiki.context


@pytest.mark.parametrize(
    "text",
    [
        "[{'question': 'Who?', 'answer': 'Ada'}, {'question': 'When?', 'answer': None}]",
        "```python\n[{'question': 'Who?', 'answer': 'Ada'}, {'question': 'When?', 'answer': ''}]\n```",
        "```py\n{'qa_pairs': [('Who?', 'Ada'), ('When?', '')]}\n```",
        "Result:\n[('Who?', 'Ada'), ('When?', \"\")]",
    ],
)
def test_python_literal_replies(text):
    assert parse_qa_pairs(text) == [QA("Who?", "Ada"), QA("When?", "")]


@pytest.mark.parametrize(
    "text",
    [
        "[__import__('os').system('echo pwned')]",
        "[{'question': 'Who?', 'answer': open('/etc/passwd').read()}]",
        "[" * 5000 + "]" * 5000,
        "[" + "(" * 100 + "'x'" + ")" * 100 + "]",
        "[{'question': 'Who?', 'answer': 'A" + "a" * 300_000 + "'}]",
    ],
)
def test_python_literals_never_run_code_and_stay_bounded(text):
    with contextlib.suppress(ParseError):  # no pairs is fine; running code, hanging or crashing is not
        qas = parse_qa_pairs(text)
        assert all("pwned" not in qa.answer and "root:" not in qa.answer for qa in qas)
