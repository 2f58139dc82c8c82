"""Judge-human agreement through the whole review round trip, on data with planted wrong answers.

Moves the answers of `--share` of the rows to other rows (`hf_vqa.mock.plant`), runs the verify pass with the
mock judge, sends a sample to Label Studio, lets a scripted person mark exactly the planted wrong pairs incorrect
(through the API the editor uses), imports the verdicts and prints the agreement line the card shows.

    LABEL_STUDIO_API_KEY=... python benchmarks/review_agreement.py --input out/ --url http://127.0.0.1:8080

The person is perfect here, so the agreement measures the judge against the planted truth, end to end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from review_roundtrip import cli  # noqa: E402

from hf_vqa.mock.plant import plant_wrong_answers  # noqa: E402
from hf_vqa.publish.folder import save_folder  # noqa: E402
from hf_vqa.publish.read_folder import read_output_folder  # noqa: E402
from hf_vqa.review.labelstudio import LabelStudio  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="an output folder (context-vqa or image-vqa)")
    p.add_argument("--url", required=True)
    p.add_argument("--project", default="planted answers, judge vs people")
    p.add_argument("--share", type=float, default=0.3)
    p.add_argument("--sample", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="review-agreement-"))
    # the sample's seed differs from the planting's: Random(s).sample and Random(s).shuffle pick related rows
    planted, wrong = plant_wrong_answers(read_output_folder(args.input), args.share, seed=args.seed)
    save_folder(planted, work / "planted")
    verify_line, verify_s = cli(
        "verify", "--input", work / "planted", "--output", work / "verified", "--mock"
    )
    export_line, export_s = cli("review", "export", "--input", work / "verified", "--to", "label-studio", "--url",
                                args.url, "--project", args.project, "--sample", args.sample, "--seed", args.seed + 1)  # fmt: skip
    ls = LabelStudio(args.url)
    tasks = ls.export_tasks(ls.find_project(args.project)["id"])
    marked = 0
    for task in tasks:
        row, result = task["data"]["row"], []
        for k in range(len(task["data"]["pairs"])):
            bad = wrong[row][k]
            marked += bad
            result.append({"from_name": f"pair_{k}", "to_name": f"pair_text_{k}", "type": "choices",
                           "origin": "manual", "value": {"choices": ["incorrect" if bad else "correct"]}})  # fmt: skip
        ls.call("POST", f"/api/tasks/{task['id']}/annotations/", {"result": result})
    import_line, import_s = cli("review", "import", "--input", work / "verified", "--from", "label-studio", "--url",
                                args.url, "--project", args.project, "--output", work / "reviewed")  # fmt: skip
    card = (work / "reviewed" / "README.md").read_text()
    shown = [line for line in card.splitlines() if "judge vs people" in line]
    out = {"planted_wrong_pairs": sum(map(sum, wrong)), "people_marked_incorrect": marked, "verify": verify_line,
           "export": export_line, "import": import_line.replace(str(work), "WORK"), "card": shown,
           "seconds": {"verify": verify_s, "export": export_s, "import": import_s}}  # fmt: skip
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
