"""The grounded check on the table of tricky pairs in tests/test_grounding.py: expected vs got, with the reason.

Run:  .venv/bin/python benchmarks/grounding_pairs.py  (prints a Markdown table; exit 1 if any row differs)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hf_vqa.quality.grounding import ground

TESTS = Path(__file__).resolve().parent.parent / "tests" / "test_grounding.py"


def load_pairs() -> list[tuple[str, str, str, str]]:
    """The PAIRS (English) and LANG_PAIRS tables of the test file as (answer, article, language, expected
    reason; "" = not grounded)."""
    spec = importlib.util.spec_from_file_location("test_grounding", TESTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(a, c, "en", e) for a, c, e in module.PAIRS] + list(getattr(module, "LANG_PAIRS", []))


def _ground(answer: str, article: str, language: str):
    try:
        return ground(answer, article, language)
    except TypeError:  # a version of ground() without languages
        return ground(answer, article)


def main() -> int:
    wrong = must_fail = wrongly_grounded = 0
    pairs = load_pairs()
    print("| answer | article | lang | expected | got |\n|---|---|---|---|---|")
    for answer, article, language, expected in pairs:
        got = _ground(answer, article, language)
        ok = got.reason == expected and got.grounded == bool(expected)
        wrong += not ok
        must_fail += not expected
        wrongly_grounded += got.grounded and not expected
        mark = "" if ok else " **(differs)**"
        print(f"| {answer} | {article} | {language} | {expected or 'not grounded'} | "
              f"{got.reason or 'not grounded'}{mark} |")  # fmt: skip
    print(f"\n{wrong} of {len(pairs)} differ; {wrongly_grounded} of {must_fail} must-fail pairs grounded")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
