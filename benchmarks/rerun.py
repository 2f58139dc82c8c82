"""Rerunning a finished CLI job: requests sent by the second run, and its wall time vs the first.

Runs ``scripts/build_dataset.py image-vqa --input <1,000 records> --output <folder>`` against the
mock VLM in a separate process (latency 0.2 s, ``--max-concurrency 16``), then the very same command
again (answered by the up-to-date check, ``hf_vqa/cli/jobs.py``, without importing ``datasets``), then
with ``--force`` (the full pipeline, from the Arrow cache and the request store), once more so under
cProfile to show where that time goes (imports, loading the input, the cached map steps, the summary,
writing the output). Inputs are the same photo-like 640x480 JPEG pool as ``throughput.py``.

Run:
    .venv/bin/python benchmarks/rerun.py                   # 1,000 rows, output folder
    .venv/bin/python benchmarks/rerun.py --output-kind json --rows 300
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from throughput import JITTER, LATENCY, RESULTS, ROOT, make_inputs

STAGES = {  # stage → (file suffix, function) in a cProfile dump of the CLI
    "imports of hf_vqa.cli.main": ("hf_vqa/cli/main.py", "<module>"),
    "job up-to-date check": ("hf_vqa/cli/jobs.py", "job_key"),
    "import inputs (datasets)": ("hf_vqa/inputs/load.py", "<module>"),
    "import pipeline (generate, client, openai)": ("hf_vqa/pipeline.py", "<module>"),
    "load input": ("hf_vqa/inputs/load.py", "load_input"),
    "map steps (cache hits) + summary": ("hf_vqa/pipeline.py", "run_pipeline"),
    "summary": ("hf_vqa/pipeline.py", "summarize"),
    "filters": ("hf_vqa/pipeline.py", "filter_rows"),
    "output up-to-date check": ("hf_vqa/cli/jobs.py", "holds"),
    "write output": ("hf_vqa/cli/main.py", "_write"),
    "main() total": ("hf_vqa/cli/main.py", "main"),
}


def _requests(base_url: str) -> int:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_stats", timeout=10) as resp:
        return int(json.loads(resp.read())["requests"])


def run_cli(cmd: list[str], env: dict[str, str], base_url: str) -> dict[str, Any]:
    """Run one CLI command; its wall time, summary line, requests it caused, and if it was up to date."""
    before, start = _requests(base_url), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"CLI failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = proc.stdout.strip().splitlines()[-1]
    return {"seconds": round(wall, 2), "requests": _requests(base_url) - before, "summary": summary,
            "up_to_date": proc.stdout.startswith("up to date:")}  # fmt: skip


def profile_stages(path: str) -> dict[str, float]:
    """Cumulative seconds of each stage in a cProfile dump of the CLI."""
    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    found = {}
    for stage, (suffix, name) in STAGES.items():
        found[stage] = round(
            sum(v[3] for (file, _line, func), v in stats.items() if func == name and file.endswith(suffix)), 2
        )
    return found


def import_seconds(env: dict[str, str], cwd: Path, module: str = "hf_vqa.cli.main") -> float:
    """Best-of-3 wall time of ``python -c 'import <module>'`` (interpreter start-up + imports).

    Run from `cwd` (not the repo root), so it imports the same `hf_vqa` as the CLI (e.g. $PYTHONPATH).
    """
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True, cwd=cwd)
        best = min(best, time.perf_counter() - start)
    return round(best, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--max-concurrency", type=int, default=16)
    parser.add_argument("--output-kind", choices=["folder", "json"], default="folder")
    parser.add_argument("--out", default=str(RESULTS / "rerun.json"))
    args = parser.parse_args(argv)
    from hf_vqa.mock.server import start_subprocess

    work = Path(tempfile.mkdtemp(prefix="hf_vqa_rerun_"))
    try:
        records = make_inputs(work, [args.rows])["records"][args.rows]
        output = work / ("out.json" if args.output_kind == "json" else "out")
        env = {**os.environ, "HF_DATASETS_CACHE": str(work / "hfds"), "HF_VQA_CACHE": str(work / "store")}
        env.pop("OPENAI_BASE_URL", None)
        server, base_url = start_subprocess(latency=LATENCY, jitter=JITTER)
        try:
            cli = [str(ROOT / "scripts" / "build_dataset.py"), "image-vqa", "--input", records, "--output",
                   str(output), "--base-url", base_url, "--api-key-env", "", "--max-concurrency",
                   str(args.max_concurrency), "--cache-dir", str(work / "store")]  # fmt: skip
            first = run_cli([sys.executable, *cli], env, base_url)
            print(f"first run:  {first}", flush=True)
            second = run_cli([sys.executable, *cli], env, base_url)
            print(f"second run: {second}", flush=True)
            forced = run_cli([sys.executable, *cli, "--force"], env, base_url)
            print(f"--force:    {forced}", flush=True)
            prof = str(work / "rerun.prof")
            third = run_cli([sys.executable, "-m", "cProfile", "-o", prof, *cli, "--force"], env, base_url)
            stages = profile_stages(prof)
        finally:
            server.terminate()
            server.wait(timeout=30)
        startup = import_seconds(env, work)
        startup_datasets = import_seconds(env, work, "hf_vqa.pipeline")
        out_mb = sum(p.stat().st_size for p in output.rglob("*") if p.is_file()) if output.is_dir() else 0
        out_mb = (out_mb or output.stat().st_size) / 2**20
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "rows": args.rows,
        "max_concurrency": args.max_concurrency,
        "latency": LATENCY,
        "output_kind": args.output_kind,
        "output_mb": round(out_mb, 1),
        "first": first,
        "second": second,
        "second_vs_first": round(second["seconds"] / first["seconds"], 3),
        "forced": forced,
        "forced_vs_first": round(forced["seconds"] / first["seconds"], 3),
        "profiled_forced_rerun": {
            "seconds": third["seconds"],
            "requests": third["requests"],
            "stages_seconds": stages,
        },
        "python_startup_and_imports_seconds": startup,
        "python_startup_and_pipeline_imports_seconds": startup_datasets,
        "command": " ".join(["benchmarks/rerun.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
