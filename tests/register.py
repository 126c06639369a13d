"""The register in memory: project intake and publication wired to each other the way Kafka wires
them, over the runtime's in-memory aggregate store, with one clock.

Every event a service stores in an outbox is delivered to the other service's handlers, in order,
until neither has anything left to say (`settle`); that is what the relays and consumers do on the
real stack. The model-based test (`test_register_stateful.py`) drives it with random operations.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from regstd.contracts import EventModel, event_model_for
from regstd.contracts.reference import load_reference
from regstd.intake import main as intake_main
from regstd.intake.app.intake import Policy as IntakePolicy
from regstd.intake.domain.clocks import ClockRules
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import Period
from regstd.kernel.principals import Principal
from regstd.kernel.time import china_date
from regstd.publication import main as publication_main
from regstd.publication.app.submissions import SubmissionCases
from regstd.runtime.events import Delivery
from regstd.runtime.testing import MemoryAggregateStore, MovableClock, delivered, service_test_module

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = load_reference()
Handler = Callable[[Delivery[Any]], Awaitable[None]]


intake_memory = service_test_module(ROOT / "services/project-intake/tests", "register_intake_tests")
publication_memory = service_test_module(ROOT / "services/publication/tests", "register_publication_tests")


def regulator(region: str) -> Principal:
    """The regulator of a region, as the token book names it."""
    return Principal(kind="regulator", code=region, name=REFERENCE.regions[region].regulator_zh)


class Bus:
    """One topic's outbox stores and the handlers of the services consuming it, delivered in order."""

    def __init__(self, stores: list[MemoryAggregateStore], handlers: Mapping[type[EventModel], Handler]):
        self.stores = stores
        self.handlers = {model.event_type: handler for model, handler in handlers.items()}
        self.read = [0 for _ in stores]
        self.offset = 0

    async def deliver(self) -> int:
        """Hand every event not yet delivered to its handler; how many there were."""
        count = 0
        for i, store in enumerate(self.stores):
            while self.read[i] < len(store.outbox):
                event = store.outbox[self.read[i]]
                self.read[i] += 1
                self.offset += 1
                count += 1
                handler = self.handlers.get(event.type)
                if handler is not None:
                    model = event_model_for(event.type)
                    assert model is not None, f"no contract for {event.type}"
                    data = model.model_validate(event.data)
                    await handler(delivered(data, event_id=event.id, time=event.time, offset=self.offset))
        return count


class Register:
    """Intake and publication in memory, wired as on the real stack, at a time the test moves."""

    def __init__(self, start: datetime = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)) -> None:
        self.clock = MovableClock(start)
        # Public comment may close at once, as in the local deployment: the test moves time itself.
        rules = ClockRules(
            public_comment=Period(amount=0, unit="calendar_days"), calendar=WorkingDayCalendar()
        )
        self.intake_side = intake_memory.MemoryIntake(clock=self.clock, policy=IntakePolicy(clocks=rules))
        self.intake = self.intake_side.intake
        self.publication_side = publication_memory.memory(self.clock)
        self.publishing = self.publication_side.publishing
        self.life = self.publication_side.life
        self.submissions = SubmissionCases(
            self.publication_side.standards,
            self.publication_side.queries,
            REFERENCE,
            self.publication_side.policy.life,
            designations=self.publication_side.designations,
        )
        self.to_publication = Bus(
            [self.intake_side.project_store], publication_subscriptions(self.publication_side)
        )
        self.to_intake = Bus(
            [self.publication_side.store, self.publication_side.refusals_store],
            intake_subscriptions(self.intake_side),
        )
        self.loop = asyncio.new_event_loop()

    def run(self, work: Awaitable[Any]) -> Any:
        """Run one operation to its end."""
        return self.loop.run_until_complete(work)

    def close(self) -> None:
        """Release the event loop."""
        self.loop.close()

    def today(self) -> Any:
        """Today in China Standard Time, by the register's clock."""
        return china_date(self.clock())

    # -- what the invariants read ---------------------------------------------------------------

    def standards(self) -> list[Any]:
        """Every standard publication holds."""
        return list(self.publication_side.all())

    def allocations(self) -> list[Any]:
        """Every number handed out of a block."""
        return list(self.publication_side.allocator.allocations.values())

    def events(self, model: type[EventModel]) -> list[dict[str, Any]]:
        """The data of every event of one type either service produced, in order."""
        stores = [
            self.intake_side.project_store,
            self.publication_side.store,
            self.publication_side.refusals_store,
        ]
        return [e.data for store in stores for e in store.events_of(model.event_type)]

    async def settle(self) -> None:
        """Let the services talk until neither has anything left to say, with the background rounds
        (publication of what is due, repairs) run as their loops would."""
        for _ in range(100):
            await self.publishing.tick()
            moved = await self.to_publication.deliver() + await self.to_intake.deliver()
            if not moved:
                return
        raise AssertionError("the services kept talking to each other: a loop of events")


def publication_subscriptions(side: Any) -> Mapping[type[EventModel], Handler]:
    """What publication consumes from intake's topic: as its main.py wires it."""
    return publication_main.subscriptions(side.projects, side.publishing)


def intake_subscriptions(side: Any) -> Mapping[type[EventModel], Handler]:
    """What intake consumes from publication's topic: as its main.py wires it."""
    return intake_main.subscriptions(side.intake)
