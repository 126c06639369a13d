"""A partner city's subscriber: its own consumer group on `regstd.publication.standards.v1`,
filtered by area and category, recording each received standard in a local SQLite ledger.

A city follows what it received: a review outcome, an abolition (`StandardWithdrawn`) or a
supersession of one of its standards is recorded and announced, and a revision that supersedes one
of its standards is received even when it falls outside the city's filter (the subscription follows
the standard to its successor).

The offset is committed only after the standard is recorded (the runtime's consumer), and the ledger
is keyed by standard id, so a restarted subscriber resumes where it left off, misses nothing and
prints nothing twice. A city only reads: undecodable events go to the ledger's dead-letter table,
not to any topic.

A city subscribes only to areas it belongs to (the reference data). The ledger keeps the filter
under which everything was delivered (`CityLedger.covered`): when a later filter accepts more (an
area or a category added), the subscriber says what the earlier filters skipped, and
`--replay-skipped` rewinds the city's group to the beginning of the topic, so the standards the
ledger lacks and the filter accepts are delivered, once each (decision 0026).
"""

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from faststream.kafka import KafkaBroker
from opentelemetry.trace import Tracer

from regstd.contracts.publication import (
    StandardPublished,
    StandardReviewConcluded,
    StandardSuperseded,
    StandardWithdrawn,
)
from regstd.contracts.reference import PartnerCity, Reference
from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.runtime.consumer import EventConsumer
from regstd.runtime.events import Delivery
from regstd.runtime.kafka import GroupBusy, rewind_group

_SCHEMA = """
create table if not exists standards (
    standard_id text primary key,
    event_id text not null,
    numbers text not null,
    title_zh text not null,
    area text not null,
    category text not null,
    publication_date text not null,
    implementation_date text not null,
    received_at text not null,
    event text not null
);
create table if not exists changes (
    event_id text primary key,
    standard_id text not null,
    what text not null,
    successor text,
    effective_date text,
    detail text not null,
    received_at text not null
);
create table if not exists dead_letters (
    topic text, partition integer, "offset" integer, error text, received_at text
);
create table if not exists subscription (
    id integer primary key check (id = 1),
    areas text not null,
    categories text,
    covered_areas text not null,
    covered_categories text,
    changed_at text not null
);
"""


class SubscriptionRefused(ValueError):
    """A subscription the reference data does not allow (an area the city is not in), or a replay
    the broker refused; the message says why."""


def member_areas(city: PartnerCity, reference: Reference | None = None) -> tuple[str, ...]:
    """The areas a city belongs to: those its record lists or, when it lists none, every area its
    province is a party of."""
    if city.areas or reference is None:
        return tuple(city.areas)
    return tuple(sorted(a.id for a in reference.areas.values() if city.region in a.parties))


def require_membership(city: PartnerCity, areas: Collection[str], reference: Reference | None = None) -> None:
    """SubscriptionRefused naming each area the city does not belong to, and those it does."""
    members = member_areas(city, reference)
    strangers = sorted(set(areas) - set(members))
    if strangers:
        raise SubscriptionRefused(
            f"{city.name_zh} ({city.code}) does not belong to {', '.join(strangers)}: it is in "
            f"{', '.join(members) or 'no area'} (reference data), and a city subscribes only to "
            "areas it belongs to"
        )


@dataclass(frozen=True)
class Filter:
    """What a subscription accepts: standards of these areas, and of these categories (None: all)."""

    areas: frozenset[str]
    categories: frozenset[str] | None

    def accepts(self, area: str, category: str) -> bool:
        """Whether a standard of this area and category passes the filter."""
        return area in self.areas and (self.categories is None or category in self.categories)

    def covers(self, other: "Filter") -> bool:
        """Whether this filter accepts everything `other` accepts."""
        categories_covered = self.categories is None or (
            other.categories is not None and other.categories <= self.categories
        )
        return other.areas <= self.areas and categories_covered

    def __and__(self, other: "Filter") -> "Filter":
        """What both filters accept."""
        if self.categories is None or other.categories is None:
            categories = other.categories if self.categories is None else self.categories
        else:
            categories = self.categories & other.categories
        return Filter(self.areas & other.areas, categories)

    def beyond(self, other: "Filter") -> str:
        """What this filter accepts that `other` does not, in words."""
        parts = []
        if self.areas - other.areas:
            parts.append(f"areas {', '.join(sorted(self.areas - other.areas))}")
        if other.categories is not None and (self.categories is None or self.categories - other.categories):
            extra = (
                "all" if self.categories is None else ", ".join(sorted(self.categories - other.categories))
            )
            parts.append(f"categories {extra}")
        return " and ".join(parts)

    def describe(self) -> str:
        """The filter in words."""
        categories = "all" if self.categories is None else ", ".join(sorted(self.categories)) or "none"
        return f"areas {', '.join(sorted(self.areas))}; categories {categories}"


def _categories(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(json.loads(text))


def _categories_text(categories: frozenset[str] | None) -> str | None:
    return None if categories is None else json.dumps(sorted(categories), ensure_ascii=False)


class CityLedger:
    """What one city has received, in a local SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(path)
        self.connection.executescript(_SCHEMA)

    def record(self, delivery: Delivery[StandardPublished]) -> bool:
        """Store a received standard; False when it was recorded before (a redelivery)."""
        event = delivery.data
        with self.connection:
            cursor = self.connection.execute(
                "insert or ignore into standards values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.standard_id,
                    delivery.id,
                    json.dumps([n.number for n in event.numbers], ensure_ascii=False),
                    event.title_zh,
                    event.area,
                    event.category,
                    event.publication_date.isoformat(),
                    event.implementation_date.isoformat(),
                    datetime.now(UTC).isoformat(),
                    event.model_dump_json(),
                ),
            )
        return cursor.rowcount == 1

    def has(self, standard_id: str) -> bool:
        """Whether the city received this standard."""
        row = self.connection.execute("select 1 from standards where standard_id = ?", (standard_id,))
        return row.fetchone() is not None

    def record_change(
        self,
        event_id: str,
        standard_id: str,
        what: str,
        detail: str,
        *,
        successor: str | None = None,
        effective_date: str | None = None,
    ) -> bool:
        """Store what happened to a received standard; False when recorded before (a redelivery)."""
        with self.connection:
            cursor = self.connection.execute(
                "insert or ignore into changes values (?, ?, ?, ?, ?, ?, ?)",
                (
                    event_id,
                    standard_id,
                    what,
                    successor,
                    effective_date,
                    detail,
                    datetime.now(UTC).isoformat(),
                ),
            )
        return cursor.rowcount == 1

    def changes(self, standard_id: str) -> list[tuple[str, str | None, str | None]]:
        """(what, successor, effective date) of everything that happened to a standard, in order."""
        rows = self.connection.execute(
            "select what, successor, effective_date from changes where standard_id = ? order by rowid",
            (standard_id,),
        )
        return list(rows)

    def current(self, standard_id: str) -> str:
        """The standard in force in its line: follows supersessions to the newest successor."""
        seen = {standard_id}
        while True:
            row = self.connection.execute(
                "select successor from changes where standard_id = ? and what = 'superseded'", (standard_id,)
            ).fetchone()
            if row is None or row[0] in seen:
                return standard_id
            standard_id = row[0]
            seen.add(standard_id)

    def standards(self) -> list[tuple[str, str, str]]:
        """(standard id, numbers, title) of everything received, in the order received."""
        rows = self.connection.execute("select standard_id, numbers, title_zh from standards order by rowid")
        return [(sid, " = ".join(json.loads(numbers)), title) for sid, numbers, title in rows]

    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]
    ) -> None:
        """Keep an undecodable event locally; a city writes to no topic."""
        with self.connection:
            self.connection.execute(
                "insert into dead_letters values (?, ?, ?, ?, ?)",
                (
                    headers.get("x-dlq-original-topic", topic),
                    int(headers.get("x-dlq-original-partition", -1)),
                    int(headers.get("x-dlq-original-offset", -1)),
                    headers.get("x-dlq-error", ""),
                    datetime.now(UTC).isoformat(),
                ),
            )

    def covered(self) -> Filter | None:
        """The filter under which every standard it accepts has been delivered, from the topic's
        beginning (None: nothing subscribed yet)."""
        row = self.connection.execute(
            "select covered_areas, covered_categories from subscription where id = 1"
        ).fetchone()
        return None if row is None else Filter(frozenset(json.loads(row[0])), _categories(row[1]))

    def subscribed(self, current: Filter, covered: Filter) -> None:
        """Record the filter in use and the one now covered."""
        with self.connection:
            self.connection.execute(
                "insert or replace into subscription values (1, ?, ?, ?, ?, ?)",
                (
                    json.dumps(sorted(current.areas), ensure_ascii=False),
                    _categories_text(current.categories),
                    json.dumps(sorted(covered.areas), ensure_ascii=False),
                    _categories_text(covered.categories),
                    datetime.now(UTC).isoformat(),
                ),
            )

    def close(self) -> None:
        """Close the SQLite file."""
        self.connection.close()


def describe(event: StandardPublished) -> str:
    """One line for a received standard: its numbers, title, category and dates."""
    numbers = " = ".join(n.number for n in event.numbers)
    return (
        f"{numbers}  {event.title_zh}  [{event.area}/{event.category}, {event.kind}] "
        f"published {event.publication_date}, in force from {event.implementation_date}"
    )


class CitySubscriber:
    """One partner city's subscription: which areas and categories it wants, where it records them."""

    def __init__(
        self,
        city: PartnerCity,
        ledger: CityLedger,
        *,
        areas: Collection[str] = (),
        categories: Collection[str] = (),
        announce: Callable[[str], None] = print,
        group_id: str | None = None,
        tracer: Tracer | None = None,
        reference: Reference | None = None,
    ) -> None:
        """`areas` default to the city's own; SubscriptionRefused for an area it does not belong to
        (`member_areas`: its record's, or its province's when the record lists none)."""
        members = member_areas(city, reference)
        require_membership(city, areas, reference)
        self.city = city
        self.tracer = tracer
        self._group_id = group_id
        self.ledger = ledger
        self.areas = frozenset(areas or members)
        self.categories = frozenset(categories)
        self.announce = announce

    @property
    def filter(self) -> Filter:
        """What this subscription accepts."""
        return Filter(self.areas, self.categories or None)

    def skipped(self) -> str | None:
        """What earlier filters may have skipped that this one accepts, in words; None when this
        filter accepts nothing the ledger's covered filter did not (or nothing was subscribed yet)."""
        covered = self.ledger.covered()
        if covered is None or covered.covers(self.filter):
            return None
        return self.filter.beyond(covered)

    def start(self, *, replayed: bool) -> None:
        """Record this filter in the ledger; offer a replay when it accepts what was skipped.

        After a replay from the topic's beginning (`replayed`), everything this filter accepts is
        delivered; otherwise only what both it and the earlier covered filter accept."""
        covered = self.ledger.covered()
        if replayed:
            self._say(
                f"replaying the topic from its beginning for {self.filter.describe()}: standards this "
                "ledger lacks and the filter accepts are delivered once each"
            )
            self.ledger.subscribed(self.filter, self.filter)
            return
        skipped = self.skipped()
        if skipped:
            self._say(
                f"this filter now also accepts {skipped}, which an earlier filter skipped: standards "
                "published before are not delivered unless you run again with --replay-skipped"
            )
        self.ledger.subscribed(self.filter, self.filter if covered is None else covered & self.filter)

    @property
    def group_id(self) -> str:
        """The city's own consumer group: its position in the topic survives restarts."""
        return self._group_id or f"city-{self.city.code}"

    def wants(self, event: StandardPublished) -> bool:
        """Whether the standard is in the city's areas and, if it chose categories, in one of them,
        or revises a standard the city follows."""
        if event.supersedes is not None and self.ledger.has(event.supersedes):
            return True
        return self.filter.accepts(event.area, event.category)

    async def receive(self, delivery: Delivery[StandardPublished]) -> None:
        """Record and announce a wanted standard once."""
        if self.wants(delivery.data) and self.ledger.record(delivery):
            revises = f" (revises {delivery.data.supersedes})" if delivery.data.supersedes else ""
            self._say(f"{describe(delivery.data)}{revises}")

    async def superseded(self, delivery: Delivery[StandardSuperseded]) -> None:
        """A followed standard was superseded: record it and follow the successor."""
        event = delivery.data
        successor = " = ".join(n.number for n in event.superseded_by_numbers)
        if self.ledger.has(event.standard_id) and self.ledger.record_change(
            delivery.id,
            event.standard_id,
            "superseded",
            successor,
            successor=event.superseded_by,
            effective_date=event.effective_date.isoformat(),
        ):
            self._say(f"{_numbers(event)} is superseded by {successor} from {event.effective_date}")

    async def withdrawn(self, delivery: Delivery[StandardWithdrawn]) -> None:
        """A followed standard was abolished (废止)."""
        event = delivery.data
        if self.ledger.has(event.standard_id) and self.ledger.record_change(
            delivery.id,
            event.standard_id,
            "abolished",
            event.reason,
            effective_date=event.effective_date.isoformat(),
        ):
            self._say(f"{_numbers(event)} is abolished from {event.effective_date}: {event.reason}")

    async def reviewed(self, delivery: Delivery[StandardReviewConcluded]) -> None:
        """The review (复审) of a followed standard concluded."""
        event = delivery.data
        if self.ledger.has(event.standard_id) and self.ledger.record_change(
            delivery.id, event.standard_id, f"review:{event.outcome}", event.outcome
        ):
            self._say(f"{_numbers(event)} reviewed on {event.concluded_on}: {event.outcome}")

    def _say(self, line: str) -> None:
        self.announce(f"[{self.city.code} {self.city.name_zh}] {line}")

    def attach(self, broker: KafkaBroker) -> EventConsumer:
        """Subscribe on a broker with commits after recording."""
        consumer = EventConsumer(
            PUBLICATION_STANDARDS,
            self.group_id,
            {
                StandardPublished: self.receive,
                StandardSuperseded: self.superseded,
                StandardWithdrawn: self.withdrawn,
                StandardReviewConcluded: self.reviewed,
            },
            self.ledger.dead_letter,
            tracer=self.tracer,  # the consume span continues the publication's trace
        )
        consumer.subscribe(broker)
        return consumer


def _numbers(event: StandardSuperseded | StandardWithdrawn | StandardReviewConcluded) -> str:
    return " = ".join(n.number for n in event.numbers)


async def run_subscriber(
    subscriber: CitySubscriber, bootstrap: str, stop: asyncio.Event, *, replay_skipped: bool = False
) -> None:
    """Consume until `stop` is set, then leave the group cleanly. With `replay_skipped`, the city's
    group first goes back to the topic's beginning (what the ledger has is not delivered again)."""
    if replay_skipped:
        try:
            await rewind_group(bootstrap, subscriber.group_id, PUBLICATION_STANDARDS.name)
        except GroupBusy as busy:
            raise SubscriptionRefused(
                f"{busy}: is a subscriber of this city still running? Stop it, then replay"
            ) from busy
    subscriber.start(replayed=replay_skipped)
    quiet = logging.getLogger(f"regstd.city.{subscriber.city.code}")
    quiet.setLevel(logging.WARNING)  # the city's own lines are the output; the framework's are noise
    broker = KafkaBroker(bootstrap, client_id=subscriber.group_id, logger=quiet)
    consumer = subscriber.attach(broker)
    await broker.start()
    try:
        await stop.wait()
    finally:
        await consumer.stop_handling()
        await broker.stop()
