"""The unit of work: the one way a service changes an aggregate.

Load the aggregate, let the pure domain decide, and save its new state with the events the decision
produced and the id of the event it consumed, in one atomic, versioned write of the aggregate's
document (`store.AggregateStore`). When someone else saved the aggregate meanwhile, load and decide
again; after `attempts` tries, refuse with `Conflict` ("try again"). Every handler of every service
goes through here, so the retry policy and the conflict signal are decided once.

A decision is a pure function `(aggregate, now) -> (aggregate, events)`. A decision that produces
no events and leaves the aggregate's stored state as it was stores nothing. Domain errors
(`regstd.kernel.errors`) raised by a decision pass through unchanged: nothing was written.

Inside a request sent with an `Idempotency-Key` (`regstd.runtime.idempotency`), every save also
stores the request's key among the aggregate's processed ids, in the same atomic write. A retry of
that request re-executed after a crash (its answer was never stored) finds the key on the aggregate
and does not decide again: `change` gives the aggregate as it is, `create` the one the request made,
so the retry answers as the first execution would have instead of "already decided" (decision 28).
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
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


@dataclass
class RequestKey:
    """The `Idempotency-Key` of the request being answered, as the units of work keep it."""

    marker: str
    """Stored among the processed ids of every aggregate the request changes: the principal's key
    and the record's nonce, so a key used again after its record expired is a new request."""
    changed: set[str] = field(default_factory=set)
    """The aggregates ("kind/id") this execution saved: a second change of one in the same request
    is decided, not taken for a retry's."""
    retryable: bool = False
    """The answer says "try again" (an aggregate kept changing): it is not kept for the key."""


_REQUEST_KEY: ContextVar[RequestKey | None] = ContextVar("regstd_request_key", default=None)


def keyed_request() -> RequestKey | None:
    """The key of the request being answered, or None outside a request with an Idempotency-Key."""
    return _REQUEST_KEY.get()


@contextmanager
def answering(key: RequestKey) -> Iterator[RequestKey]:
    """Run the changes of one keyed request: the units of work inside store its marker."""
    token = _REQUEST_KEY.set(key)
    try:
        yield key
    finally:
        _REQUEST_KEY.reset(token)


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

    def request_seed(self) -> str | None:
        """What stays the same on every retry of the keyed request being answered (None outside
        one): a new aggregate's id drawn from it is found again by a retry instead of doubled."""
        request = keyed_request()
        return None if request is None else request.marker

    def made_by_this_request(self, stored: Stored[A]) -> bool:
        """Whether the keyed request being answered already changed this aggregate in an earlier
        execution whose answer was lost (a crash): a retry then answers as that execution did."""
        request = keyed_request()
        return (
            request is not None
            and stored.loaded.has_processed(request.marker)
            and self._key(stored.loaded.id) not in request.changed
        )

    async def create(
        self, aggregate_id: str, decide: Creation[A], *, consumed: str | None = None
    ) -> A | None:
        """Store a new aggregate with its events; None when one with this id already exists (another
        instance or an earlier delivery stored it first) and nothing was written. Within a keyed
        request, an aggregate this request created before (a retry after a crash) is returned."""
        now = self.now()
        aggregate, events = decide(now)
        request = keyed_request()
        try:
            await self.documents.save(
                aggregate_id,
                self.codec.to_state(aggregate),
                loaded=None,
                events=self._pending(events, now),
                consumed=consumed or self.request_seed(),
            )
        except VersionConflict:
            stored = await self.load(aggregate_id) if request is not None else None
            return stored.aggregate if stored is not None and self.made_by_this_request(stored) else None
        self._changed(aggregate_id)
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
            if self.made_by_this_request(stored):
                # A retry of a keyed request whose first execution stored this change and died
                # before its answer was kept: the change is there, so answer with the aggregate.
                return Outcome(stored.aggregate, (), stored=False)
            now = self.now()
            aggregate, events = decide(stored.aggregate, now)
            state = self.codec.to_state(aggregate)
            if not events and self._unchanged(stored.loaded, state):
                return Outcome(aggregate, events, stored=False)
            try:
                await self.documents.save(
                    aggregate_id,
                    state,
                    loaded=stored.loaded,
                    events=self._pending(events, now),
                    consumed=self.request_seed(),
                )
            except VersionConflict:
                continue
            self._changed(aggregate_id)
            return Outcome(aggregate, events, stored=True)
        raise self._kept_changing(aggregate_id)

    def _key(self, aggregate_id: str) -> str:
        return f"{self.kind}/{aggregate_id}"

    def _changed(self, aggregate_id: str) -> None:
        request = keyed_request()
        if request is not None:
            request.changed.add(self._key(aggregate_id))

    def _unchanged(self, loaded: Loaded, state: Mapping[str, Any]) -> bool:
        # Compared through the codec on both sides, so that what the store did to values (dates as
        # strings, times to the millisecond) does not count as a change.
        before = self.codec.to_state(self.codec.from_state(loaded.id, loaded.state))
        return dict(state) == dict(before)

    def _kept_changing(self, aggregate_id: str) -> Conflict:
        request = keyed_request()
        if request is not None:
            request.retryable = True  # "try again" must not be the key's answer for good
        return Conflict(
            f"{self.kind} {aggregate_id} kept changing while this was recorded "
            f"({self.attempts} attempts); try again"
        )

    @staticmethod
    def _pending(events: Events, now: datetime) -> list[PendingEvent]:
        return [new_event(event, now=now) for event in events]
