import multiprocessing
import time

from hf_vqa.engine.ratelimit import SharedBucket, estimate_tokens


def test_first_request_is_free_then_requests_are_spaced_at_the_rate(tmp_path):
    bucket = SharedBucket(tmp_path, "t", per_minute=600)  # 10 per second, 10 of burst
    waits = [bucket.reserve(1) for _ in range(30)]
    assert waits[:10] == [0.0] * 10
    assert 1.8 < waits[-1] < 2.2  # 20 over budget at 10/s: the last one waits ~2 s


def _hammer(folder, out, n):
    bucket = SharedBucket(folder, "shared", per_minute=1200)
    for _ in range(n):
        out.put(bucket.reserve(1))


def test_two_processes_share_one_budget(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), out, 40)) for _ in range(2)]
    for p in procs:
        p.start()
    waits = sorted(out.get(timeout=60) for _ in range(80))
    for p in procs:
        p.join(30)
    # 80 reservations at 20/s with 20 of burst: the last is due ~3 s later, whichever process made it
    assert 2.5 < waits[-1] < 3.6
    assert sum(w == 0.0 for w in waits) <= 22


def test_adjust_refunds_overestimates(tmp_path):
    bucket = SharedBucket(tmp_path, "tok", per_minute=6000)  # 100 tokens/s
    bucket.reserve(100)
    assert bucket.reserve(50) > 0
    bucket.adjust(-200)
    time.sleep(0.01)
    assert bucket.reserve(50) == 0.0


def test_estimate_counts_text_images_and_completion():
    body = {
        "messages": [
            {"role": "system", "content": "x" * 40},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "d"}},
                    {"type": "text", "text": "y" * 40},
                ],
            },
        ],
        "max_tokens": 100,
    }
    assert estimate_tokens(body) == 20 + 800 + 100


def test_rpm_holds_across_num_proc_workers_in_a_real_map(tmp_path, mock_vlm):
    from test_generate import write_records

    import hf_vqa

    ds = hf_vqa.load_records(write_records(tmp_path, 40), cache_dir=str(tmp_path / "ds"))
    vlm = hf_vqa.VLM(
        model="m", base_url=mock_vlm.base_url, api_key_env="", rpm=600, cache_dir=str(tmp_path / "s")
    )
    t0 = time.monotonic()
    out = ds.map(hf_vqa.prompted_vqa, batched=True, batch_size=10, num_proc=2, fn_kwargs={"vlm": vlm})
    elapsed = time.monotonic() - t0
    assert list(out["vqa_error"]) == [None] * 40
    # 600 rpm = 10/s with 10 of burst, shared by both workers: 40 requests need at least 3 s.
    # A lower bound (the limit held), not a speed check.
    assert elapsed >= 2.9, elapsed
