"""Background work repeats, survives a failing round, and stops."""

import asyncio

from regstd.runtime.periodic import Periodic


async def test_a_failing_round_does_not_stop_the_work_and_stop_ends_it() -> None:
    rounds = 0
    three = asyncio.Event()

    async def work() -> None:
        nonlocal rounds
        rounds += 1
        if rounds >= 3:
            three.set()
        if rounds == 1:
            raise RuntimeError("first round fails")

    periodic = Periodic("test", work, interval_s=0.001)
    periodic.start()
    periodic.start()  # idempotent: still one loop
    await asyncio.wait_for(three.wait(), 5)
    await periodic.stop()
    after_stop = rounds
    await asyncio.sleep(0.02)
    assert rounds == after_stop >= 3
