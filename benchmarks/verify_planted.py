"""Does the judge catch wrong answers? Plant them and count (the closing-note figures of issue 20).

For each pipeline: make N small images (random colour and size), run `<pipeline> --mock` on them, move
the answers of 30% of the rows to other rows (`hf_vqa.mock.plant`), write that as an output folder, run
`verify --mock` on it, and compare the verdicts with what was planted: precision and recall of rejecting
a wrong pair.

Run:
    .venv/bin/python benchmarks/verify_planted.py            # N = 120, both pipelines
    .venv/bin/python benchmarks/verify_planted.py -n 300 --pipeline context-vqa
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRIPT = ROOT / "scripts" / "build_dataset.py"


def make_images(folder: Path, n: int, seed: int = 0) -> None:
    """`n` PNGs of random solid colours and sizes (some wider than tall, some not)."""
    from PIL import Image

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        size = rng.choice([(64, 48), (48, 64), (80, 80), (96, 40), (40, 96)])
        color = tuple(rng.randrange(256) for _ in range(3))
        Image.new("RGB", size, color).save(folder / f"img{i:04d}.png")


def cli(*args: str, env: dict) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=1800
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:1])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def run(pipeline: str, n: int, share: float, work: Path, env: dict) -> dict:
    from hf_vqa.mock.plant import plant_wrong_answers, score_rejections
    from hf_vqa.publish.folder import save_folder
    from hf_vqa.publish.read_folder import read_output_folder

    images, made, planted, verified = (
        work / f"{pipeline}-{x}" for x in ("images", "made", "planted", "verified")
    )
    make_images(images, n)
    cli(pipeline, "--input", str(images), "--output", str(made), "--mock", env=env)
    ds, wrong = plant_wrong_answers(read_output_folder(made), share, seed=1)
    save_folder(ds, planted, card=(made / "README.md").read_text())
    line = (
        cli("verify", "--input", str(planted), "--output", str(verified), "--mock", env=env)
        .strip()
        .splitlines()[-1]
    )
    score = score_rejections(read_output_folder(verified)["qa_verdicts"], wrong)
    return {"pipeline": pipeline, "rows": n, "planted_rows": round(share * n), "summary": line, **score}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=120)
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--pipeline", choices=["image-vqa", "context-vqa", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "HF_VQA_CACHE": str(work / "store"), "HF_DATASETS_CACHE": str(work / "hfds")}
        env.pop("OPENAI_BASE_URL", None)
        names = ["image-vqa", "context-vqa"] if args.pipeline == "both" else [args.pipeline]
        for name in names:
            print(json.dumps(run(name, args.n, args.share, work, env)), flush=True)


if __name__ == "__main__":
    main()
