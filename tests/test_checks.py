"""Quality checks on parsed ContextVQA records: grounding, duplicate questions, context leaks."""

from __future__ import annotations

import pytest

from hf_vqa.parse.reply import QA, WikiQA
from hf_vqa.quality.checks import (
    QAChecks,
    check_wiki_qa,
    duplicate_questions,
    is_grounded,
    leaks_context,
    normalize,
)

CONTEXT = (
    "The Golden Gate Bridge links San Francisco to Marin County. Designed by Joseph Strauss, it opened "
    "on May 27, 1937, with a main span of 4,200 feet. Its colour, International Orange, was chosen by "
    "the architect Irving Morrow; the towers are Art Deco."
)
CJK_CONTEXT = "成都大熊猫繁育研究基地建立于1987年。基地还饲养小熊猫、黑颈鹤等珍稀动物，每年吸引大量游客。"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello,   World!", "hello world"),
        ("  “International”\tOrange… ", "international orange"),
        ("ÉCOLE Straße", "école strasse"),
        ("Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３", "full width abc123"),
        ("长城，1987年。", "长城 1987年"),
        ("", ""),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "answer",
    [
        "Joseph Strauss",
        "joseph STRAUSS",
        "  Joseph   Strauss. ",
        "International-Orange",
        '"Art Deco"',
        "May 27, 1937",
        "4,200 feet",
        "San Francisco, Marin County",
        "Marin County; San Francisco",
        "San Francisco and Marin County",
        "The main span",  # leading article missing from the context is tolerated
    ],
)
def test_grounded_answers(answer):
    assert is_grounded(answer, CONTEXT)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   ",
        "...",
        "Oakland",
        "San Francisco, Oakland",  # one item missing: the whole list is not grounded
        "Strauss, Morrow, Moisseiff",
        "Golden Gat",  # partial words are not matches
        "Gate Bridge Authority",  # an added word is not forgiven
        "Straus",
    ],
)
def test_ungrounded_answers(answer):
    assert not is_grounded(answer, CONTEXT)


def test_grounding_needs_word_boundaries_only_for_latin_script():
    assert is_grounded("Art", CONTEXT)
    assert not is_grounded("art", "A start was made.")
    assert is_grounded("1987", CJK_CONTEXT)  # digits glued to CJK text still count
    assert not is_grounded("anything", "")


@pytest.mark.parametrize(
    ("answer", "grounded"),
    [
        ("1987年", True),
        ("小熊猫、黑颈鹤", True),
        ("小熊猫，黑颈鹤", True),
        ("黑颈鹤、 小熊猫", True),
        ("小熊猫、金丝猴", False),
        ("金丝猴", False),
    ],
)
def test_grounding_in_chinese(answer, grounded):
    assert is_grounded(answer, CJK_CONTEXT) is grounded


def test_duplicate_questions():
    qas = [
        QA("Who designed it?", "Strauss"),
        QA("When did it open?", "1937"),
        QA("who designed it", "Joseph Strauss"),
        QA("When did it open ?", "May 1937"),
        QA("Who designed it?", "Strauss"),
    ]
    assert duplicate_questions(qas) == [2, 3, 4]
    assert duplicate_questions([{"question": "A?"}, {"question": "a"}, "B?"]) == [1]
    assert duplicate_questions(["这座桥是谁设计的？", "这座桥是谁设计的"]) == [1]
    assert duplicate_questions([]) == []


def test_leaks_counts_consecutive_words():
    eight = "Was it designed by Joseph Strauss, it opened on May?"  # "designed by joseph strauss it opened on may"
    seven = "Was it designed by Joseph Strauss, it opened?"
    assert leaks_context(eight, CONTEXT)
    assert not leaks_context(seven, CONTEXT)
    assert leaks_context(seven, CONTEXT, min_words=6)
    assert not leaks_context("Who designed this structure?", CONTEXT)


def test_leaks_in_chinese_counts_characters():
    fifteen = "成都大熊猫繁育研究基地建立于1987年"[:15]
    assert leaks_context(f"{fifteen}吗？", CJK_CONTEXT)
    assert not leaks_context(f"{fifteen[:14]}吗？", CJK_CONTEXT)
    assert leaks_context(f"{fifteen[:14]}吗？", CJK_CONTEXT, min_chars=14)


def test_check_wiki_qa():
    wiki = WikiQA(
        CONTEXT,
        (
            QA("Who designed this structure?", "Joseph Strauss"),
            QA("Which places does it connect?", "San Francisco, Oakland"),
            QA("Who designed this structure", "Strauss"),
            QA(
                "What was chosen by the architect Irving Morrow; the towers are Art Deco?",
                "International Orange",
            ),
            QA("What is the name of its largest storm?", ""),
        ),
    )
    checks = check_wiki_qa(wiki)
    assert checks == QAChecks(
        grounded=[True, False, True, True, False],
        duplicates=[2],
        leaks=[False, False, False, True, False],
        empty=[4],
        reasons=["exact", "", "exact", "exact", ""],
    )
    assert not checks.all_grounded and checks.has_duplicates and checks.has_leak and checks.has_empty
    assert not checks.ok


def test_clean_record_passes():
    wiki = WikiQA(CONTEXT, (QA("Who designed this?", "Joseph Strauss"), QA("When did it open?", "1937")))
    checks = check_wiki_qa(wiki)
    assert checks.all_grounded and not checks.has_duplicates and not checks.has_leak and not checks.has_empty
    assert checks.ok
