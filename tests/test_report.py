"""The HTML report (`hf_vqa.publish.report`): content, the CLI's `report` subcommand and `--report`, and a
real headless Chromium that opens it offline (DOM, filters, screenshot)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import datasets
import pytest
from clitools import ROOT, run_cli
from PIL import Image

from hf_vqa.publish.report import FILTERS, write_report
from hf_vqa.publish.report_rows import thumbnail_data_url

IMAGES = ROOT / "examples" / "sample" / "images"
SCREENSHOT = ROOT / "benchmarks" / "results" / "report.png"


def _png(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(out, "PNG")
    return out.getvalue()


def _check(grounded=True, dup=False, leak=False, why="exact"):
    return {"grounded": grounded, "duplicate": dup, "leak": leak, "grounded_by": why if grounded else ""}


def _row(color, qas, checks, *, vqa="text", error=None, context="An article about <b>things</b>."):
    flags = {"all_grounded": bool(checks) and all(c["grounded"] for c in checks),
             "has_duplicate": any(c["duplicate"] for c in checks), "has_leak": any(c["leak"] for c in checks)}  # fmt: skip
    usage = {"prompt_tokens": 300, "completion_tokens": 40 + len(qas or []) * 20}
    parsed = (
        None if qas is None else {"context": context, "qas": [{"question": q, "answer": a} for q, a in qas]}
    )
    return {"image": [{"bytes": _png(color), "path": None}], "vqa": vqa, "vqa_error": error, "vqa_usage": usage,
            "context_vqa": parsed, "context_vqa_error": None, "qa_checks": checks, **flags}  # fmt: skip


def _dataset() -> datasets.Dataset:
    rows = [
        _row("red", [("What year did it open?", "1937"), ("Who built it?", "Strauss")], [_check(why="number"), _check()]),
        _row("green", [("What colour is it?", "Blue")], [_check(grounded=False)]),
        _row("blue", None, [], vqa=None, error="TransportError: HTTP 500 from the endpoint <script>x</script>"),
        _row("orange", [("What year did it open?", "1937"), ("Is it long?", "Yes")], [_check(), _check(leak=True)]),
        _row("purple", [("Which river?", "Thames"), ("which river", "Thames")], [_check(), _check(dup=True)]),
    ]  # fmt: skip
    return datasets.Dataset.from_list(rows)


# row index -> the filters that must show it
EXPECTED = {
    "all": [0, 1, 2, 3, 4],
    "failed": [2],
    "ungrounded": [1],
    "duplicate": [4],
    "leak": [3],
    "repeat": [3, 4],
}


def test_report_is_one_self_contained_file(tmp_path):
    path = write_report(_dataset(), tmp_path / "r.html", pipeline="context-vqa")
    html = path.read_text(encoding="utf-8")
    assert html.count('<img alt="row') == 5 and html.count("data:image/jpeg;base64,") == 5
    assert html.count("<svg") == 3 and "Pairs per image" in html and "Question types" in html
    assert "Tokens per row" in html
    # nothing is fetched: no http(s) URL anywhere but the SVG namespace, no script, no external sheet
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "&lt;b&gt;things&lt;/b&gt;" in html  # escaped
    assert "grounded (number)" in html and "not grounded" in html and "repeats an earlier question" in html
    for fid in FILTERS:  # the verify and blind filters only once those passes ran (their columns exist)
        shown = fid not in ("unverified", "guessable")
        assert (f'href="#{fid}"' in html and f'id="{fid}"' in html) == shown, fid


def test_thumbnails_never_fetch_and_never_fail(tmp_path):
    assert thumbnail_data_url({"bytes": None, "path": "https://example.com/a.jpg"}) is None
    assert thumbnail_data_url({"bytes": b"not an image", "path": None}) is None
    assert thumbnail_data_url(str(IMAGES / "red_ball.jpg")).startswith("data:image/jpeg;base64,")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--hide-scrollbars"]  # fmt: skip
    return subprocess.run([_chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


# Appended to a copy of the page in the test only (the report itself has no script): writes which rows
# the browser really displays, so --dump-dom shows what each CSS filter left visible.
PROBE = """<script>
window.addEventListener("load", () => {
  document.body.setAttribute("data-visible", JSON.stringify([...document.querySelectorAll(".row")]
    .filter(r => getComputedStyle(r).display !== "none").map(r => +r.dataset.row)));
  document.body.setAttribute("data-images", JSON.stringify([...document.images]
    .map(i => i.complete && i.naturalWidth > 0)));
});
</script></body>"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(
    _chromium() is None, reason="needs Chromium (apt-get install -y chromium); .ci/run installs it"
)
def test_report_in_real_headless_chromium(tmp_path):
    page = write_report(_dataset(), tmp_path / "report.html", pipeline="context-vqa")
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE), encoding="utf-8")
    for fid, rows in EXPECTED.items():
        res = _headless(tmp_path, "--dump-dom", f"{probe.as_uri()}#{fid}")
        assert res.returncode == 0, res.stderr[-2000:]
        body = re.search(r"<body[^>]*>", res.stdout).group(0)
        visible = json.loads(re.search(r'data-visible="([^"]*)"', body).group(1).replace("&quot;", '"'))
        images = json.loads(re.search(r'data-images="([^"]*)"', body).group(1).replace("&quot;", '"'))
        assert visible == rows, fid
        assert images == [True] * 5  # every embedded thumbnail decoded in the browser
    shot = tmp_path / "report.png"
    res = _headless(tmp_path, "--window-size=1200,1100", f"--screenshot={shot}", page.as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1200, 1100)
        assert len(im.convert("RGB").resize((120, 110)).getcolors(20000)) > 20  # not a blank page


@pytest.mark.slow
def test_cli_dedupe_report_and_report_subcommand(tmp_path):
    out = tmp_path / "out"
    res = run_cli("context-vqa", "--input", IMAGES, "--output", out, "--mock", "--dedupe", "--report",
                  tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[-1].startswith("MOCK done: rows=6")  # the closing summary stays last
    assert any(line.startswith("questions: ") and "unique normalised" in line for line in lines)
    assert any(line.startswith("question types: ") for line in lines)
    assert any(line.startswith("dedupe: dropped ") for line in lines)
    report = tmp_path / "out_report.html"
    assert f"report: {report}" in res.stdout and report.stat().st_size > 5000
    card = (out / "README.md").read_text()
    assert "## Diversity and shape" in card and "`--dedupe` dropped" in card and "| question type |" in card

    res = run_cli("report", "--output", out, "--html", tmp_path / "again.html", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "again.html").read_text().count('<div class="row') == 6
    res = run_cli("report", "--output", tmp_path / "nothing", tmp_path=tmp_path)
    assert res.returncode == 2 and "no parquet files" in res.stderr


def test_report_of_image_vqa_rows_without_checks(tmp_path):
    ds = datasets.Dataset.from_list(
        [
            {
                "image": {"bytes": _png("red"), "path": None},
                "vqa": "t",
                "qas": [{"question": "What is it?", "answer": "A"}],
            },
            {
                "image": {"bytes": None, "path": "https://example.com/x.jpg"},
                "vqa": "t",
                "qas": [{"question": "what is it", "answer": "B"}],
            },
            {"image": {"bytes": _png("blue"), "path": None}, "vqa": None, "qas": None},
        ]
    )
    html = write_report(ds, tmp_path / "r.html", pipeline="image-vqa", max_rows=2).read_text(encoding="utf-8")
    assert html.count('<div class="row') == 2 and "Showing the first 2 of 3 rows." in html
    assert "no local image" in html and "https://example.com" not in html  # a URL image is never fetched
    assert '<div class="row repeat" data-row="1">' in html and "<b>1</b> failed" in html
    # image-vqa runs no row checks: no grounded/duplicate/leak filter or count is offered
    assert 'href="#ungrounded"' not in html and 'href="#leak"' not in html and 'href="#duplicate"' not in html
    assert (
        'href="#repeat"' in html and "<b>1</b> repeat an earlier question" in html and "Mock data" not in html
    )


def test_report_counts_name_the_checks_as_the_summary_and_card_do(tmp_path):
    from hf_vqa.pipeline import summarize

    ds = _dataset()
    html = write_report(ds, tmp_path / "r.html", pipeline="context-vqa", mock=True).read_text(
        encoding="utf-8"
    )
    full = ds.map(lambda r: {"vqa_usage": {**r["vqa_usage"], "cached": False, "attempts": 1}})
    summary = summarize(full, "context_vqa")  # duplicate=1: one row repeats a question of its own
    assert summary.checks["duplicate"] == 1 and f"<b>{summary.checks['duplicate']}</b> duplicate<" in html
    assert f"<b>{summary.checks['leak']}</b> leak<" in html and "<b>2</b> repeat an earlier question" in html
    assert "<b>Mock data.</b>" in html  # a mock run's report says so


def test_report_rows_name_their_image_file(tmp_path):
    ds = datasets.Dataset.from_list([
        {"image": {"bytes": _png("red"), "path": "red_ball.jpg"}, "file_name": "photos/red_ball.jpg", "vqa": "t",
         "qas": [{"question": "What is it?", "answer": "A"}]},
        {"image": {"bytes": _png("red"), "path": "/data/sunset.png"}, "vqa": "t", "qas": None},
    ])  # fmt: skip
    html = write_report(ds, tmp_path / "r.html", pipeline="image-vqa").read_text(encoding="utf-8")
    assert '<div class="id">row 0 · photos/red_ball.jpg</div>' in html
    assert '<div class="id">row 1 · sunset.png</div>' in html


def test_report_of_an_output_holding_bytes_that_are_not_an_image_does_not_crash(tmp_path):
    """Outputs written before #22.1 hold such bytes; `report --output` must still work on them."""
    features = datasets.Features({"image": datasets.List(datasets.Image()), "vqa": datasets.Value("string"),
                                  "qas": datasets.List({"question": datasets.Value("string"),
                                                        "answer": datasets.Value("string")})})  # fmt: skip
    ds = datasets.Dataset.from_dict(
        {"image": [[{"bytes": b"x\n", "path": "fake.png"}], [{"bytes": _png("red"), "path": "ok.png"}]],
         "vqa": [None, "t"], "qas": [None, [{"question": "What?", "answer": "A"}]]},
        features=features,
    )  # fmt: skip
    html = write_report(ds, tmp_path / "r.html", pipeline="image-vqa").read_text(encoding="utf-8")
    assert html.count('<div class="row') == 2 and "no local image" in html and "row 0 · fake.png" in html


def test_report_of_a_parquet_with_values_of_the_wrong_type_shows_them(tmp_path, capsys):
    """#25 item 11: a foreign or hand-edited parquet (numbers as answers, words as token counts) gave a
    traceback; now the page is written and the odd values are shown as they are, and said to be odd."""
    import argparse

    import pyarrow as pa
    import pyarrow.parquet as pq

    from hf_vqa.cli.report import run_report

    rows = [_row(c, [("What year?", "x")], [_check()]) for c in ("red", "blue")]
    for i, row in enumerate(rows):
        row["context_vqa"]["qas"][0]["answer"] = 1937 + i  # an int64 column of answers
        row["context_vqa"]["context"] = ["not", "text"]
        row["qa_checks"][0]["grounded_by"] = 3
        row["vqa_usage"] = {"prompt_tokens": "n/a", "completion_tokens": float("nan")}
    folder = tmp_path / "out"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "train-00000-of-00001.parquet")
    args = argparse.Namespace(output=str(folder), split="train", image_column="image", max_rows=10,
                              html=str(tmp_path / "r.html"))  # fmt: skip
    assert run_report(args) == 0, capsys.readouterr()  # before: ValueError: invalid literal for int(): 'n/a'
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<span class="a">1937</span>' in html and "answer not text" in html
    assert "<b>2</b> usage not numbers" in html and "[&quot;not&quot;, &quot;text&quot;]" in html
