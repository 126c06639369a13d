"""Eco-standard adoption (采信), pure: offers, decisions and source changes. No I/O here (the
registry and the yearly summary read these aggregates in `registry.py`).

One aggregate per source standard (`EcoStandard`, id = the standard's id): when a member of the
adoption area (yangtze) publishes an eco-civilization standard, every other member is offered it;
each member's regulator records one decision for its own region; when the source standard is
withdrawn or superseded, every member that adopted it is told. Keeping every member's decision on
the source's aggregate makes the offers one atomic insert and the notices to all adopters one
atomic update, with no multi-document transaction.

Revision semantics (decision 0012): a member decides once. Repeating the identical decision is
answered with the recorded one and changes nothing; a different second decision is refused (409).
A member that wants to change course records it in its own standard process, not here.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from regstd.contracts.common import Actor
from regstd.contracts.harmonization import (
    AdoptedSourceChanged,
    AdoptionDecided,
    AdoptionDecision,
    AdoptionOffered,
    SourceChange,
)
from regstd.contracts.publication import PartyNumber, StandardPublished
from regstd.contracts.reference import Reference
from regstd.kernel.errors import Conflict, Invalid, NotFound
from regstd.kernel.principals import Principal
from regstd.kernel.time import china_date

ECO_CATEGORIES = frozenset({"environment", "ecology"})
"""Categories that make a standard an eco-civilization standard even without the flag."""

SourceStatus = Literal["in_force", "withdrawn", "superseded"]
ADOPTING: frozenset[AdoptionDecision] = frozenset({"adopt", "adopt_with_modifications"})


def is_eco(category: str, flagged: bool, eco_categories: Iterable[str] = ECO_CATEGORIES) -> bool:
    """An eco-civilization standard: flagged so, or of an eco category (environment, ecology)."""
    return flagged or category.strip().casefold() in {c.casefold() for c in eco_categories}


@dataclass(frozen=True)
class Decision:
    """One member's recorded decision on an offered standard."""

    member: str
    decision: AdoptionDecision
    modifications: tuple[str, ...]
    reason: str | None
    scope: str | None
    effective_date: date | None
    by: Actor
    at: datetime

    def same_as(self, other: "Decision") -> bool:
        """Whether two decisions say the same thing (who and when aside)."""
        return (self.decision, self.modifications, self.reason, self.scope, self.effective_date) == (
            other.decision,
            other.modifications,
            other.reason,
            other.scope,
            other.effective_date,
        )


@dataclass(frozen=True)
class DecisionRequest:
    """What a member's regulator asks to record."""

    member: str
    decision: AdoptionDecision
    modifications: tuple[str, ...] = ()
    reason: str | None = None
    scope: str | None = None
    effective_date: date | None = None


@dataclass(frozen=True)
class SourceNotice:
    """What happened to the source standard: withdrawn or superseded, from when, why, by what."""

    change: SourceChange
    effective_date: date
    at: datetime
    reason: str | None = None
    superseded_by: str | None = None
    superseded_by_numbers: tuple[PartyNumber, ...] = ()


@dataclass(frozen=True)
class EcoStandard:
    """A published eco-civilization standard offered to the other members of the adoption area."""

    id: str
    area: str
    published_area: str
    sources: tuple[str, ...]
    numbers: tuple[PartyNumber, ...]
    title_zh: str
    category: str
    publication_date: date
    implementation_date: date
    offered_at: datetime
    members: tuple[str, ...]
    decisions: Mapping[str, Decision] = field(default_factory=dict)
    status: SourceStatus = "in_force"
    source_notice: SourceNotice | None = None

    @property
    def number(self) -> str:
        """The first of its numbers, for people."""
        return self.numbers[0].number

    # -- rules ---------------------------------------------------------------------------------

    @classmethod
    def offer(
        cls,
        published: StandardPublished,
        reference: Reference,
        *,
        area: str,
        at: datetime,
        eco_categories: Iterable[str] = ECO_CATEGORIES,
    ) -> "EcoStandard | None":
        """The offers a published standard makes, or None when it makes none: it is not an eco
        standard, none of its parties is a member of the adoption area, or every member is a party."""
        if not is_eco(published.category, published.eco_civilization, eco_categories):
            return None
        members = reference.area(area).parties
        if not set(published.parties) & set(members):
            return None
        others = tuple(m for m in members if m not in published.parties)
        if not others:
            return None
        return cls(
            id=published.standard_id,
            area=area,
            published_area=published.area,
            sources=tuple(published.parties),
            numbers=tuple(published.numbers),
            title_zh=published.title_zh,
            category=published.category,
            publication_date=published.publication_date,
            implementation_date=published.implementation_date,
            offered_at=at.astimezone(UTC),
            members=others,
        )

    def decide(self, request: DecisionRequest, by: Principal, at: datetime) -> "tuple[EcoStandard, bool]":
        """Record a member's decision; the new state and whether anything was recorded.

        Only the member's own regulator decides for it. The identical decision again records
        nothing; a different one is refused (a member decides once).
        """
        by.require_region(request.member)
        if request.member in self.sources:
            raise Conflict(
                f"{self.number} is region {request.member}'s own standard; it is not offered to it"
            )
        if request.member not in self.members:
            raise NotFound(f"{self.number} was not offered to region {request.member}")
        decision = _checked(request, by.actor(), at)
        recorded = self.decisions.get(request.member)
        if recorded is not None:
            if recorded.same_as(decision):
                return self, False
            raise Conflict(
                f"region {request.member} already decided {recorded.decision} on {self.number} on "
                f"{china_date(recorded.at)}; a member decides once"
            )
        if self.status != "in_force":
            raise Conflict(f"{self.number} was {self.status} at its source; it can no longer be adopted")
        return replace(self, decisions={**self.decisions, request.member: decision}), True

    def source_changed(self, notice: SourceNotice) -> "EcoStandard | None":
        """The source was withdrawn or superseded; None when that was already recorded."""
        if self.status != "in_force":
            return None
        status: SourceStatus = "withdrawn" if notice.change == "withdrawn" else "superseded"
        return replace(self, status=status, source_notice=notice)

    @property
    def adopters(self) -> list[str]:
        """The members that adopted it (as is or with modifications), in area order."""
        return [m for m in self.members if m in self.decisions and self.decisions[m].decision in ADOPTING]

    @property
    def pending(self) -> list[str]:
        """The members that have not decided yet."""
        return [m for m in self.members if m not in self.decisions]

    # -- events --------------------------------------------------------------------------------

    def offered_events(self) -> list[AdoptionOffered]:
        """One offer per member."""
        return [
            AdoptionOffered(
                standard_id=self.id,
                area=self.area,
                member=member,
                sources=list(self.sources),
                numbers=list(self.numbers),
                title_zh=self.title_zh,
                category=self.category,
                publication_date=self.publication_date,
                offered_at=self.offered_at,
            )
            for member in self.members
        ]

    def decided_event(self, member: str) -> AdoptionDecided:
        """The event of a member's recorded decision."""
        d = self.decisions[member]
        return AdoptionDecided(
            standard_id=self.id,
            member=member,
            decision=d.decision,
            modifications=list(d.modifications),
            reason=d.reason,
            scope=d.scope,
            effective_date=d.effective_date,
            numbers=list(self.numbers),
            decided_by=d.by,
            decided_at=d.at,
        )

    def notice_events(self) -> list[AdoptedSourceChanged]:
        """One notice per adopter after the source was withdrawn or superseded."""
        notice = self.source_notice
        if notice is None:
            return []
        return [
            AdoptedSourceChanged(
                standard_id=self.id,
                member=member,
                change=notice.change,
                numbers=list(self.numbers),
                effective_date=notice.effective_date,
                reason=notice.reason,
                superseded_by=notice.superseded_by,
                superseded_by_numbers=list(notice.superseded_by_numbers),
                noticed_at=notice.at,
            )
            for member in self.adopters
        ]

    # -- storage form --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The stored state (dates as ISO strings, moments as aware datetimes)."""
        n = self.source_notice
        return {
            "area": self.area,
            "published_area": self.published_area,
            "sources": list(self.sources),
            "numbers": [x.model_dump() for x in self.numbers],
            "title_zh": self.title_zh,
            "category": self.category,
            "publication_date": self.publication_date.isoformat(),
            "implementation_date": self.implementation_date.isoformat(),
            "offered_at": self.offered_at,
            "members": list(self.members),
            # Indexed, so the registry finds a member's adoptions without reading every standard.
            "adopters": self.adopters,
            "decisions": [
                {
                    "member": d.member,
                    "decision": d.decision,
                    "modifications": list(d.modifications),
                    "reason": d.reason,
                    "scope": d.scope,
                    "effective_date": None if d.effective_date is None else d.effective_date.isoformat(),
                    "by": d.by.model_dump(),
                    "at": d.at,
                }
                for d in self.decisions.values()
            ],
            "status": self.status,
            "source_notice": None
            if n is None
            else {
                "change": n.change,
                "effective_date": n.effective_date.isoformat(),
                "at": n.at,
                "reason": n.reason,
                "superseded_by": n.superseded_by,
                "superseded_by_numbers": [x.model_dump() for x in n.superseded_by_numbers],
            },
        }

    @classmethod
    def from_dict(cls, standard_id: str, state: Mapping[str, Any]) -> "EcoStandard":
        """The aggregate from its stored state."""
        n = state.get("source_notice")
        return cls(
            id=standard_id,
            area=state["area"],
            published_area=state["published_area"],
            sources=tuple(state["sources"]),
            numbers=tuple(PartyNumber.model_validate(x) for x in state["numbers"]),
            title_zh=state["title_zh"],
            category=state["category"],
            publication_date=date.fromisoformat(state["publication_date"]),
            implementation_date=date.fromisoformat(state["implementation_date"]),
            offered_at=_aware(state["offered_at"]),
            members=tuple(state["members"]),
            decisions={
                d["member"]: Decision(
                    member=d["member"],
                    decision=d["decision"],
                    modifications=tuple(d.get("modifications") or ()),
                    reason=d.get("reason"),
                    scope=d.get("scope"),
                    effective_date=None
                    if d.get("effective_date") is None
                    else date.fromisoformat(d["effective_date"]),
                    by=Actor.model_validate(d["by"]),
                    at=_aware(d["at"]),
                )
                for d in state.get("decisions", [])
            },
            status=state.get("status", "in_force"),
            source_notice=None
            if not n
            else SourceNotice(
                change=n["change"],
                effective_date=date.fromisoformat(n["effective_date"]),
                at=_aware(n["at"]),
                reason=n.get("reason"),
                superseded_by=n.get("superseded_by"),
                superseded_by_numbers=tuple(
                    PartyNumber.model_validate(x) for x in n.get("superseded_by_numbers", [])
                ),
            ),
        )


def _checked(request: DecisionRequest, by: Actor, at: datetime) -> Decision:
    modifications = tuple(m.strip() for m in request.modifications if m.strip())
    reason = (request.reason or "").strip() or None
    scope = (request.scope or "").strip() or None
    if request.decision == "adopt_with_modifications" and not modifications:
        raise Invalid("an adoption with modifications names the differences (modifications)")
    if request.decision == "adopt" and modifications:
        raise Invalid("an adoption as is has no modifications; use adopt_with_modifications")
    if request.decision == "decline":
        if reason is None:
            raise Invalid("a decline gives a reason")
        if modifications:
            raise Invalid("a decline has no modifications")
    elif request.effective_date is None:
        raise Invalid("an adoption says from when it applies (effective_date)")
    if request.decision in ADOPTING and scope is None:
        raise Invalid("an adoption says where it applies in the region (scope)")
    return Decision(
        member=request.member,
        decision=request.decision,
        modifications=modifications,
        reason=reason,
        scope=scope,
        effective_date=request.effective_date,
        by=by,
        at=at.astimezone(UTC),
    )


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
