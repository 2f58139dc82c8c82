"""Per-layout parse accuracy over the hand-written corpora: tests/data/parse_corpus/ (the old cases) and
tests/data/parse_corpus_new/ (cases written for issue 21 in the styles of 16 model families and 17
languages; counted separately, by set, by language and by layout kind). The new corpus's `h*` cases
were written after the parser changes and run once before any further fix (14 of 15 passed then).

Each case is a pair `<id>.txt` (the raw model output) + `<id>.json` (layout, pipeline, finish_reason,
expected `qas` and context expectations, or `expect_error`: a substring of the ParseError). A case counts as "pairs ok" when the parsed pairs equal the
expected ones exactly (same order, same text), and "context ok" when the context meets every
expectation (`context` exact, `context_startswith`, `context_contains`, `context_not_contains`).

Run:  .venv/bin/python benchmarks/parse_accuracy.py [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from hf_vqa.errors import ParseError
from hf_vqa.parse.reply import parse_qa_pairs, parse_wiki_qa

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "parse_corpus"
NEW_CORPUS = CORPUS.with_name("parse_corpus_new")


def load_corpus(root: Path = CORPUS) -> list[dict]:
    """All cases, sorted by id, each with its raw `text` attached."""
    cases = []
    for meta_path in sorted(root.glob("*.json")):
        case = json.loads(meta_path.read_text(encoding="utf-8"))
        case["text"] = meta_path.with_suffix(".txt").read_text(encoding="utf-8")
        cases.append(case)
    return cases


def context_problems(case: dict, context: str) -> list[str]:
    """Every way `context` misses the case's expectations (empty when it meets them all)."""
    problems = []
    if "context" in case and context != case["context"]:
        problems.append("context differs")
    if "context_startswith" in case and not context.startswith(case["context_startswith"]):
        problems.append(f"context starts with {context[:60]!r}")
    problems += [f"missing {s!r}" for s in case.get("context_contains", []) if s not in context]
    problems += [f"contains {s!r}" for s in case.get("context_not_contains", []) if s in context]
    return problems


def run_case(case: dict) -> tuple[bool, bool, str]:
    """(pairs_ok, context_ok, detail) for one case."""
    truncated = case["finish_reason"] == "length"
    if case.get("expect_error"):
        try:
            parse = parse_qa_pairs if case["pipeline"] == "vqa" else parse_wiki_qa
            parse(case["text"], truncated=truncated)
        except ParseError as err:
            ok = case["expect_error"] in str(err)
            return ok, ok, "" if ok else f"wrong error: {err}"
        return False, False, "parsed, but a ParseError was expected"
    expected = [(qa["question"], qa["answer"]) for qa in case["qas"]]
    try:
        if case["pipeline"] == "vqa":
            got, problems = parse_qa_pairs(case["text"], truncated=truncated), []
        else:
            wiki = parse_wiki_qa(case["text"], truncated=truncated)
            got, problems = list(wiki.qas), context_problems(case, wiki.context)
    except ParseError as err:
        return False, False, f"ParseError: {err}"
    pairs = [(qa.question, qa.answer) for qa in got]
    detail = "; ".join(problems)
    if pairs != expected:
        wrong = [f"#{i}: {g!r} != {e!r}" for i, (g, e) in enumerate(zip(pairs, expected)) if g != e]
        detail += f" pairs: got {len(pairs)}, want {len(expected)}; " + "; ".join(wrong[:3])
    return pairs == expected, not problems, detail.strip("; ")


def _table(cases: list[dict], group: str, failures: list) -> None:
    """Print one table of `cases` grouped by the case field `group`, with totals."""
    # group -> [cases, pairs ok, ContextVQA cases, context ok]
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for case in cases:
        pairs_ok, context_ok, detail = run_case(case)
        for key in (case.get(group, "?"), "TOTAL", f"TOTAL {case['pipeline']}"):
            row = rows[key]
            row[0] += 1
            row[1] += pairs_ok
            if case["pipeline"] == "context_vqa":
                row[2] += 1
                row[3] += context_ok
        if not (pairs_ok and context_ok):
            note = " (known ambiguous, xfail in tests)" if case.get("xfail") else ""
            failures.append((case["id"] + note, detail))
    width = max(len(k) for k in rows) + 2
    print(f"{group:<{width}}{'cases':>6}{'pairs ok':>10}{'context ok':>12}")
    keys = [k for k in ("TOTAL vqa", "TOTAL context_vqa", "TOTAL") if k in rows]
    for key in [*sorted(k for k in rows if not k.startswith("TOTAL")), *keys]:
        n, p, nc, c = rows[key]
        ctx = f"{c}/{nc}" if nc else "-"
        print(f"{key:<{width}}{n:>6}{f'{p}/{n}':>10}{ctx:>12}")
    n, p, nc, c = rows["TOTAL"]
    print(f"pairs exact: {p / n:.1%}  context ok: {c / max(nc, 1):.1%} of ContextVQA\n")


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--verbose", action="store_true", help="print every failing case with details")
    opts = args.parse_args(argv)
    start = time.perf_counter()
    failures: list[tuple[str, str]] = []
    print("## old corpus (tests/data/parse_corpus), by layout")
    _table(load_corpus(), "layout", failures)
    new = load_corpus(NEW_CORPUS)
    for case in new:  # h*: written after the parser changes, run once before any fix (see the closing note)
        case["set"] = "held-out (h*)" if case.get("heldout") else "written with the fixes (n*)"
    print("## new corpus, by set")
    _table(new, "set", [])
    print("## new corpus (tests/data/parse_corpus_new), by language")
    _table(new, "language", [])
    print("## new corpus, by layout kind")
    _table(new, "layout", failures)
    print(f"({(time.perf_counter() - start) * 1000:.0f} ms)")
    for case_id, detail in failures:
        print(f"FAIL {case_id}" + (f": {detail}" if opts.verbose else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
