"""The grounded check on the table of tricky pairs in tests/test_grounding.py: expected vs got, with the reason.

Run:  .venv/bin/python benchmarks/grounding_pairs.py  (prints a Markdown table; exit 1 if any row differs)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hf_vqa.quality.grounding import ground

TESTS = Path(__file__).resolve().parent.parent / "tests" / "test_grounding.py"


def load_pairs() -> list[tuple[str, str, str]]:
    """The PAIRS table of the test file (answer, article, expected reason; "" = not grounded)."""
    spec = importlib.util.spec_from_file_location("test_grounding", TESTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PAIRS


def main() -> int:
    wrong = 0
    print("| answer | article | expected | got |\n|---|---|---|---|")
    for answer, article, expected in load_pairs():
        got = ground(answer, article)
        ok = got.reason == expected and got.grounded == bool(expected)
        wrong += not ok
        mark = "" if ok else " **(differs)**"
        print(
            f"| {answer} | {article} | {expected or 'not grounded'} | {got.reason or 'not grounded'}{mark} |"
        )
    print(f"\n{wrong} of {len(load_pairs())} differ")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
