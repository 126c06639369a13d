"""The `Standard` aggregate, pure: a joint local standard from the moment it holds a number, its
publication (at once or on its due date) and its withdrawal before publication. No I/O here.

A standard is `numbered` once it holds a sequence number and `published` once announced with its
publication and implementation dates (calendar dates in China Standard Time). A numbered standard
that is withdrawn before publication is `withdrawn`: its number is recorded as not issued and
never given to another standard. After publication its life (clocks, filings, reviews, how it
ended) is kept inside it (`life.py`); a revision ends it as `superseded` (`revision.py`), a review
may end it as `abolished`.

Following a final approval: `plan_joint_standard` checks it before a number is spent; the standard
receives a sequence (the block's next, `numbering.py`, or the one it revises, `revision.py`);
`number_standard` numbers it and publishes it at once when the policy's delay is 0, otherwise
`publish_standard` publishes it when its date comes.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args

from regstd.contracts.common import Actor, Kind, TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.publication import NumberNotIssued, PartyNumber, StandardPublished
from regstd.contracts.reference import Reference
from regstd.kernel.clocks import NEXT_AT, OVERDUE, scheduling_fields
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.locations import is_web_location
from regstd.kernel.time import china_date, start_of_china_day
from regstd.publication.domain.approval import ApprovalRefusal
from regstd.publication.domain.life import Life, LifePolicy, begin_life
from regstd.publication.domain.numbering import Withdrawal, joint_numbers, number_key

Status = Literal["numbered", "published", "withdrawn", "superseded", "abolished"]
STATUSES: tuple[Status, ...] = get_args(Status)
Standing = Literal["numbered", "not_yet_in_force", "in_force", "withdrawn", "superseded", "abolished"]
"""A standard's status as shown to the public on a given day (`Standard.standing`)."""
STANDINGS: tuple[Standing, ...] = get_args(Standing)

MAX_STANDARD_ID = 64  # the contract's limit on standard_id


# ---------------------------------------------------------------------------------------------
# Dates


@dataclass(frozen=True)
class PublicationDates:
    """When a standard is published and when it takes effect."""

    published_at: datetime
    publication_date: date
    implementation_date: date

    @property
    def year(self) -> int:
        """The year in the number: the year of publication."""
        return self.publication_date.year


def publication_dates(published_at: datetime, implementation_offset_days: int) -> PublicationDates:
    """Publication date: the China Standard Time date of publication; implementation date that date
    plus the offset."""
    if implementation_offset_days < 0:
        raise Invalid("the implementation date cannot come before the publication date")
    day = china_date(published_at)
    return PublicationDates(
        published_at.astimezone(UTC), day, day + timedelta(days=implementation_offset_days)
    )


# ---------------------------------------------------------------------------------------------
# The Standard aggregate


def standard_id_for(project_id: str) -> str:
    """The standard's id, derived from its project so that every instance derives the same one."""
    candidate = f"std-{project_id}"
    if len(candidate) <= MAX_STANDARD_ID:
        return candidate
    return "std-" + hashlib.sha256(project_id.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True)
class Text:
    """Where the approved text lives and its SHA-256 digest."""

    location: str
    sha256: str


@dataclass(frozen=True)
class JointPlan:
    """A finally approved joint project, checked against the reference data, waiting for a number."""

    standard_id: str
    project_id: str
    area: str
    block_first: int
    parties: tuple[str, ...]
    kind: Kind
    category: str
    title_zh: str
    title_en: str | None
    scope: str
    eco_civilization: bool
    text: Text
    project_approved_at: datetime
    approved_at: datetime
    supersedes: str | None = None


def plan_joint_standard(approval: ProjectFinallyApproved, reference: Reference) -> JointPlan:
    """Check a final approval before a number is spent on it; `ApprovalRefusal` (with its rule:
    `no_joint_block`, `invalid_approval`) when it never can be.

    The parties are put in the order the area lists them, so every instance and every redelivery
    produces the same numbers in the same order.
    """
    area = reference.areas.get(approval.area)
    if area is None:
        raise ApprovalRefusal(
            "invalid_approval",
            f"unknown cooperation area {approval.area!r}; known: {sorted(reference.areas)}",
        )
    if area.joint_number_block_first is None:
        raise ApprovalRefusal(
            "no_joint_block",
            f"area {area.id} ({area.name_en}) has no joint number block, so it cannot publish a "
            "joint standard",
        )
    if len(set(approval.parties)) != len(approval.parties):
        raise ApprovalRefusal("invalid_approval", f"parties repeat: {approval.parties}")
    strangers = sorted(set(approval.parties) - set(area.parties))
    if strangers:
        raise ApprovalRefusal(
            "invalid_approval",
            f"regions {strangers} are not parties of area {area.id} ({list(area.parties)})",
        )
    if len(approval.parties) < area.min_parties:
        raise ApprovalRefusal(
            "invalid_approval",
            f"a joint standard of area {area.id} needs at least {area.min_parties} parties",
        )
    if not is_web_location(approval.text.location):
        raise ApprovalRefusal(
            "invalid_approval",
            f"the text location {approval.text.location[:200]!r} is not an https: or http: URL",
        )
    parties = tuple(p for p in area.parties if p in approval.parties)
    return JointPlan(
        standard_id=standard_id_for(approval.project_id),
        project_id=approval.project_id,
        area=area.id,
        block_first=area.joint_number_block_first,
        parties=parties,
        kind=approval.kind,
        category=approval.category,
        title_zh=approval.title_zh,
        title_en=approval.title_en,
        scope=approval.scope,
        eco_civilization=approval.eco_civilization,
        text=Text(approval.text.location, approval.text.sha256),
        project_approved_at=approval.project_approved_at,
        approved_at=approval.approved_at,
        supersedes=approval.supersedes,
    )


@dataclass(frozen=True)
class Standard:
    """A joint local standard from the moment it holds a number."""

    id: str
    project_id: str | None
    area: str
    parties: tuple[str, ...]
    kind: Kind
    category: str
    title_zh: str
    title_en: str | None
    scope: str
    eco_civilization: bool
    text: Text
    sequence: int
    status: Status
    numbers: tuple[PartyNumber, ...]
    year: int
    numbered_at: datetime
    publish_due_on: date
    project_approved_at: datetime | None = None
    approved_at: datetime | None = None
    published_at: datetime | None = None
    publication_date: date | None = None
    implementation_date: date | None = None
    withdrawal: Withdrawal | None = field(default=None)
    supersedes: str | None = None
    life: Life | None = None  # after publication: clocks, filings, reviews, ending (`life.py`)

    # -- rules ---------------------------------------------------------------------------------

    @classmethod
    def numbered(
        cls,
        plan: JointPlan,
        sequence: int,
        *,
        at: datetime,
        publication_delay_days: int,
        not_before: date | None = None,
    ) -> "Standard":
        """A planned standard that received its sequence number; to be published on the China
        Standard Time date `publication_delay_days` after today, or on `not_before` when that is
        later (a revision approved in its predecessor's year waits for 1 January, `revision.py`).
        Its numbers carry that date's year until publication fixes the year for good."""
        if sequence < plan.block_first:
            raise Invalid(f"sequence {sequence} lies before block {plan.area}'s first {plan.block_first}")
        if publication_delay_days < 0:
            raise Invalid("a publication delay cannot be negative")
        due = china_date(at) + timedelta(days=publication_delay_days)
        if not_before is not None and not_before > due:
            due = not_before
        return cls(
            id=plan.standard_id,
            project_id=plan.project_id,
            area=plan.area,
            parties=plan.parties,
            kind=plan.kind,
            category=plan.category,
            title_zh=plan.title_zh,
            title_en=plan.title_en,
            scope=plan.scope,
            eco_civilization=plan.eco_civilization,
            text=plan.text,
            sequence=sequence,
            status="numbered",
            numbers=joint_numbers(plan.parties, plan.kind, sequence, due.year),
            year=due.year,
            numbered_at=at.astimezone(UTC),
            publish_due_on=due,
            project_approved_at=plan.project_approved_at,
            approved_at=plan.approved_at,
            supersedes=plan.supersedes,
        )

    @property
    def designations(self) -> tuple[str, ...]:
        """Its designations (code + sequence + year), each in the one canonical form: no other
        standard may ever carry one of them (decision 0022)."""
        return tuple(number_key(n.number) for n in self.numbers)

    def in_force_on(self, today: date) -> bool:
        """Whether it applies on this China Standard Time date: published, and its implementation
        date (实施日期) has come. Derived from the date asked, never stored, so it cannot go stale."""
        return (
            self.status == "published"
            and self.implementation_date is not None
            and self.implementation_date <= today
        )

    def standing(self, today: date) -> Standing:
        """Its status as the public reads it today: `published` splits into `not_yet_in_force`
        (before its implementation date) and `in_force`."""
        if self.status != "published":
            return self.status
        return "in_force" if self.in_force_on(today) else "not_yet_in_force"

    @property
    def publish_due_at(self) -> datetime:
        """The moment from which the standard may be published: the start of its due date in CST."""
        return start_of_china_day(self.publish_due_on)

    def is_due(self, now: datetime) -> bool:
        """Whether a numbered standard's publication date has come."""
        return self.status == "numbered" and now >= self.publish_due_at

    def publish(self, at: datetime, implementation_offset_days: int) -> "Standard":
        """Publish: dates in China Standard Time, the year of the numbers is the publication year."""
        if self.status == "published":
            raise Conflict(f"standard {self.id} was already published on {self.publication_date}")
        if self.status == "withdrawn":
            raise Conflict(f"standard {self.id} was withdrawn before publication; its number is not issued")
        dates = publication_dates(at, implementation_offset_days)
        return replace(
            self,
            status="published",
            year=dates.year,
            numbers=joint_numbers(self.parties, self.kind, self.sequence, dates.year),
            published_at=dates.published_at,
            publication_date=dates.publication_date,
            implementation_date=dates.implementation_date,
        )

    def withdraw(self, reason: str, by: Actor, at: datetime) -> "Standard":
        """Withdraw a numbered, unpublished standard: its number is not issued and never reused."""
        if by.kind != "regulator" or by.code not in self.parties:
            raise Forbidden(f"only a regulator of a party ({', '.join(self.parties)}) withdraws {self.id}")
        reason = reason.strip()
        if not reason:
            raise Invalid("a withdrawal needs a reason")
        if self.status == "withdrawn":
            raise Conflict(f"standard {self.id} was already withdrawn; its number is not issued")
        if self.status != "numbered":
            # A published number is issued for good: it is never marked not issued (decision 0022).
            raise Conflict(
                f"standard {self.id} is {self.status} (published on {self.publication_date} as "
                f"{self.numbers[0].number}); only a numbered, unpublished standard can be withdrawn "
                "(a number reserved and not yet published); a published one ends by review (abolish) "
                "or revision"
            )
        return replace(self, status="withdrawn", withdrawal=Withdrawal(reason, by, at.astimezone(UTC)))

    # -- events --------------------------------------------------------------------------------

    def published_event(self) -> StandardPublished:
        """The integration event announcing the publication."""
        if (
            self.status not in ("published", "superseded")
            or self.published_at is None
            or self.publication_date is None
            or self.implementation_date is None
        ):
            raise Conflict(f"standard {self.id} is not published")
        return StandardPublished(
            standard_id=self.id,
            project_id=self.project_id,
            area=self.area,
            parties=list(self.parties),
            numbers=list(self.numbers),
            sequence=self.sequence,
            year=self.year,
            title_zh=self.title_zh,
            title_en=self.title_en,
            category=self.category,
            kind=self.kind,
            eco_civilization=self.eco_civilization,
            publication_date=self.publication_date,
            implementation_date=self.implementation_date,
            text=TextReference(location=self.text.location, sha256=self.text.sha256),
            published_at=self.published_at,
            supersedes=self.supersedes,
        )

    def not_issued_event(self) -> NumberNotIssued:
        """The integration event recording that this standard's number is not issued."""
        if self.status != "withdrawn" or self.withdrawal is None:
            raise Conflict(f"standard {self.id} is not withdrawn")
        return NumberNotIssued(
            standard_id=self.id,
            project_id=self.project_id,
            area=self.area,
            parties=list(self.parties),
            sequence=self.sequence,
            numbers=list(self.numbers),
            reason=self.withdrawal.reason,
            withdrawn_by=self.withdrawal.by,
            withdrawn_at=self.withdrawal.at,
        )

    # -- storage form --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The stored state: BSON-friendly (dates as ISO strings, moments as aware datetimes)."""
        return {
            "project_id": self.project_id,
            "area": self.area,
            "parties": list(self.parties),
            "kind": self.kind,
            "category": self.category,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "scope": self.scope,
            "eco_civilization": self.eco_civilization,
            "text": {"location": self.text.location, "sha256": self.text.sha256},
            "sequence": self.sequence,
            "status": self.status,
            "numbers": [{"party": n.party, "number": n.number} for n in self.numbers],
            "year": self.year,
            "numbered_at": self.numbered_at,
            "publish_due_on": self.publish_due_on.isoformat(),
            "publish_due_at": self.publish_due_at,
            "project_approved_at": self.project_approved_at,
            "approved_at": self.approved_at,
            "published_at": self.published_at,
            "publication_date": _iso(self.publication_date),
            "implementation_date": _iso(self.implementation_date),
            "withdrawal": None
            if self.withdrawal is None
            else {
                "reason": self.withdrawal.reason,
                "by": self.withdrawal.by.model_dump(),
                "at": self.withdrawal.at,
            },
            "supersedes": self.supersedes,
            "life": None if self.life is None else self.life.model_dump(mode="json"),
            # When the scheduler looks at the clocks next, and which are overdue; a published standard
            # without clocks yet (published by a path that did not start them) is picked up at once.
            **(
                scheduling_fields(self.life.clocks)
                if self.life is not None
                else {NEXT_AT: self.published_at if self.status == "published" else None, OVERDUE: []}
            ),
        }

    @classmethod
    def from_dict(cls, standard_id: str, state: Mapping[str, Any]) -> "Standard":
        """The aggregate from its stored state."""
        withdrawal = state.get("withdrawal")
        return cls(
            id=standard_id,
            project_id=state.get("project_id"),
            area=state["area"],
            parties=tuple(state["parties"]),
            kind=state["kind"],
            category=state["category"],
            title_zh=state["title_zh"],
            title_en=state.get("title_en"),
            scope=state.get("scope", ""),
            eco_civilization=bool(state.get("eco_civilization", False)),
            text=Text(state["text"]["location"], state["text"]["sha256"]),
            sequence=int(state["sequence"]),
            status=state["status"],
            numbers=tuple(PartyNumber(party=n["party"], number=n["number"]) for n in state["numbers"]),
            year=int(state["year"]),
            numbered_at=_aware(state["numbered_at"]),
            publish_due_on=date.fromisoformat(state["publish_due_on"]),
            project_approved_at=_aware_or_none(state.get("project_approved_at")),
            approved_at=_aware_or_none(state.get("approved_at")),
            published_at=_aware_or_none(state.get("published_at")),
            publication_date=_date_or_none(state.get("publication_date")),
            implementation_date=_date_or_none(state.get("implementation_date")),
            withdrawal=None
            if not withdrawal
            else Withdrawal(
                reason=withdrawal["reason"],
                by=Actor.model_validate(withdrawal["by"]),
                at=_aware(withdrawal["at"]),
            ),
            supersedes=state.get("supersedes"),
            life=None if state.get("life") is None else Life.model_validate(state["life"]),
        )


# ---------------------------------------------------------------------------------------------
# Numbering and publishing, as the policy says


Decided = tuple[Standard, list[EventModel]]
"""A standard as a decision leaves it, with the events to publish with it."""


@dataclass(frozen=True)
class Policy:
    """The configurable rules of publication."""

    implementation_offset_days: int = 90
    publication_delay_days: int = 0
    life: LifePolicy = field(default_factory=LifePolicy)


def number_standard(
    plan: JointPlan, sequence: int, now: datetime, policy: Policy, *, not_before: date | None = None
) -> Decided:
    """A planned standard that received its sequence number (the block's next, or the one it
    revises): numbered, and published at once when its date is today (the policy's publication delay
    is 0 and nothing holds it back); otherwise it waits, `numbered`, until `publish_standard`
    publishes it on its due date."""
    standard = Standard.numbered(
        plan, sequence, at=now, publication_delay_days=policy.publication_delay_days, not_before=not_before
    )
    if standard.is_due(now):
        return publish_standard(standard, now, policy)
    return standard, []


def publish_standard(standard: Standard, now: datetime, policy: Policy) -> Decided:
    """Publish a numbered standard now and start the clocks of its life, with its `StandardPublished`."""
    published = begin_life(standard.publish(now, policy.implementation_offset_days), policy.life)
    return published, [published.published_event()]


def publish_if_due(standard: Standard, now: datetime, policy: Policy) -> Decided:
    """What the publication loop decides for a standard it found due: publish it when it still is
    (it may have been withdrawn or published meanwhile), leave it as it is otherwise."""
    if not standard.is_due(now):
        return standard, []
    return publish_standard(standard, now, policy)


# ---------------------------------------------------------------------------------------------


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _date_or_none(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _aware(moment: datetime) -> datetime:
    """Stored moments come back naive UTC from a client without tz_aware."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)
