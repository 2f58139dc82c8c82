"""Where a profiled run's CPU went: py-spy raw stacks (``py-spy record --format raw``) by stage.

Each sample is put in the first stage (in the order below) whose marker appears in its stack, so a
sample inside ``prepare_image`` called from the lookahead thread counts as image work, not hand-off.

Run:
    py-spy record --rate 200 --threads --subprocesses --format raw -o /tmp/spy.txt -- \\
        .venv/bin/python scripts/build_dataset.py image-vqa --input ... --output ... --base-url ...
    .venv/bin/python benchmarks/profile_summary.py /tmp/spy.txt [--top 25]
"""

from __future__ import annotations

import argparse
import collections
import sys

STAGES = [
    ("start-up imports", ("_find_and_load",)),
    ("image read+hash+base64", ("images/prepare.py", "images/fetch.py", "images/convert.py")),
    ("request building", ("messages.py", "row_request", "_submit_row")),
    ("store writes", ("engine/store.py",)),
    ("reply judging (JSON, usage)", ("engine/replies.py", "engine/sse.py")),
    ("HTTP (aiohttp, transport)", ("aiohttp/", "engine/transport.py")),
    ("engine (limiter, guard, tasks)", ("engine/client.py", "engine/concurrency.py", "engine/guard.py")),
    (
        "refine/parse",
        ("hf_vqa/refine.py", "hf_vqa/parse/", "checks.py", "grounding.py", "canonical.py"),
    ),
    ("card", ("publish/card.py", "huggingface_hub/repocard")),
    ("output writing", ("publish/folder.py", "publish/atomic.py", "to_parquet", "parquet")),
    ("summary/diversity/report", ("summarize", "diversity", "cli/report.py")),
    ("Arrow map (datasets)", ("arrow_dataset.py", "arrow_writer.py", "datasets/")),
    ("input loading", ("inputs/",)),
    ("lookahead thread", ("lookahead.py",)),
    ("event loop", ("asyncio/",)),
    ("thread hand-offs", ("threading.py", "concurrent/futures")),
]


def summarize(path: str, top: int) -> str:
    stages: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        stage = next((name for name, marks in STAGES if any(m in stack for m in marks)), "other")
        stages[stage] += n
        leaves[frames[-1]] += n
    out = [f"{path}: {total} samples (active CPU only)", "", "| stage | share |", "|---|---|"]
    out += [f"| {name} | {100 * n / total:.1f}% |" for name, n in stages.most_common()]
    out += ["", "| leaf function (self) | share |", "|---|---|"]
    out += [f"| `{name}` | {100 * n / total:.1f}% |" for name, n in leaves.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    print(summarize(args.path, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
