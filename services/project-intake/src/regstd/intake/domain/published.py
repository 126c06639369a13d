"""The published standards intake remembers, heard from publication: what the overlap check compares
a proposal with, and what a revision must match. Each keeps its status, so that a revision targets
only a standard still current (not abolished, withdrawn or superseded)."""

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from regstd.contracts.envelope import EventModel
from regstd.contracts.publication import (
    NumberNotIssued,
    PartyNumber,
    StandardPublished,
    StandardSuperseded,
    StandardWithdrawn,
)
from regstd.kernel.time import china_date

StandardStatus = Literal["published", "abolished", "withdrawn", "superseded"]
"""published: current (in force or awaiting its implementation date); abolished (废止); withdrawn:
its number not issued; superseded: replaced by a revision or an integration."""

Remembered = tuple["PublishedStandard", list[EventModel]] | None
"""What a publication event does to a remembered standard; None: nothing."""


class PublishedStandard(BaseModel):
    """A published standard as intake keeps it."""

    model_config = ConfigDict(extra="ignore")

    standard_id: str
    project_id: str | None = None
    area: str
    parties: list[str]
    title_zh: str
    title_en: str | None = None
    category: str
    number: str | None = None
    published_at: AwareDatetime | None = None
    status: StandardStatus = "published"
    status_since: date | None = None
    status_reason: str | None = None
    superseded_by: str | None = None

    @classmethod
    def of(cls, event: StandardPublished) -> "PublishedStandard":
        """The standard as its publication announced it; its numbers joined as `DB50/T … = DB51/T …`."""
        return cls(
            standard_id=event.standard_id,
            project_id=event.project_id,
            area=event.area,
            parties=list(event.parties),
            title_zh=event.title_zh,
            title_en=event.title_en,
            category=event.category,
            number=joined(event.numbers),
            published_at=event.published_at,
        )


def joined(numbers: list[PartyNumber]) -> str:
    """A joint standard's numbers as one designation: `DB50/T 10001—2026 = DB51/T 10001—2026`."""
    return " = ".join(n.number for n in numbers)


def remember(known: PublishedStandard | None, event: StandardPublished) -> Remembered:
    """Keep the latest publication of a standard; an older one (arriving late) changes nothing, and a
    later one never brings back a standard abolished, withdrawn or superseded."""
    if known is not None and known.published_at is not None and known.published_at > event.published_at:
        return None
    standard = PublishedStandard.of(event)
    if known is not None:
        standard = standard.model_copy(
            update=known.model_dump(include={"status", "status_since", "status_reason", "superseded_by"})
        )
    return standard, []


def abolish(known: PublishedStandard | None, event: StandardWithdrawn) -> Remembered:
    """A published standard was abolished (废止); one never heard of stays unknown (a revision of it
    is refused as not published anyway)."""
    if known is None:
        return None
    return _ended(known, "abolished", event.effective_date, event.reason), []


def not_issued(known: PublishedStandard | None, event: NumberNotIssued) -> Remembered:
    """A standard's number was withdrawn as not issued."""
    if known is None:
        return None
    return _ended(known, "withdrawn", china_date(event.withdrawn_at), event.reason), []


def supersede(known: PublishedStandard | None, event: StandardSuperseded) -> Remembered:
    """A published standard was superseded by a newer one."""
    if known is None:
        return None
    if known.status != "published":  # the first ending stands: a standard ends once
        return known, []
    successor = f"{event.superseded_by} ({joined(event.superseded_by_numbers)})"
    ended = _ended(known, "superseded", event.effective_date, f"superseded by {successor}")
    return ended.model_copy(update={"superseded_by": successor}), []


def _ended(known: PublishedStandard, status: StandardStatus, since: date, reason: str) -> PublishedStandard:
    if known.status != "published":  # the first ending stands: a standard ends once
        return known
    return known.model_copy(update={"status": status, "status_since": since, "status_reason": reason})
