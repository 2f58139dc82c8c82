"""The warm start: a records file's first requests go out before `datasets` is imported, and nothing
about the result changes (each row its own reply, each request paid once)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from clitools import ROOT, cli_env, run_cli
from test_generate import assert_row_matches_its_image, write_records

from hf_vqa.runner import warm
from hf_vqa.runner.lookahead import Prefetcher, same_request_inputs


def _args(**over):
    base = {"dry_run": False, "retry_failed": False, "ray": None, "num_proc": 1, "image_column": "image",
            "conversation_column": "conversation"}  # fmt: skip
    return argparse.Namespace(**{**base, **over})


def test_the_map_function_and_the_warm_start_load_without_datasets():
    code = "import sys, hf_vqa.generate, hf_vqa.runner.warm, hf_vqa.inputs.records; print('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_what_runs_before_a_warm_start_loads_no_parser_numpy_or_hub():
    """The CLI's parser and checks, the map function and the warm start: what a run needs before its first
    request; the reply parsers, numpy and huggingface_hub load later, while the first replies are on the way."""
    code = (
        "import argparse, sys, hf_vqa.cli.main, hf_vqa.cli.publish, hf_vqa.generate, hf_vqa.runner.warm;"
        "hf_vqa.cli.publish.check_publish_args(argparse.Namespace(output='out'));"
        "print(sorted(m for m in ('hf_vqa.parse.reply', 'numpy', 'huggingface_hub') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "over, kw, expected",
    [
        ({}, {}, True),
        ({"num_proc": 2}, {}, False),  # each worker has its own engine: they would not share the warm rows
        ({"retry_failed": True}, {}, False),
        ({"dry_run": True}, {}, False),
        ({"ray": 2}, {}, False),
        ({"image_column": "picture"}, {}, False),
        ({}, {"shard": (0, 2)}, False),
        ({}, {"batch": True}, False),
        ({}, {"mock": True}, False),
    ],
)
def test_it_applies_only_to_one_pass_over_a_records_file(tmp_path, over, kw, expected):
    records = write_records(tmp_path, 2)
    given = {"shard": None, "batch": False, "mock": False, **kw}
    assert warm.applies(_args(**over), source=records, **given) is expected
    assert warm.applies(_args(**over), source=str(tmp_path / "img"), **given) is False  # an image folder


def test_a_row_that_is_not_the_warm_row_is_left_to_the_map():
    sent = []

    def submit(chunk):  # the lookahead submits a chunk of rows at a time
        sent.extend(row["image"][0]["path"] for row in chunk)
        return [f"reply for {row['image'][0]['path']}" for row in chunk]

    rows = [{"image": [{"bytes": None, "path": f"/{i}.png"}], "conversation": []} for i in range(3)]
    prefetcher = Prefetcher(None, 0, 3, submit, rows=iter(rows))
    assert prefetcher.take(0, row=lambda: dict(rows[0], extra=1)) == "reply for /0.png"
    other = {"image": [{"bytes": None, "path": "/other.png"}], "conversation": []}
    assert prefetcher.take(1, row=lambda: other) is None  # the map sends its own request for this row
    assert prefetcher.mismatched == 1
    assert prefetcher.take(2, row=lambda: rows[2]) == "reply for /2.png"
    assert sent == ["/0.png", "/1.png", "/2.png"]
    assert not same_request_inputs(rows[0], {"image": rows[0]["image"], "conversation": [{"from": "x"}]})


def test_a_cli_run_sends_before_datasets_loads_and_pays_each_row_once(tmp_path, make_mock_vlm):
    server = make_mock_vlm(latency=0.05)
    records = write_records(tmp_path, 30)
    probe = tmp_path / "probe.json"
    # a finder that notes, when `datasets` is first imported, whether a warm start was already running
    code = f"""
import json, sys
class Probe:
    def find_spec(self, name, path=None, target=None):
        if name == "datasets":
            sys.meta_path.remove(self)
            lookahead = sys.modules.get("hf_vqa.runner.lookahead")
            json.dump({{"warm_running": bool(lookahead and lookahead._WARM)}}, open({str(probe)!r}, "w"))
        return None
sys.meta_path.insert(0, Probe())
sys.argv = ["build_dataset.py"] + {
        json.dumps(
            [
                "image-vqa",
                "--input",
                records,
                "--output",
                str(tmp_path / "out"),
                "--base-url",
                server.base_url,
                "--model",
                "m",
            ]
        )
    }
from hf_vqa.cli.main import main
code = main()
from hf_vqa.runner import lookahead
taken = [p for p in lookahead._PREFETCHERS.values() if p is not None]
print("WARM", json.dumps([[p._rows is not None, p.mismatched] for p in taken]))
sys.exit(code)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env=cli_env(tmp_path, {"OPENAI_API_KEY": "sk-test"}))  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(probe.read_text()) == {"warm_running": True}
    warm_line = next(line for line in out.stdout.splitlines() if line.startswith("WARM "))
    assert json.loads(warm_line[5:]) == [[True, 0]]  # the map adopted the warm start; every row matched
    stats = server.stats()
    assert stats["unique_ok"] == 30 and stats["duplicates"] == 0  # each row asked once
    rows = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "out" / "data" / "*.parquet"), split="train"
    )
    assert len(rows) == 30
    for i, row in enumerate(rows):
        assert_row_matches_its_image(row, i)


def test_a_bad_record_fails_before_any_request(tmp_path, make_mock_vlm):
    server = make_mock_vlm()
    records = json.loads(Path(write_records(tmp_path, 5)).read_text())
    records[4]["image"] = 7  # not a path: the file is refused as a whole, before anything is sent
    (tmp_path / "bad.json").write_text(json.dumps(records))
    out = run_cli("image-vqa", "--input", "bad.json", "--output", "out", "--base-url", server.base_url,
                  "--model", "m", tmp_path=tmp_path, env={"OPENAI_API_KEY": "sk-test"})  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "record 4" in out.stderr
    assert server.stats().get("ok", 0) == 0 and server.stats()["in_flight"] == 0


def test_a_rerun_whose_map_comes_from_the_cache_sends_nothing(tmp_path, make_mock_vlm):
    """A failed row stays failed on a plain rerun (only --retry-failed retries it), warm start or not."""
    server = make_mock_vlm(faults={"500": 0.3}, seed=3)
    write_records(tmp_path, 20)
    args = ["image-vqa", "--input", "records.json", "--output", "out", "--base-url", server.base_url, "--model", "m",
            "--max-retries", "0"]  # fmt: skip
    first = run_cli(*args, tmp_path=tmp_path, env={"OPENAI_API_KEY": "sk-test"})
    assert " failed=0 " not in first.stdout, first.stdout  # some rows failed
    sent = server.stats()["requests"]
    shutil.rmtree(tmp_path / "out")  # even with the output gone, the map's Arrow cache answers
    again = run_cli(*args, tmp_path=tmp_path, env={"OPENAI_API_KEY": "sk-test"})
    assert again.returncode == first.returncode
    failed = [line.split(" failed=")[1].split()[0] for line in (first.stdout, again.stdout)]
    assert failed[0] == failed[1] != "0"  # the same rows failed: none was retried unasked
    assert server.stats()["requests"] == sent  # nothing was sent
