"""Rebuild `examples/labels/planted/`: the bundled sample through `image-vqa --mock`, with wrong answers planted.

Run from the repo root: `python examples/labels/make_planted.py`. The mock is deterministic, so the folder
(and the row/pair indices `labels.jsonl` refers to) comes out the same every time. Planted:

- row 0, pair 0: row 1's size-and-colour answer (another image's);
- row 2, pair 1: "no" to "Is image 1 wider than it is tall?" (the image is 640x480);
- row 3, pair 2: a made-up prompt reference (nothing in the image can show it is wrong);
- row 4, pair 0: row 5's size-and-colour answer.

`labels.jsonl` holds a person's verdict on every pair of the folder: `{"row", "pair", "correct"}`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PLANTS = [(0, 0, ("row", 1, 0)), (2, 1, "no"), (3, 2, "prompt-00000000"), (4, 0, ("row", 5, 0))]


def build(target: Path = HERE / "planted") -> Path:
    """Generate with the mock, plant, write `target` (an output folder with its card)."""
    sys.path.insert(0, str(ROOT))
    import datasets

    from hf_vqa.publish.folder import save_folder
    from hf_vqa.publish.report import read_output_folder

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HF_VQA_CACHE": f"{tmp}/store", "HF_DATASETS_CACHE": f"{tmp}/hfds"}
        env.pop("OPENAI_BASE_URL", None)
        made = Path(tmp) / "made"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "image-vqa", "--input",
                        str(ROOT / "examples" / "sample" / "records.json"), "--output", str(made), "--mock"],
                       check=True, capture_output=True, env=env, timeout=600)  # fmt: skip
        ds = read_output_folder(made)
        rows = ds.to_list()
        originals = [[p["answer"] for p in row["qas"]] for row in rows]
        for row, pair, answer in PLANTS:
            rows[row]["qas"][pair]["answer"] = (
                originals[answer[1]][answer[2]] if isinstance(answer, tuple) else answer
            )
        save_folder(datasets.Dataset.from_list(rows, features=ds.features), target,
                    card=(made / "README.md").read_text(encoding="utf-8"))  # fmt: skip
    return target


if __name__ == "__main__":
    print(build())
