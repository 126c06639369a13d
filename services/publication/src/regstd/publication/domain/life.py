"""A published standard's life, pure: what happens to it after publication, kept inside its own
document (`Standard.life`), and the rules of it: its statutory clocks, filing (备案) per party, text
disclosure, review (复审) with every party's conclusion and the joint outcome, and abolition (废止).
Supersession by a revision (修订) is in `revision.py`.

Clocks of a published standard (periods are configuration; defaults from the reference data):

| clock | starts on | default period | met by |
|---|---|---|---|
| `filing:<party>` | publication date | 60 calendar days (assumed) | that party's national filing |
| `eco_filing:<party>` | publication date | same | a mandatory environmental standard's filing |
|  |  |  | with the ecology and environment authority |
| `text_disclosure` | publication date | 20 working days (assumed) | the text disclosure record |
| `review` | implementation date | 5 years | a concluded review; continue/convert restart it |

A deadline counted in working days over a year whose holiday arrangement is not known yet is
provisional; once it is known the deadline is counted again (`StandardClockRescheduled`, decision 24).

Every rule returns the standard as it is afterwards and the events to publish with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor, RegionCode
from regstd.contracts.envelope import EventModel
from regstd.contracts.publication import (
    FilingAuthority,
    PartyNumber,
    ReviewConclusion,
    ReviewOutcome,
    StandardClockChanged,
    StandardClockRescheduled,
    StandardFiled,
    StandardReviewConcluded,
    StandardTextDisclosed,
    StandardWithdrawn,
)
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import Clock, Period, Tick, check_all, meet
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.locations import web_location
from regstd.kernel.principals import Principal
from regstd.kernel.time import china_date

if TYPE_CHECKING:  # the standard holds its life: at run time this module does not need the class
    from regstd.publication.domain.standard import Standard

# ---------------------------------------------------------------------------------------------
# The records kept inside the standard


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Filing(_Record):
    """One party's filing of the standard with one authority."""

    party: RegionCode
    authority: FilingAuthority
    filing_number: str
    filed_on: date
    recorded_by: Actor
    recorded_at: AwareDatetime


class Disclosure(_Record):
    """Where and when the full text was made public."""

    location: str
    disclosed_on: date
    recorded_by: Actor
    recorded_at: AwareDatetime


class Review(_Record):
    """One review (复审): each party's conclusion and, once they agree, the joint outcome."""

    opened_on: date
    conclusions: tuple[ReviewConclusion, ...] = ()
    outcome: ReviewOutcome | None = None
    concluded_on: date | None = None
    concluded_at: AwareDatetime | None = Field(
        default=None, description="The moment the parties agreed (absent in reviews stored before it was)."
    )

    @property
    def is_open(self) -> bool:
        """Whether the parties have not agreed yet."""
        return self.outcome is None


class Ending(_Record):
    """How a published standard stopped applying: abolished (废止) or superseded by a revision."""

    how: str = Field(pattern="^(abolished|superseded)$")
    effective_date: date
    reason: str
    at: AwareDatetime
    by: Actor | None = None
    successor: str | None = None
    successor_numbers: tuple[PartyNumber, ...] = ()


class Life(_Record):
    """The published life of one standard."""

    clocks: tuple[Clock, ...] = ()
    filings: tuple[Filing, ...] = ()
    disclosure: Disclosure | None = None
    reviews: tuple[Review, ...] = ()
    revision_pending: bool = Field(
        default=False, description="A review concluded `revise`: a revision project is expected."
    )
    ending: Ending | None = None

    def clock(self, name: str) -> Clock | None:
        """The clock with this name, if any."""
        return next((c for c in self.clocks if c.name == name), None)

    @property
    def open_review(self) -> Review | None:
        """The review in progress, if any."""
        return self.reviews[-1] if self.reviews and self.reviews[-1].is_open else None


# ---------------------------------------------------------------------------------------------
# The rules


_M = TypeVar("_M", bound=BaseModel)

AUTHORITY_CLOCK: dict[FilingAuthority, str] = {"national": "filing", "ecology_environment": "eco_filing"}


@dataclass(frozen=True)
class LifePolicy:
    """The configurable periods and warnings of a published standard's clocks, and the working-day
    calendar they count with (the runtime's, with the operator's arrangements)."""

    filing: Period = field(default_factory=lambda: Period(amount=60, unit="calendar_days"))
    text_disclosure: Period = field(default_factory=lambda: Period(amount=20, unit="working_days"))
    review: Period = field(default_factory=lambda: Period(amount=5, unit="years"))
    warning_days: dict[str, int] = field(
        default_factory=lambda: {"filing": 10, "eco_filing": 10, "text_disclosure": 5, "review": 90}
    )
    environmental_categories: frozenset[str] = frozenset({"environment"})
    calendar: WorkingDayCalendar = field(default_factory=WorkingDayCalendar)

    def warn(self, clock: str) -> int:
        """Days before the deadline a clock says `due_soon`."""
        return self.warning_days.get(clock, 0)

    def clock(self, name: str, starts_on: date, period: Period) -> Clock:
        """A clock started on `starts_on`, warning as configured for its kind, on this calendar."""
        return Clock.start(name, starts_on, period, self.warn(name.partition(":")[0]), calendar=self.calendar)

    def needs_eco_filing(self, standard: Standard) -> bool:
        """A mandatory environmental standard is filed with the ecology and environment authority too."""
        return standard.kind == "mandatory" and standard.category in self.environmental_categories


def begin_life(standard: Standard, policy: LifePolicy) -> Standard:
    """Start the clocks of a just published standard (idempotent: a started life stays as it is)."""
    if standard.life is not None:
        return standard
    if standard.publication_date is None or standard.implementation_date is None:
        raise Conflict(f"standard {standard.id} is not published")
    published = standard.publication_date
    clocks = [policy.clock(f"filing:{p}", published, policy.filing) for p in standard.parties]
    if policy.needs_eco_filing(standard):
        clocks += [policy.clock(f"eco_filing:{p}", published, policy.filing) for p in standard.parties]
    clocks.append(policy.clock("text_disclosure", published, policy.text_disclosure))
    clocks.append(policy.clock("review", standard.implementation_date, policy.review))
    return replace(standard, life=Life(clocks=tuple(clocks)))


def check_clocks(standard: Standard, now: datetime, policy: LifePolicy) -> tuple[Standard, list[EventModel]]:
    """What the scheduler does: start the clocks if a publication path did not, then advance them."""
    if standard.status == "published" and standard.life is None:
        standard = begin_life(standard, policy)
    if standard.life is None:
        return standard, []
    clocks, ticks = check_all(standard.life.clocks, china_date(now), policy.calendar)
    standard = replace(standard, life=updated(standard.life, clocks=tuple(clocks)))
    return standard, [clock_event(standard, tick, now) for tick in ticks]


def clock_event(
    standard: Standard, tick: Tick, now: datetime
) -> StandardClockChanged | StandardClockRescheduled:
    """The integration event of one clock happening: due soon, overdue, met, or rescheduled (its
    deadline counted again: it moved, or it is no longer provisional)."""
    name, _, party = tick.clock.partition(":")
    event = StandardClockRescheduled if tick.happening == "rescheduled" else StandardClockChanged
    return event.model_validate(
        {
            **facts_of(standard),
            "clock": name,
            "party": party or None,
            "detected_at": now,
            **tick.event_fields(),
        }
    )


# ---------------------------------------------------------------------------------------------
# Filing and disclosure


def record_filing(
    standard: Standard,
    *,
    party: str,
    authority: FilingAuthority,
    filing_number: str,
    filed_on: date,
    by: Principal,
    now: datetime,
    policy: LifePolicy,
) -> tuple[Standard, list[EventModel]]:
    """A party's regulator records its filing (备案) with the national or the ecology and environment
    authority; it meets that party's filing clock."""
    life = life_in_force(standard, "record a filing")
    _require_party_regulator(standard, by, party, "record a filing")
    filing_number = filing_number.strip()
    if not filing_number:
        raise Invalid("a filing needs the filing number the authority gave")
    if authority == "ecology_environment" and not policy.needs_eco_filing(standard):
        raise Invalid(
            f"standard {standard.id} is not a mandatory environmental standard; it is filed with the "
            "national authority only"
        )
    _require_date_in_life(standard, filed_on, now, "filing date")
    if any(f.party == party and f.authority == authority for f in life.filings):
        raise Conflict(f"region {party} already recorded its {authority} filing of {standard.id}")
    filing = Filing(
        party=party,
        authority=authority,
        filing_number=filing_number,
        filed_on=filed_on,
        recorded_by=by.actor(),
        recorded_at=now,
    )
    life = updated(life, filings=(*life.filings, filing))
    standard, ticks = _meet(replace(standard, life=life), f"{AUTHORITY_CLOCK[authority]}:{party}", filed_on)
    event = StandardFiled.model_validate(
        {**facts_of(standard), **filing.model_dump(exclude={"recorded_at"}), "recorded_at": now}
    )
    return standard, [event, *(clock_event(standard, t, now) for t in ticks)]


def record_disclosure(
    standard: Standard, *, location: str, disclosed_on: date, by: Principal, now: datetime
) -> tuple[Standard, list[EventModel]]:
    """A party's regulator records where and when the full text was made public."""
    life = life_in_force(standard, "record the text disclosure")
    by.require_regulator()
    if by.code not in standard.parties:
        raise Forbidden(f"only a regulator of a party ({', '.join(standard.parties)}) records the disclosure")
    if not location.strip():
        raise Invalid("a text disclosure needs the location where the public reads the text")
    location = web_location(location, "location")
    _require_date_in_life(standard, disclosed_on, now, "disclosure date")
    if life.disclosure is not None:
        raise Conflict(f"the text of {standard.id} was disclosed on {life.disclosure.disclosed_on}")
    disclosure = Disclosure(
        location=location, disclosed_on=disclosed_on, recorded_by=by.actor(), recorded_at=now
    )
    standard, ticks = _meet(
        replace(standard, life=updated(life, disclosure=disclosure)), "text_disclosure", disclosed_on
    )
    event = StandardTextDisclosed.model_validate({**facts_of(standard), **disclosure.model_dump()})
    return standard, [event, *(clock_event(standard, t, now) for t in ticks)]


# ---------------------------------------------------------------------------------------------
# Review (复审)


def record_review_conclusion(
    standard: Standard,
    *,
    outcome: ReviewOutcome,
    reason: str | None,
    by: Principal,
    now: datetime,
    policy: LifePolicy,
) -> tuple[Standard, list[EventModel]]:
    """A party's regulator records its review conclusion; a review opens with the first one. When
    every party has concluded with the same outcome, that is the joint outcome: the review clock is
    met, and continue/convert start the next review, revise waits for a revision project to
    supersede the standard, abolish withdraws it. Parties that disagree change their conclusions
    until they agree; the review stays open meanwhile."""
    life = life_in_force(standard, "review it")
    by.require_regulator()
    _require_party_regulator(standard, by, by.code, "record a review conclusion")
    if life.revision_pending:
        raise Conflict(f"the review of {standard.id} concluded `revise`; its revision project supersedes it")
    today = china_date(now)
    if standard.implementation_date is not None and today < standard.implementation_date:
        # A review (复审) looks at a standard in use; before its implementation date it is not in force.
        raise Conflict(
            f"standard {standard.id} is not in force until {standard.implementation_date}; a review "
            "concludes only on a standard in force"
        )
    review = life.open_review or Review(opened_on=today)
    conclusion = ReviewConclusion(party=by.code, outcome=outcome, reason=(reason or "").strip() or None)
    conclusions = (*tuple(c for c in review.conclusions if c.party != by.code), conclusion)
    review = updated(
        review, conclusions=tuple(sorted(conclusions, key=lambda c: standard.parties.index(c.party)))
    )
    agreed = {c.outcome for c in review.conclusions}
    everyone = {c.party for c in review.conclusions} == set(standard.parties)
    reviews = life.reviews[:-1] if life.open_review else life.reviews
    if not (everyone and len(agreed) == 1):
        return replace(standard, life=updated(life, reviews=(*reviews, review))), []

    review = updated(review, outcome=outcome, concluded_on=today, concluded_at=now)
    life = updated(life, reviews=(*reviews, review))
    standard, ticks = _meet(replace(standard, life=life), "review", today)
    events: list[EventModel] = [clock_event(standard, t, now) for t in ticks]
    next_due: date | None = None
    assert standard.life is not None
    life = standard.life
    if outcome in ("continue", "convert", "integrate"):
        # The standard stays in force; its next review runs from today. (Conversion and integration
        # are carried out by a later project that supersedes it, like a revision.)
        next_clock = policy.clock("review", today, policy.review)
        life = updated(life, clocks=(*tuple(c for c in life.clocks if c.name != "review"), next_clock))
        next_due = next_clock.due_on
    elif outcome == "revise":
        life = updated(life, revision_pending=True)
    standard = replace(standard, life=life)
    events.insert(
        0,
        StandardReviewConcluded.model_validate(
            {
                **facts_of(standard),
                "outcome": outcome,
                "conclusions": list(review.conclusions),
                "concluded_on": today,
                "next_review_due": next_due,
                "concluded_at": now,
            }
        ),
    )
    if outcome == "abolish":
        reasons = "; ".join(f"{c.party}: {c.reason}" for c in review.conclusions if c.reason)
        standard, withdrawn = abolish(
            standard, reason=f"review concluded abolish. {reasons}".strip(), on=today, now=now
        )
        events += withdrawn
    return standard, events


def abolish(
    standard: Standard, *, reason: str, on: date, now: datetime, by: Actor | None = None
) -> tuple[Standard, list[EventModel]]:
    """Abolish (废止) a published standard from `on`: every clock stops, subscribers are told."""
    life = life_in_force(standard, "abolish it")
    ending = Ending(how="abolished", effective_date=on, reason=reason[:2000], at=now, by=by)
    life = updated(life, clocks=tuple(c.stop() for c in life.clocks), ending=ending)
    standard = replace(standard, status="abolished", life=life)
    event = StandardWithdrawn.model_validate(
        {
            **facts_of(standard),
            "reason": ending.reason,
            "effective_date": on,
            "withdrawn_by": by,
            "withdrawn_at": now,
        }
    )
    return standard, [event]


# ---------------------------------------------------------------------------------------------


def updated(model: _M, **changes: object) -> _M:
    """A record of the life with some fields changed."""
    return model.model_copy(update=changes)


def facts_of(standard: Standard) -> dict[str, object]:
    """What every event of a standard's life says of the standard."""
    return {
        "standard_id": standard.id,
        "area": standard.area,
        "parties": list(standard.parties),
        "numbers": list(standard.numbers),
    }


def life_in_force(standard: Standard, action: str) -> Life:
    """The life of a published standard in force; Conflict for any other (`action` says what for)."""
    if standard.status != "published" or standard.life is None:
        raise Conflict(
            f"standard {standard.id} is {standard.status}; only a published standard in force can {action}"
        )
    return standard.life


def _require_party_regulator(standard: Standard, by: Principal, party: str, action: str) -> None:
    by.require_regulator()
    if party not in standard.parties:
        raise Forbidden(f"region {party} is not a party of {standard.id} ({', '.join(standard.parties)})")
    if by.code != party:
        raise Forbidden(f"the regulator of region {by.code} cannot {action} for region {party}")


def _require_date_in_life(standard: Standard, day: date, now: datetime, what: str) -> None:
    assert standard.publication_date is not None
    if day < standard.publication_date:
        raise Invalid(f"the {what} {day} lies before the publication date {standard.publication_date}")
    if day > china_date(now):
        raise Invalid(f"the {what} {day} lies in the future (today is {china_date(now)} in China)")


def _meet(standard: Standard, clock_name: str, on: date) -> tuple[Standard, list[Tick]]:
    assert standard.life is not None
    clocks, ticks = meet(standard.life.clocks, clock_name, on)
    return replace(standard, life=updated(standard.life, clocks=tuple(clocks))), ticks
