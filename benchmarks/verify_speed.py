"""Throughput of the verify pass (`verify_pairs`) against the loopback mock in a separate process.

N rows of one small distinct PNG and three pairs each go through `ds.map(verify_pairs, batched=True,
batch_size=max(64, 8c))` at concurrency c against `start_subprocess(latency=L)`; then, side by side in the
same moment, the generation step (`prompted_vqa`) over the same rows, as the reference the engine is known to
reach. Reported: rows/s and its share of the ideal c/L, for both.

Run:
    .venv/bin/python benchmarks/verify_speed.py                 # c = 64, N = 2000, L = 0.2 s
    .venv/bin/python benchmarks/verify_speed.py -c 16 -n 500
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rows(n: int) -> list[dict]:
    from PIL import Image

    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (64 + i % 7, 48), (i % 256, (i // 256) % 256, 77)).save(buf, "PNG")
        qas = [{"question": "What are the dimensions and colour of image 1?", "answer": f"row {i}"},
               {"question": "Is image 1 wider than it is tall?", "answer": "yes"},
               {"question": "Which prompt was I given?", "answer": f"prompt-{i:08x}"}]  # fmt: skip
        out.append({"image": [{"bytes": buf.getvalue(), "path": None}], "qas": qas,
                    "conversation": [{"from": "human", "value": f"<image> Describe image {i}."}]})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", type=int, default=64)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    import datasets

    from hf_vqa.config import VLM
    from hf_vqa.generate import prompted_vqa
    from hf_vqa.mock.server import start_subprocess
    from hf_vqa.quality.verify import judge_vlm, verify_pairs
    from hf_vqa.runner.lookahead import source_for
    from hf_vqa.schema import features_after

    datasets.disable_progress_bars()
    features = datasets.Features({"image": datasets.List(datasets.Image(decode=False)),
                                  "qas": datasets.List({"question": datasets.Value("string"), "answer": datasets.Value("string")}),
                                  "conversation": datasets.List({"from": datasets.Value("string"), "value": datasets.Value("string")})})  # fmt: skip
    proc, url = start_subprocess(latency=args.latency)
    ideal = args.c / args.latency
    try:
        with tempfile.TemporaryDirectory() as tmp:
            datasets.Dataset.from_list(rows(args.n), features=features).save_to_disk(f"{tmp}/in")
            ds = datasets.load_from_disk(f"{tmp}/in")  # one Arrow file: the lookahead can read ahead
            vlm = VLM(model="mock", base_url=url, api_key_env="", max_concurrency=args.c, cache_dir=tmp)
            kw = {"batched": True, "batch_size": max(64, 8 * args.c), "load_from_cache_file": False,
                  "with_indices": True, "with_rank": True}  # fmt: skip
            ahead = source_for(ds, None)
            results = {}
            for name, step, fn_kwargs in (("verify_pairs", verify_pairs, {"judge": judge_vlm(vlm), "lookahead": ahead}),
                                          ("prompted_vqa", prompted_vqa, {"vlm": vlm, "lookahead": ahead})):  # fmt: skip
                start = time.monotonic()
                out = ds.map(step, **kw, fn_kwargs=fn_kwargs, features=features_after(ds, step))
                seconds = time.monotonic() - start
                column = "qa_verdicts_error" if step is verify_pairs else "vqa_error"
                failed = sum(e is not None for e in out[column])
                results[name] = {"rows": args.n, "seconds": round(seconds, 2), "rows_per_s": round(args.n / seconds, 1),
                                 "share_of_c_over_L": round(args.n / seconds / ideal, 3), "failed": failed}  # fmt: skip
            print(
                json.dumps(
                    {"c": args.c, "latency": args.latency, "ideal_rows_per_s": ideal, **results}, indent=1
                )
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
