"""Rounds: requests made side by side are served by one store call (a group commit).

The store is fast in batches and slow one call at a time (decision 36). When a consumer batch
handles many keys side by side, their handlers ask for the same kind of thing at about the same
moment: an aggregate by `_id`, a block's next number. `Rounds.ask` queues such a request under its
group; one task per group serves the queue in rounds, each round one call of `serve` for every
request waiting when it starts (those made while a round runs form the next). A request alone is
served at once, in the turn after it was made; nothing waits for a round to fill.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Q = TypeVar("Q")
R = TypeVar("R")
G = TypeVar("G", bound=Hashable)

Serve = Callable[[G, Sequence[Q]], Awaitable[Sequence[R]]]
"""Serves one round of a group: the answers in the order of the requests."""


def _future() -> "asyncio.Future[R]":
    return asyncio.get_running_loop().create_future()


@dataclass
class _Asked(Generic[Q, R]):
    request: Q
    answer: "asyncio.Future[R]" = field(default_factory=_future)


class Rounds(Generic[G, Q, R]):
    """Serves the requests of each group in rounds of at most `most` requests."""

    def __init__(self, serve: Serve[G, Q, R], *, most: int = 500) -> None:
        self._serve = serve
        self.most = max(1, most)
        self._queued: dict[G, list[_Asked[Q, R]]] = {}
        self._serving: dict[G, asyncio.Task[None]] = {}

    async def ask(self, group: G, request: Q) -> R:
        """The answer to one request, from the group's next round; a failed round raises its error
        to each of its requests."""
        asked: _Asked[Q, R] = _Asked(request)
        serving = self._serving.get(group)
        if serving is not None and serving.get_loop() is not asyncio.get_running_loop():
            # Left by an event loop that closed while serving (tests run one loop each): start over.
            del self._serving[group]
            self._queued.pop(group, None)
        self._queued.setdefault(group, []).append(asked)
        if group not in self._serving:
            self._serving[group] = asyncio.create_task(self._rounds(group), name=f"rounds {group}")
        return await asked.answer

    async def _rounds(self, group: G) -> None:
        taken: list[_Asked[Q, R]] = []
        try:
            while self._queued.get(group):
                await asyncio.sleep(0)  # requests made in this same turn join the round
                waiting = self._queued[group]
                taken, self._queued[group] = waiting[: self.most], waiting[self.most :]
                try:
                    answers = await self._serve(group, [a.request for a in taken])
                except Exception as error:
                    for asked in taken:
                        if not asked.answer.done():
                            asked.answer.set_exception(error)
                    continue
                for asked, answer in zip(taken, answers, strict=True):
                    if not asked.answer.done():
                        asked.answer.set_result(answer)
        finally:
            if self._serving.get(group) is asyncio.current_task():
                del self._serving[group]
            # Only when cancelled (the loop is closing): nobody will answer these now.
            for asked in [*taken, *self._queued.pop(group, [])]:
                if not asked.answer.done():
                    asked.answer.cancel()
