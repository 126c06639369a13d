"""The unit of work: the one way a service changes an aggregate.

Load the aggregate, let the pure domain decide, and save its new state with the events the decision
produced and the id of the event it consumed, in one atomic, versioned write of the aggregate's
document (`store.AggregateStore`). When someone else saved the aggregate meanwhile, load and decide
again; after `attempts` tries, refuse with `Conflict` ("try again"). Every handler of every service
goes through here, so the retry policy and the conflict signal are decided once.

A decision is a pure function `(aggregate, now) -> (aggregate, events)`. A decision that produces
no events and leaves the aggregate's stored state as it was stores nothing. Domain errors
(`regstd.kernel.errors`) raised by a decision pass through unchanged: nothing was written.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from regstd.contracts.envelope import EventModel
from regstd.kernel.errors import Conflict, NotFound
from regstd.kernel.time import Now, to_milliseconds, utc_now
from regstd.runtime.events import PendingEvent, new_event
from regstd.runtime.store import Loaded, VersionConflict

A = TypeVar("A")

Events = Sequence[EventModel]
Decision = Callable[[A, datetime], tuple[A, Events]]
"""What a command decides for an existing aggregate at a moment: its new value and the events."""
Creation = Callable[[datetime], tuple[A, Events]]
"""What a command decides for an aggregate that does not exist yet."""
Consumption = Callable[[A | None, datetime], tuple[A, Events] | None]
"""What a consumed event decides for an aggregate that may not exist yet; None: no effect."""


class Documents(Protocol):
    """Where aggregate documents are kept: `store.AggregateStore`, or the in-memory one of the tests
    (`regstd.runtime.testing.MemoryAggregateStore`)."""

    async def load(self, aggregate_id: str) -> Loaded | None:
        """The aggregate's stored state with its version, or None."""

    async def save(
        self,
        aggregate_id: str,
        state: Mapping[str, Any],
        *,
        loaded: Loaded | None,
        events: Sequence[PendingEvent] = (),
        consumed: str | None = None,
    ) -> int:
        """Store state, events and the consumed id atomically; VersionConflict when it changed."""


@dataclass(frozen=True)
class Codec(Generic[A]):
    """How one kind of aggregate is kept in its document."""

    to_state: Callable[[A], Mapping[str, Any]]
    from_state: Callable[[str, Mapping[str, Any]], A]


def _plain_state(_: str, state: Mapping[str, Any]) -> dict[str, Any]:
    return dict(state)


PLAIN_STATE: Codec[dict[str, Any]] = Codec(to_state=dict, from_state=_plain_state)
"""An aggregate that is its stored state as a dict (a row remembered from another service's events)."""


@dataclass(frozen=True)
class Outcome(Generic[A]):
    """What a change did: the aggregate as decided, its events, and whether anything was written."""

    aggregate: A
    events: Events
    stored: bool


@dataclass(frozen=True)
class Stored(Generic[A]):
    """An aggregate as loaded, with what a versioned save needs."""

    aggregate: A
    loaded: Loaded


class UnitOfWork(Generic[A]):
    """Load, decide and save one kind of aggregate, retrying on a concurrent change."""

    def __init__(
        self,
        documents: Documents,
        codec: Codec[A],
        *,
        kind: str,
        clock: Now = utc_now,
        attempts: int = 5,
    ) -> None:
        """`kind` names the aggregate in refusals ("no standard …"); `clock` is the service's time."""
        self.documents = documents
        self.codec = codec
        self.kind = kind
        self.clock = clock
        self.attempts = attempts

    def now(self) -> datetime:
        """The service's time in UTC, to the millisecond the store keeps."""
        return to_milliseconds(self.clock())

    async def load(self, aggregate_id: str) -> Stored[A] | None:
        """The aggregate with its version, or None."""
        loaded = await self.documents.load(aggregate_id)
        if loaded is None:
            return None
        return Stored(self.codec.from_state(aggregate_id, loaded.state), loaded)

    async def get(self, aggregate_id: str) -> A:
        """The aggregate; NotFound when there is none."""
        stored = await self.load(aggregate_id)
        if stored is None:
            raise NotFound(f"no {self.kind} {aggregate_id}")
        return stored.aggregate

    async def find(self, aggregate_id: str) -> A | None:
        """The aggregate, or None."""
        stored = await self.load(aggregate_id)
        return None if stored is None else stored.aggregate

    async def create(
        self, aggregate_id: str, decide: Creation[A], *, consumed: str | None = None
    ) -> A | None:
        """Store a new aggregate with its events; None when one with this id already exists (another
        instance or an earlier delivery stored it first) and nothing was written."""
        now = self.now()
        aggregate, events = decide(now)
        try:
            await self.documents.save(
                aggregate_id,
                self.codec.to_state(aggregate),
                loaded=None,
                events=self._pending(events, now),
                consumed=consumed,
            )
        except VersionConflict:
            return None
        return aggregate

    async def change(self, aggregate_id: str, decide: Decision[A]) -> Outcome[A]:
        """Apply a command's decision to an existing aggregate.

        NotFound when it does not exist; Conflict when it kept changing under every attempt.
        """
        outcome = await self._decide_and_save(aggregate_id, decide, missing_ok=False)
        assert outcome is not None  # None only when missing_ok
        return outcome

    async def change_if_present(self, aggregate_id: str, decide: Decision[A]) -> Outcome[A] | None:
        """As `change`, but None when the aggregate does not (or no longer) exist(s)."""
        return await self._decide_and_save(aggregate_id, decide, missing_ok=True)

    async def apply_once(self, aggregate_id: str, event_id: str, decide: Consumption[A]) -> bool:
        """The idempotent consumer: apply a consumed event's effect on one aggregate exactly once.

        An event the aggregate already processed is skipped; `decide` gets the aggregate (None when
        new) and returns its new value and events, or None for no effect. Returns whether this call
        stored an effect.
        """
        for _ in range(self.attempts):
            stored = await self.load(aggregate_id)
            if stored is not None and stored.loaded.has_processed(event_id):
                return False
            now = self.now()
            decided = decide(None if stored is None else stored.aggregate, now)
            if decided is None:
                return False
            aggregate, events = decided
            try:
                await self.documents.save(
                    aggregate_id,
                    self.codec.to_state(aggregate),
                    loaded=None if stored is None else stored.loaded,
                    events=self._pending(events, now),
                    consumed=event_id,
                )
            except VersionConflict:
                continue
            return True
        raise self._kept_changing(aggregate_id)

    async def _decide_and_save(
        self, aggregate_id: str, decide: Decision[A], *, missing_ok: bool
    ) -> Outcome[A] | None:
        for _ in range(self.attempts):
            stored = await self.load(aggregate_id)
            if stored is None:
                if missing_ok:
                    return None
                raise NotFound(f"no {self.kind} {aggregate_id}")
            now = self.now()
            aggregate, events = decide(stored.aggregate, now)
            state = self.codec.to_state(aggregate)
            if not events and self._unchanged(stored.loaded, state):
                return Outcome(aggregate, events, stored=False)
            try:
                await self.documents.save(
                    aggregate_id, state, loaded=stored.loaded, events=self._pending(events, now)
                )
            except VersionConflict:
                continue
            return Outcome(aggregate, events, stored=True)
        raise self._kept_changing(aggregate_id)

    def _unchanged(self, loaded: Loaded, state: Mapping[str, Any]) -> bool:
        # Compared through the codec on both sides, so that what the store did to values (dates as
        # strings, times to the millisecond) does not count as a change.
        before = self.codec.to_state(self.codec.from_state(loaded.id, loaded.state))
        return dict(state) == dict(before)

    def _kept_changing(self, aggregate_id: str) -> Conflict:
        return Conflict(
            f"{self.kind} {aggregate_id} kept changing while this was recorded "
            f"({self.attempts} attempts); try again"
        )

    @staticmethod
    def _pending(events: Events, now: datetime) -> list[PendingEvent]:
        return [new_event(event, now=now) for event in events]
