"""The review round trip's pure parts: labeling config, tasks, sample, majority vote, offline JSON files,
`qa_human`, `--filter human-approved`, `--apply-fixes`, the card section, the client's guards.

The real Label Studio server is exercised in tests/test_review_labelstudio.py (slow)."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import datasets
import pytest
from PIL import Image

from hf_vqa.parse.reply import QA, WikiQA
from hf_vqa.publish.card_review import with_human_review
from hf_vqa.publish.folder import save_folder
from hf_vqa.publish.read_folder import read_output_folder
from hf_vqa.quality.checks import check_columns, check_wiki_qa
from hf_vqa.review.export import build_task, check_where, labeling_config, row_id, sample_rows
from hf_vqa.review.files import read_tasks_file
from hf_vqa.review.human import combine, human_column, pair_answers
from hf_vqa.review.labelstudio import LabelStudio, LabelStudioError
from hf_vqa.review.run import export_review, import_review

ROOT = Path(__file__).resolve().parents[1]


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(buf, "PNG")
    return buf.getvalue()


def make_output(folder: Path, rows: int = 8, pairs: int = 3) -> Path:
    """A context-vqa output folder like a run writes (images embedded, checks), row 2 failed."""
    records = []
    for i in range(rows):
        article = f"Item {i} is a red ball made in 19{10 + i}. It sits in Oslo."
        qas = [{"question": f"Q{k} of row {i}?", "answer": ["red", f"19{10 + i}", "Oslo", "blue"][k % 4]}
               for k in range(pairs)]  # fmt: skip
        failed = i == 2
        checks = check_columns(
            None if failed else check_wiki_qa(WikiQA(article, tuple(QA(**q) for q in qas)))
        )
        records.append({"image": [{"bytes": _png((i * 20, 10, 200)), "path": None}],
                        "context_vqa": None if failed else {"context": article, "qas": qas},
                        "vqa_error": "HTTP 500" if failed else None, **checks})  # fmt: skip
    features = datasets.Features({
        "image": datasets.List(datasets.Image()), "vqa_error": datasets.Value("string"),
        "context_vqa": {"context": datasets.Value("string"),
                        "qas": datasets.List({"question": datasets.Value("string"), "answer": datasets.Value("string")})},
        "qa_checks": datasets.List({"grounded": datasets.Value("bool"), "duplicate": datasets.Value("bool"),
                                    "leak": datasets.Value("bool"), "grounded_by": datasets.Value("string")}),
        "all_grounded": datasets.Value("bool"), "has_duplicate": datasets.Value("bool"),
        "has_leak": datasets.Value("bool")})  # fmt: skip
    ds = datasets.Dataset.from_list(records, features=features)
    save_folder(ds, folder, card="---\nlicense: other\n---\n# my card\n\nmy own text\n")
    return folder


def annotate(
    tasks: list[dict], verdicts: dict[tuple[int, int], tuple[str, str | None]], people: int = 1
) -> list:
    """Label Studio's JSON export of `tasks` with annotations: {(row, pair): (choice, fix)}."""
    out = []
    for n, task in enumerate(tasks):
        row = task["data"]["row"]
        result = []
        for (r, k), (choice, fix) in verdicts.items():
            if r != row:
                continue
            result.append({"from_name": f"pair_{k}", "to_name": f"pair_text_{k}", "type": "choices",
                           "value": {"choices": [choice]}})  # fmt: skip
            if fix:
                result.append({"from_name": f"fix_{k}", "to_name": f"pair_text_{k}", "type": "textarea",
                               "value": {"text": [fix]}})  # fmt: skip
        annotations = [{"id": 10 * n + p, "result": result, "was_cancelled": False} for p in range(people)]
        out.append({"id": n + 1, "data": task["data"], "annotations": annotations if result else []})
    return out


def test_labeling_config_names_the_contract_controls():
    root = ET.fromstring(labeling_config(article=True))
    names = {el.get("name"): el for el in root.iter() if el.get("name")}
    assert {"image", "article", "pair_{{idx}}", "needs_image_{{idx}}", "fix_{{idx}}"} <= set(names)
    assert [c.get("value") for c in names["pair_{{idx}}"]] == ["correct", "incorrect"]
    assert [c.get("value") for c in names["needs_image_{{idx}}"]] == ["needs the image", "does not"]
    assert root.find("Repeater").get("on") == "$pairs"
    assert "article" not in {el.get("name") for el in ET.fromstring(labeling_config(article=False)).iter()}


def test_task_holds_row_pairs_and_indices():
    row = {
        "row": 5,
        "qas": [{"question": "Colour?", "answer": "red"}, {"question": "Shape?", "answer": "round"}],
    }
    data = build_task(row, "qas", images=["data:image/png;base64,AA"], hf_vqa_id="abc")["data"]
    assert data["row"] == 5 and data["hf_vqa_id"] == "abc" and "article" not in data
    assert [(p["index"], p["answer"]) for p in data["pairs"]] == [(0, "red"), (1, "round")]
    assert row_id(5, row["qas"], None) != row_id(5, [{"question": "Colour?", "answer": "blue"}], None)


def test_sample_is_reproducible_stratified_and_skips_rows_without_pairs():
    rows = [{"qas": None if i == 0 else [{"question": "q", "answer": "a"}], "all_grounded": i % 3 != 0,
             "has_leak": i % 5 == 0} for i in range(60)]  # fmt: skip
    first = sample_rows(rows, "qas", n=10, seed=3)
    assert first == sample_rows(rows, "qas", n=10, seed=3) and first != sample_rows(rows, "qas", n=10, seed=4)
    assert 0 not in sample_rows(rows, "qas", n=None)
    picked = sample_rows(rows, "qas", n=6, seed=1, where=["not-grounded"])
    assert len(picked) == 6 and all(i % 3 == 0 for i in picked)
    for i, row in enumerate(rows):  # two rare, disjoint strata: the sample is shared evenly between them
        row["qa_blind"] = [{"guessable": i % 7 == 1}]
        row["qa_verdicts"] = [{"answerable": True, "correct": i % 7 != 3}]
    picked = sample_rows(rows, "qas", n=6, seed=1, where=["guessable", "not-verified"])
    assert sum(i % 7 == 1 for i in picked) == 3 and sum(i % 7 == 3 for i in picked) == 3


def test_where_needs_the_verify_columns():
    with pytest.raises(Exception, match="qa_verdicts column"):
        check_where(["not-verified"], ["context_vqa", "qa_checks"])
    check_where(["not-verified"], ["context_vqa", "qa_verdicts"])


def test_majority_ties_and_fixes():
    yes = [{"from_name": "pair_1", "type": "choices", "value": {"choices": ["correct"]}},
           {"from_name": "needs_image_1", "type": "choices", "value": {"choices": ["does not"]}}]  # fmt: skip
    no = [{"from_name": "pair_1", "type": "choices", "value": {"choices": ["incorrect"]}},
          {"from_name": "fix_1", "type": "textarea", "value": {"text": ["  green "]}}]  # fmt: skip
    assert pair_answers(yes) == {1: {"correct": True, "needs_image": False}}
    tie = combine([pair_answers(yes)[1], pair_answers(no)[1]])
    assert tie["correct"] is None and tie["votes"] == {"correct": 1, "incorrect": 1}
    assert tie["fixed_answer"] == "green" and tie["annotators"] == 2 and tie["needs_image"] is False
    assert combine([None, None]) is None


def test_human_column_maps_by_id_not_order():
    ids, n_pairs = ["a", "b", "c"], [2, 2, 1]
    tasks = annotate([{"data": {"hf_vqa_id": x, "row": i}} for i, x in enumerate(ids)],
                     {(0, 1): ("incorrect", "x"), (2, 0): ("correct", None)})  # fmt: skip
    tasks.append({"data": {"hf_vqa_id": "gone", "row": 1}, "annotations": [{"result": []}]})
    tasks.append({"data": {"hf_vqa_id": "b", "row": 0}, "annotations": []})  # row disagrees: stale
    cancelled = {"data": {"hf_vqa_id": "b", "row": 1},
                 "annotations": [{"was_cancelled": True, "result": annotate([{"data": {"row": 1}}], {(1, 0): ("incorrect", None)})[0]["annotations"][0]["result"]}]}  # fmt: skip
    tasks.append(cancelled)
    random.Random(0).shuffle(tasks)
    column, report = human_column(ids, n_pairs, tasks)
    assert column[0][0] is None and column[0][1]["correct"] is False and column[0][1]["fixed_answer"] == "x"
    assert column[1] is None and column[2][0]["correct"] is True
    assert (report.stale_tasks, report.rows_reviewed, report.rejected, report.approved) == (2, 2, 1, 1)


def test_offline_round_trip_filter_and_fixes(tmp_path):
    out = make_output(tmp_path / "out")
    done = export_review(out, file=tmp_path / "review.json", sample=5, seed=1)
    assert done.sampled == 5 and (tmp_path / "review.label_config.xml").is_file()
    tasks = read_tasks_file(tmp_path / "review.json")
    assert all(t["data"]["images"][0].startswith("data:image/png;base64,") for t in tasks)
    assert 2 not in {t["data"]["row"] for t in tasks}  # the failed row has nothing to review
    rows = sorted(t["data"]["row"] for t in tasks)
    verdicts = {(r, k): ("correct", None) for r in rows for k in range(3)}
    verdicts[(rows[0], 1)] = ("incorrect", "1999")
    verdicts[(rows[1], 0)] = ("incorrect", None)
    exported = annotate(tasks, verdicts, people=3)
    random.Random(2).shuffle(exported)
    (tmp_path / "export.json").write_text(json.dumps(exported))

    report = import_review(out, tmp_path / "reviewed", file=tmp_path / "export.json")
    ds = read_output_folder(tmp_path / "reviewed")
    human = ds["qa_human"]
    assert report.rows_reviewed == 5 and report.rejected == 2 and report.approved == 13
    assert human[rows[0]][1] == {"correct": False, "needs_image": None, "fixed_answer": "1999", "annotators": 3,
                                 "votes": {"correct": 0, "incorrect": 3}}  # fmt: skip
    assert [h is None for h in human] == [i not in rows for i in range(8)]
    assert (
        ds.features["qa_human"]
        == datasets.load_dataset(str(tmp_path / "reviewed"), split="train").features["qa_human"]
    )

    import_review(out, tmp_path / "approved", file=tmp_path / "export.json", approved_only=True, fixes=True)
    kept = read_output_folder(tmp_path / "approved")
    assert len(kept) == 8  # no row lost every pair
    fixed_row = kept[rows[0]]
    assert fixed_row["context_vqa"]["qas"][1]["answer"] == "1999"
    assert fixed_row["qa_human_fixes"] == [
        {"pair": 1, "before": tasks_answer(tasks, rows[0], 1), "after": "1999"}
    ]
    assert fixed_row["qa_checks"][1]["grounded"] is False  # the corrected answer was checked again
    dropped = kept[rows[1]]
    assert (
        len(dropped["context_vqa"]["qas"]) == 2
        and len(dropped["qa_human"]) == 2
        and len(dropped["qa_checks"]) == 2
    )
    assert dropped["context_vqa"]["qas"][0]["question"].startswith("Q1 ")
    card = (tmp_path / "approved" / "README.md").read_text()
    assert "my own text" in card and "## Human review" in card and "1 answer(s) replaced" in card
    assert "1 pair(s) people marked incorrect dropped" in card


def tasks_answer(tasks: list[dict], row: int, k: int) -> str:
    return next(t["data"]["pairs"][k]["answer"] for t in tasks if t["data"]["row"] == row)


def test_card_section_is_replaced_not_repeated():
    report = {"rows_reviewed": 1, "pairs_reviewed": 2, "pairs": 9, "approved": 2}
    once = with_human_review("# mine\n", report, source="f.json", rows=3)
    twice = with_human_review(once, {**report, "approved": 1, "rejected": 1}, source="f.json", rows=3)
    assert twice.count("## Human review") == 1 and twice.startswith("# mine") and "| 2 | 1 | 1 |" in twice


class _Fake(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/huge"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"[" + b"1," * 100_000 + b"1]")
        else:
            self.send_response(401)
            self.end_headers()
            self.wfile.write(json.dumps({"detail": "Invalid token."}).encode())


@pytest.fixture
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_client_caps_bytes_and_keeps_the_token_out_of_messages(fake_server, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-token-123456")
    ls = LabelStudio(fake_server, max_bytes=10_000)
    with pytest.raises(LabelStudioError, match="larger than the cap"):
        ls.call("GET", "/huge")
    with pytest.raises(LabelStudioError) as err:
        ls.call("GET", "/api/projects/")
    assert "HTTP 401" in str(err.value) and "LABEL_STUDIO_API_KEY" in str(err.value)
    assert "secret-token" not in str(err.value) + repr(ls)
    with pytest.raises(LabelStudioError, match="credentials"):
        LabelStudio("http://user:pw@127.0.0.1:1")
    monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    with pytest.raises(LabelStudioError, match="not set"):
        LabelStudio(fake_server).call("GET", "/api/projects/")


@pytest.mark.slow  # two CLI processes: ~6 s here
def test_cli_review_offline_in_a_fresh_process(tmp_path):
    out = make_output(tmp_path / "out", rows=4)
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "review", "export",
                          "--input", str(out), "--to", "label-studio-json", str(tmp_path / "r.json"), "--sample", "2"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "2 row(s) sampled, 2 task(s) made" in run.stdout and "r.label_config.xml" in run.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "review", "export",
                          "--input", str(out), "--to", "label-studio", "--where", "guessable"],
                         capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin", "LABEL_STUDIO_URL": "http://127.0.0.1:1"})  # fmt: skip
    assert bad.returncode == 2 and "qa_blind column" in bad.stderr


def test_verified_output_gets_judge_agreement_in_the_card(tmp_path):
    pytest.importorskip(
        "hf_vqa.quality.agreement", reason="the verify pass (hf_vqa.quality) is not merged yet"
    )
    out = make_output(tmp_path / "plain", rows=4, pairs=2)
    ds = read_output_folder(out)
    verdict = {
        "answerable": datasets.Value("bool"),
        "correct": datasets.Value("bool"),
        "reason": datasets.Value("string"),
    }
    judged = [None if row["context_vqa"] is None else [{"answerable": True, "correct": k == 0, "reason": ""}
              for k in range(2)] for row in ds]  # fmt: skip
    ds = ds.add_column("qa_verdicts", judged, feature=datasets.List(verdict))
    save_folder(ds, tmp_path / "verified", card="# verified\n")
    export_review(tmp_path / "verified", file=tmp_path / "r.json")
    tasks = read_tasks_file(tmp_path / "r.json")
    rows = [t["data"]["row"] for t in tasks]
    exported = annotate(tasks, {(r, k): ("correct", None) for r in rows for k in range(2)})
    (tmp_path / "e.json").write_text(json.dumps(exported))
    report = import_review(tmp_path / "verified", tmp_path / "reviewed", file=tmp_path / "e.json")
    assert report.agreement and "n=6" in report.agreement  # 3 rows with pairs x 2 pairs
    assert "The verify pass's judge vs people" in (tmp_path / "reviewed" / "README.md").read_text()


def test_image_vqa_output_round_trips_without_an_article(tmp_path):
    qas = datasets.List({"question": datasets.Value("string"), "answer": datasets.Value("string")})
    features = datasets.Features({"image": datasets.List(datasets.Image()), "qas": qas})
    records = [{"image": [{"bytes": _png((i, i, i)), "path": None}, {"bytes": _png((9, 9, i)), "path": None}],
                "qas": [{"question": f"How many? {i}", "answer": str(i)}]} for i in range(3)]  # fmt: skip
    save_folder(datasets.Dataset.from_list(records, features=features), tmp_path / "iv")
    export_review(tmp_path / "iv", file=tmp_path / "iv.json")
    tasks = read_tasks_file(tmp_path / "iv.json")
    assert all("article" not in t["data"] and len(t["data"]["images"]) == 2 for t in tasks)
    assert 'name="article"' not in (tmp_path / "iv.label_config.xml").read_text()
    exported = annotate(tasks, {(1, 0): ("incorrect", "7")})
    (tmp_path / "e.json").write_text(json.dumps(exported))
    import_review(tmp_path / "iv", tmp_path / "out", file=tmp_path / "e.json", fixes=True, approved_only=True)
    ds = read_output_folder(tmp_path / "out")
    assert ds["qas"][1] == [{"question": "How many? 1", "answer": "7"}] and ds["qa_human"][0] is None


def test_verify_pair_filter_keeps_the_fixes_pointing_at_their_pairs(tmp_path):
    from hf_vqa.quality.pairs import filter_pairs

    out = make_output(tmp_path / "out", rows=3, pairs=3)
    export_review(out, file=tmp_path / "r.json")
    tasks = read_tasks_file(tmp_path / "r.json")
    (tmp_path / "e.json").write_text(json.dumps(annotate(tasks, {(0, 2): ("incorrect", "Bergen")})))
    import_review(out, tmp_path / "fixed", file=tmp_path / "e.json", fixes=True)
    ds = read_output_folder(tmp_path / "fixed")
    verdict = {
        "answerable": datasets.Value("bool"),
        "correct": datasets.Value("bool"),
        "reason": datasets.Value("string"),
    }
    judged = [None if r["context_vqa"] is None else [{"answerable": True, "correct": k != 0, "reason": ""}
              for k in range(3)] for r in ds]  # fmt: skip
    ds = ds.add_column("qa_verdicts", judged, feature=datasets.List(verdict))
    kept, report = filter_pairs(ds, ["verified"])  # the judge rejects pair 0 of every row
    assert report.pairs_dropped == 2  # rows 0 and 1 (row 2 failed: no pairs)
    assert kept[0]["qa_human_fixes"] == [{"pair": 1, "before": "Oslo", "after": "Bergen"}]
    assert kept[0]["context_vqa"]["qas"][1]["answer"] == "Bergen"


def test_a_reply_cut_off_midway_is_an_error_not_a_traceback(monkeypatch):
    class _Cut(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'[{"id": 1')  # then the connection closes

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Cut)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-token-123456")
    try:
        with pytest.raises(LabelStudioError, match="cut off"):
            LabelStudio(f"http://127.0.0.1:{server.server_address[1]}", timeout=10).call(
                "GET", "/api/projects/"
            )
    finally:
        server.shutdown()
