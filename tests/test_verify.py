"""The verify pass (`hf_vqa.quality`): the honest mock judge, verdict parsing, votes, the store, the
fallback to free text, pair filters, the blind pass and the card's Verification section."""

from __future__ import annotations

import datasets
import pytest
from PIL import Image

import hf_vqa
from hf_vqa.config import VLM
from hf_vqa.images.columns import undecoded
from hf_vqa.mock.plant import plant_wrong_answers, score_rejections
from hf_vqa.pipeline import run_pipeline
from hf_vqa.quality.blind import blind_check
from hf_vqa.quality.pairs import filter_pairs
from hf_vqa.quality.summary import count_verdicts
from hf_vqa.quality.verdicts import majority, parse_verdicts
from hf_vqa.quality.verify import judge_vlm, verify_pairs

SIZES = [(64, 48), (48, 64), (80, 80), (96, 40), (40, 96), (70, 50), (50, 70), (60, 60)]


def _images(folder, n=8):
    folder.mkdir()
    for i in range(n):
        Image.new("RGB", SIZES[i % len(SIZES)], (30 * i % 256, 200 - 20 * i, 17 * i)).save(
            folder / f"i{i}.png"
        )
    return folder


def _generated(tmp_path, server, pipeline, n=8):
    vlm = VLM(model="mock", base_url=server.base_url, api_key_env="", cache_dir=str(tmp_path / "store"))
    ds, _ = run_pipeline(
        hf_vqa.load_input(str(_images(tmp_path / "imgs", n))), pipeline, vlm=vlm, lookahead=False
    )
    return undecoded(ds), vlm


def _verify(ds, vlm, **kw):
    return ds.map(
        verify_pairs, batched=True, fn_kwargs={"judge": judge_vlm(vlm, **kw), "votes": kw.get("votes", 1)}
    )


@pytest.mark.parametrize("pipeline", ["image-vqa", "context-vqa"])
def test_the_mock_judge_rejects_moved_answers_and_passes_right_ones(tmp_path, mock_vlm_session, pipeline):
    ds, vlm = _generated(tmp_path, mock_vlm_session, pipeline)
    planted, wrong = plant_wrong_answers(ds, 0.5, seed=3)
    score = score_rejections(_verify(planted, vlm)["qa_verdicts"], wrong)
    assert score["wrong"] >= 4 and score["not_judged"] == 0
    assert (
        score["correct"]["fn"] == 0 and score["correct"]["fp"] == 0
    )  # every moved answer caught, no right one
    assert score["correct"]["tp"] == score["wrong"] and score["correct"]["tn"] == score["right"]


def test_verdicts_are_aligned_and_rerun_sends_nothing(tmp_path, mock_vlm_session):
    ds, vlm = _generated(tmp_path, mock_vlm_session, "image-vqa", n=4)
    before = mock_vlm_session.stats()["requests"]
    out = _verify(ds, vlm)
    assert mock_vlm_session.stats()["requests"] - before == 4  # one judge request per row
    for row in out:
        assert len(row["qa_verdicts"]) == len(row["qas"]) and row["qa_verdicts_error"] is None
        assert {v["judge"] for v in row["qa_verdicts"]} == {"mock"}
    again = ds.flatten_indices().map(verify_pairs, batched=True, fn_kwargs={"judge": judge_vlm(vlm), "votes": 1},
                                     new_fingerprint="fresh")  # fmt: skip
    assert mock_vlm_session.stats()["requests"] - before == 4  # all from the store: nothing paid twice
    assert again["qa_verdicts"] == out["qa_verdicts"]


def test_votes_ask_k_times_with_their_own_keys_and_keep_the_majority(tmp_path, mock_vlm_session):
    ds, vlm = _generated(tmp_path, mock_vlm_session, "image-vqa", n=2)
    before = mock_vlm_session.stats()["requests"]
    out = _verify(ds, vlm, votes=3)
    assert mock_vlm_session.stats()["requests"] - before == 6  # 2 rows x 3 votes, identical bodies
    assert out[0]["qa_verdicts"][0]["votes"] == "correct 3/3, answerable 3/3"
    yes = {"answerable": True, "correct": True, "reason": "ok"}
    no = {**yes, "correct": False, "reason": "bad"}
    assert majority([[yes], [no]], 1, "m")[0]["correct"] is False  # a tie is not a pass


def test_an_endpoint_rejecting_response_format_gets_free_text_and_still_verdicts(
    tmp_path, make_mock_vlm, mock_vlm_session
):
    ds, _ = _generated(tmp_path, mock_vlm_session, "image-vqa", n=3)
    strict = make_mock_vlm(profile="no-structured")
    judge = VLM(model="judge", base_url=strict.base_url, api_key_env="", cache_dir=str(tmp_path / "store"))
    out = _verify(ds, judge)
    assert all(row["qa_verdicts_error"] is None and all(row["qa_verdicts"]) for row in out)
    assert strict.stats()["requests"] == 4  # the first, rejected; then all three without response_format


def test_parse_verdicts_reads_json_lines_and_says_what_is_missing():
    assert parse_verdicts(
        '```json\n[{"pair": 2, "answerable": "yes", "correct": "no", "reason": "x"}]\n```', 2
    ) == (
        [None, {"answerable": True, "correct": False, "reason": "x"}],
        "the judge gave no verdict for pair(s) 1",
    )
    verdicts, error = parse_verdicts(
        "1. answerable: yes, correct: yes\n2) answerable: no; correct: no - reason: blur", 2
    )
    assert (
        error is None
        and [v["correct"] for v in verdicts] == [True, False]
        and verdicts[1]["reason"] == "blur"
    )
    verdicts, error = parse_verdicts("I cannot help with that.", 2)
    assert verdicts is None and "could not read" in error


def test_judge_failure_is_kept_per_row_and_retried(tmp_path, mock_vlm_session, make_mock_vlm):
    ds, _vlm = _generated(tmp_path, mock_vlm_session, "image-vqa", n=3)
    down = make_mock_vlm(faults={"500": 1.0})
    judge = VLM(
        model="j", base_url=down.base_url, api_key_env="", cache_dir=str(tmp_path / "store"), max_retries=0
    )
    failed = _verify(ds, judge)
    assert failed["qa_verdicts"] == [None] * 3 and all("500" in e for e in failed["qa_verdicts_error"])
    assert count_verdicts(failed).rows_failed == 3
    down.configure(faults={})
    fixed = failed.map(
        verify_pairs, batched=True, fn_kwargs={"judge": judge_vlm(judge), "keep_existing": True}
    )
    assert all(row["qa_verdicts"] and row["qa_verdicts_error"] is None for row in fixed)


def test_filter_verified_drops_pairs_keeps_columns_aligned_and_drops_emptied_rows(tmp_path, mock_vlm_session):
    ds, vlm = _generated(tmp_path, mock_vlm_session, "context-vqa", n=4)
    planted, _ = plant_wrong_answers(ds, 0.5, seed=3)
    out = _verify(planted, vlm)
    v = [{"answerable": False, "correct": False, "reason": "", "judge": "m", "votes": ""}]
    rows = out.to_list()
    rows[0]["qa_verdicts"] = v * len(rows[0]["qa_verdicts"])  # nothing of row 0 passes
    out = datasets.Dataset.from_list(rows, features=out.features)
    kept, report = filter_pairs(out, ["verified"])
    assert report.rows_dropped == 1 and len(kept) == len(out) - 1
    assert report.pairs_dropped == sum(
        1 for r in rows for x in r["qa_verdicts"] if not (x["answerable"] and x["correct"])
    )
    for row in kept:
        n = len(row["context_vqa"]["qas"])
        assert n and len(row["qa_verdicts"]) == n == len(row["qa_checks"])
        assert all(x["correct"] and x["answerable"] for x in row["qa_verdicts"])
        assert row["all_grounded"] == all(c["grounded"] for c in row["qa_checks"])


def test_filter_verified_without_verdicts_is_a_clear_error(tmp_path, mock_vlm_session):
    ds, _ = _generated(tmp_path, mock_vlm_session, "image-vqa", n=2)
    with pytest.raises(hf_vqa.ConfigError, match="needs the qa_verdicts column"):
        filter_pairs(ds, ["verified"])


def test_blind_pass_flags_the_answers_a_text_model_gives_without_the_image(tmp_path, mock_vlm_session):
    ds, vlm = _generated(tmp_path, mock_vlm_session, "image-vqa", n=4)
    out = ds.map(blind_check, batched=True, fn_kwargs={"vlm": judge_vlm(vlm)})
    for row in out:
        flags = {p["question"]: b["guessable"] for p, b in zip(row["qas"], row["qa_blind"])}
        shape = next(p["answer"] for p in row["qas"] if p["question"].startswith("Is image 1"))
        assert flags["Is image 1 wider than it is tall?"] == (
            shape == "yes"
        )  # the blind mock always says yes
        assert not flags["What are the dimensions and colour of image 1?"]
    assert 0 < count_verdicts(out).guessable < sum(len(r) for r in out["qas"])
    _kept, report = filter_pairs(out, ["not-guessable"])
    assert report.pairs_dropped == count_verdicts(out).guessable
