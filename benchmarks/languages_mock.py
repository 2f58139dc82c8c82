"""Per language and pipeline, a run against the bundled mock VLM: prompts sent, pairs parsed, pairs grounded;
and, per mock provider profile, what `--structured` and `--repair-parse` cost (requests and tokens).

Run:  .venv/bin/python benchmarks/languages_mock.py  (two Markdown tables; about a minute)
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import datasets

from hf_vqa.config import VLM
from hf_vqa.inputs.load import load_input
from hf_vqa.languages import LANGUAGE_PROMPTS
from hf_vqa.mock.profiles import PROFILES
from hf_vqa.mock.server import MockVLM
from hf_vqa.pipeline import run_pipeline

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample" / "images"


def _pairs(ds: datasets.Dataset, refined: str) -> int:
    rows = ds[refined]
    return sum(len((r or {}).get("qas") or [] if isinstance(r, dict) else r or []) for r in rows)


def languages_table(ds: datasets.Dataset) -> None:
    print("| language | pipeline | prompts sent | rows parsed | pairs parsed | pairs grounded |")
    print("|---|---|---|---|---|---|")
    for code in LANGUAGE_PROMPTS:
        for pipeline, refined in (("image-vqa", "qas"), ("context-vqa", "context_vqa")):
            with MockVLM() as mock, tempfile.TemporaryDirectory() as cache:
                vlm = VLM(model="mock-vlm", base_url=mock.base_url, api_key_env="", cache_dir=cache)
                out, summary = run_pipeline(ds, pipeline, vlm=vlm, language=code)
                sent = mock.stats()["requests"]
            grounded = "-"
            if pipeline == "context-vqa":
                grounded = str(
                    sum(sum(c["grounded"] for c in checks) for checks in out["qa_checks"] if checks)
                )
            parsed = summary.rows - summary.failed - summary.parse_failed
            print(
                f"| {code} | {pipeline} | {sent} | {parsed}/{summary.rows} | {_pairs(out, refined)} | {grounded} |"
            )


def profiles_table(ds: datasets.Dataset) -> None:
    print(
        "\n| profile | pipeline | flags | requests | rows parsed | repaired | prompt tokens | completion tokens "
        "| adapted |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for profile in PROFILES:
        for pipeline in ("image-vqa", "context-vqa"):
            for flags in ("", "--structured", "--repair-parse (prose_rate=0.5)"):
                prose = 0.5 if "repair" in flags else 0.0
                with (
                    MockVLM(profile=profile, prose_rate=prose) as mock,
                    tempfile.TemporaryDirectory() as cache,
                ):
                    vlm = VLM(model="mock-vlm", base_url=mock.base_url, api_key_env="", cache_dir=cache,
                              structured=flags == "--structured", max_retries=2)  # fmt: skip
                    _, s = run_pipeline(ds, pipeline, vlm=vlm, repair_parse=bool(prose))
                    sent = mock.stats()["requests"]
                parsed = s.rows - s.failed - s.parse_failed
                print(f"| {profile} | {pipeline} | {flags or '(none)'} | {sent} | {parsed}/{s.rows} | "
                      f"{s.repaired}/{s.repair_requests} | {s.prompt_tokens} | {s.completion_tokens} | "
                      f"{s.adapted or '-'} |")  # fmt: skip


def main() -> int:
    datasets.disable_progress_bars()
    logging.getLogger("hf_vqa").setLevel(logging.ERROR)
    ds = load_input(str(SAMPLE))
    languages_table(ds)
    profiles_table(ds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
