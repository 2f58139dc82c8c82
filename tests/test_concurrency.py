import asyncio
import time

from hf_vqa.engine.concurrency import AdaptiveLimiter


def run(coro):
    return asyncio.run(coro)


def test_never_more_than_the_window_in_flight():
    async def main():
        lim = AdaptiveLimiter(4)
        peak = 0

        async def job():
            nonlocal peak
            async with lim.slot():
                peak = max(peak, lim.in_flight)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(job() for _ in range(50)))
        return peak, lim.in_flight

    assert run(main()) == (4, 0)


def test_429_halves_the_window_once_per_cooldown_and_success_grows_it_back():
    lim = AdaptiveLimiter(16, cooldown=10)
    lim.on_rate_limited(None)
    lim.on_rate_limited(None)  # same burst: counted once
    assert lim.window == 8
    for _ in range(200):
        lim.on_success()
    assert lim.window == 16


def test_retry_after_pauses_new_requests():
    async def main():
        lim = AdaptiveLimiter(4)
        lim.on_rate_limited(0.3)
        t0 = time.monotonic()
        async with lim.slot():
            return time.monotonic() - t0

    assert run(main()) >= 0.28


def test_cancelled_waiter_does_not_leak_a_slot():
    async def main():
        lim = AdaptiveLimiter(1)
        async with lim.slot():
            waiter = asyncio.ensure_future(lim._acquire())
            await asyncio.sleep(0)
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
        async with lim.slot():
            return lim.in_flight

    assert run(main()) == 1
