"""The clock scheduler: fires the statutory clocks (`regstd.kernel.clocks`) kept inside aggregates,
exactly once in effect, with any number of instances.

Each aggregate stores when its clocks must next be checked (`clocks_next_at`). A round loads each
aggregate whose moment has come and lets the service decide through the unit of work: a concurrent
change (the other instance firing the same clock, a command) makes it load and decide again, and the
second decision finds the clock already advanced, so each happening reaches the outbox once.
"""

import logging
from collections import Counter
from datetime import datetime
from typing import Generic, TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from regstd.kernel.clocks import NEXT_AT, OVERDUE, kind_of
from regstd.kernel.errors import Conflict
from regstd.runtime.store import AggregateStore, Document
from regstd.runtime.unit_of_work import Decision, UnitOfWork

log = logging.getLogger(__name__)

A = TypeVar("A")


class ClockScheduler(Generic[A]):
    """Fires the due clocks of one kind of aggregate; several instances may run at once.

    Each round finds the aggregates whose `clocks_next_at` has come and applies `decide` (advance
    the clocks, move `clocks_next_at` on, return the events) to each through the unit of work.
    Nothing is kept in memory: a restart, however late, finds the same field in the same documents.

    With `adopt_unscheduled`, the first round of each instance also schedules at once every
    document stored without the field (aggregates written before their kind had clocks), so that
    `decide` can start their clocks from their history. `decide` must then store the field for them
    (`scheduling_fields`), or they would be looked at again every round.
    """

    def __init__(
        self,
        store: AggregateStore,
        work: UnitOfWork[A],
        decide: Decision[A],
        *,
        batch_size: int = 100,
        adopt_unscheduled: bool = False,
    ) -> None:
        """`store` is where the aggregates are found by their field; `work` changes them, on its clock."""
        self.collection: AsyncCollection[Document] = store.collection
        self.work = work
        self.decide = decide
        self.batch_size = batch_size
        self._adopt = adopt_unscheduled

    async def ensure_indexes(self) -> None:
        """The index the rounds scan."""
        await self.collection.create_index([(NEXT_AT, ASCENDING)], name="clocks_next_at")

    async def tick(self) -> int:
        """One round: how many aggregates changed."""
        now = self.work.now()
        if self._adopt:
            await self.adopt_unscheduled(now)
            self._adopt = False
        cursor = (
            self.collection.find({NEXT_AT: {"$lte": now}}, projection={"_id": True})
            .sort(NEXT_AT, ASCENDING)
            .limit(self.batch_size)
        )
        changed = 0
        for aggregate_id in [doc["_id"] async for doc in cursor]:
            changed += await self._fire(aggregate_id)
        return changed

    async def adopt_unscheduled(self, now: datetime) -> int:
        """Schedule at `now` every document without `clocks_next_at`; how many there were.

        Set outside the versioned save on purpose: it only says "look at this one", and the save that
        follows writes the field from the aggregate's own clocks.
        """
        result = await self.collection.update_many({NEXT_AT: {"$exists": False}}, {"$set": {NEXT_AT: now}})
        if result.modified_count:
            log.info("scheduled aggregates stored without clocks", extra={"count": result.modified_count})
        return result.modified_count

    async def overdue_counts(self) -> Counter[str]:
        """Overdue clocks of every aggregate, counted by kind (`kind_of` their names)."""
        cursor = self.collection.find({OVERDUE: {"$exists": True, "$ne": []}}, projection={OVERDUE: True})
        return Counter([kind_of(name) async for doc in cursor for name in doc.get(OVERDUE) or ()])

    async def _fire(self, aggregate_id: str) -> int:
        try:
            outcome = await self.work.change_if_present(aggregate_id, self.decide)
        except Conflict:
            log.warning(
                "clocks kept changing while being fired; next round", extra={"aggregate": aggregate_id}
            )
            return 0
        return int(outcome is not None and outcome.stored)
