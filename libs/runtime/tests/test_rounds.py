"""Rounds: requests made side by side are served by one call, in order, per group."""

import asyncio
from collections.abc import Sequence

from regstd.runtime.rounds import Rounds


class Doubler:
    """Serves rounds by doubling each request, and remembers every round it served."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.rounds: list[tuple[str, list[int]]] = []
        self.fail_on = fail_on

    async def __call__(self, group: str, requests: Sequence[int]) -> list[int]:
        self.rounds.append((group, list(requests)))
        await asyncio.sleep(0.001)
        if self.fail_on in requests:
            raise ValueError(f"cannot serve {self.fail_on}")
        return [2 * r for r in requests]


async def test_requests_made_side_by_side_share_one_round_per_group() -> None:
    serve = Doubler()
    rounds: Rounds[str, int, int] = Rounds(serve)

    answers = await asyncio.gather(*(rounds.ask("a" if n % 2 else "b", n) for n in range(10)))

    assert answers == [2 * n for n in range(10)]
    assert sorted(serve.rounds) == [("a", [1, 3, 5, 7, 9]), ("b", [0, 2, 4, 6, 8])]


async def test_requests_made_during_a_round_form_the_next_and_rounds_are_bounded() -> None:
    serve = Doubler()
    rounds: Rounds[str, int, int] = Rounds(serve, most=3)

    first = asyncio.gather(*(rounds.ask("a", n) for n in range(5)))
    await asyncio.sleep(0)  # the first round has started
    later = await asyncio.gather(*(rounds.ask("a", n) for n in range(5, 7)))

    assert await first == [0, 2, 4, 6, 8]
    assert later == [10, 12]
    assert [r for _, r in serve.rounds] == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_round_fails_its_own_requests_only() -> None:
    serve = Doubler(fail_on=1)
    rounds: Rounds[str, int, int] = Rounds(serve)

    failed = await asyncio.gather(rounds.ask("a", 0), rounds.ask("a", 1), return_exceptions=True)
    assert [type(r) for r in failed] == [ValueError, ValueError]
    assert await rounds.ask("a", 2) == 4


def test_rounds_left_by_a_closed_event_loop_do_not_stop_the_next_one() -> None:
    serve = Doubler()
    rounds: Rounds[str, int, int] = Rounds(serve)

    async def ask_and_leave() -> None:
        left.append(asyncio.ensure_future(rounds.ask("a", 1)))
        await asyncio.sleep(0)  # the request is queued; the loop closes before its round is served

    left: list[asyncio.Future[int]] = []

    loop = asyncio.new_event_loop()
    loop.run_until_complete(ask_and_leave())
    loop.close()

    assert asyncio.run(asyncio.wait_for(rounds.ask("a", 2), timeout=5)) == 4
