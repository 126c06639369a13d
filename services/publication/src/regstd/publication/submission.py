"""Single-region standards submitted for cross-region publication.

A region's regulator submits a standard that region already numbered and published on its own
(`DB51/T 3125—2026`), so that the other members of an area (yangtze) learn of it through the same
`StandardPublished` event a joint standard produces: no project, one party, its own number and its
own sequence. Read top to bottom: the pure rules, the use case, the route.

Why such a number can never collide with a joint number (decision 0011): a joint standard's
sequence comes from a block of an area the region is a party of (chengyu from 10001, yrd from
310001) and only ever grows from the block's first; a single-region submission must carry a
sequence below the first of every block its region takes part in. The standard's id is derived from
its number, so the same number cannot be stored twice either.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import Field

from regstd.contracts.common import Kind
from regstd.contracts.publication import PartyNumber
from regstd.contracts.reference import Reference
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.principals import Principal
from regstd.publication.api import StandardView
from regstd.publication.domain import Number, Standard, Text, parse_number
from regstd.publication.handlers import Clock, StandardRepository
from regstd.publication.lifecycle import LifePolicy, begin_life
from regstd.runtime.events import new_event
from regstd.runtime.http import Caller, Command, refusals

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Rules (pure)


@dataclass(frozen=True)
class Submission:
    """What a region's regulator submits: its own, already numbered and published standard."""

    number: str
    area: str
    title_zh: str
    title_en: str | None
    scope: str
    category: str
    kind: Kind
    eco_civilization: bool
    publication_date: date
    implementation_date: date
    text: Text


def single_region_id(number: Number) -> str:
    """The standard's id, derived from its number: `std-51-t-3125-2026` (`m` for mandatory)."""
    kind = "t" if number.kind == "recommended" else "m"
    return f"std-{number.region}-{kind}-{number.sequence}-{number.year}"


def reserved_from(region: str, reference: Reference) -> int | None:
    """The lowest sequence reserved for joint standards of the region: the smallest first number
    of the blocks of the areas it is a party of; None when it takes part in no block."""
    firsts = [
        a.joint_number_block_first
        for a in reference.areas.values()
        if region in a.parties and a.joint_number_block_first is not None
    ]
    return min(firsts, default=None)


def check_submission(submission: Submission, by: Principal, reference: Reference) -> Number:
    """Refuse a submission the rules never allow; the parsed number when they do.

    Forbidden when the caller is not the regulator of the number's region; Invalid when the number,
    area, kind, dates or sequence do not fit.
    """
    by.require_regulator()
    number = parse_number(submission.number)
    if number.region != by.code:
        raise Forbidden(
            f"the regulator of region {by.code} submits only its own standards, not {number} "
            f"of region {number.region}"
        )
    area = reference.areas.get(submission.area)
    if area is None:
        raise Invalid(f"unknown area {submission.area!r}; known: {', '.join(sorted(reference.areas))}")
    if number.region not in area.parties:
        raise Invalid(f"region {number.region} is not a member of area {area.id} ({', '.join(area.parties)})")
    if number.kind != submission.kind:
        raise Invalid(
            f"{number} is the number of a {number.kind} standard, but the submission says {submission.kind}"
        )
    if number.year != submission.publication_date.year:
        raise Invalid(
            f"the year in {number} must be the year of publication, {submission.publication_date.year}"
        )
    if submission.implementation_date < submission.publication_date:
        raise Invalid("the implementation date cannot come before the publication date")
    reserved = reserved_from(number.region, reference)
    if reserved is not None and number.sequence >= reserved:
        raise Invalid(
            f"sequence {number.sequence} lies in a joint number block (from {reserved}); a region "
            "submits its own standards with its own numbers, below the joint blocks"
        )
    return number


def submitted_standard(submission: Submission, number: Number, at: datetime) -> Standard:
    """The published single-region standard: one party, its own number and sequence."""
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # as the store keeps it: milliseconds
    return Standard(
        id=single_region_id(number),
        project_id=None,
        area=submission.area,
        parties=(number.region,),
        kind=number.kind,
        category=submission.category,
        title_zh=submission.title_zh,
        title_en=submission.title_en,
        scope=submission.scope,
        eco_civilization=submission.eco_civilization,
        text=submission.text,
        sequence=number.sequence,
        status="published",
        numbers=(PartyNumber(party=number.region, number=str(number)),),
        year=number.year,
        numbered_at=at,
        publish_due_on=submission.publication_date,
        published_at=at,
        publication_date=submission.publication_date,
        implementation_date=submission.implementation_date,
    )


def same_submission(a: Standard, b: Standard) -> bool:
    """Whether two single-region standards say the same (a repeated submission)."""
    keys = ("area", "category", "title_zh", "title_en", "scope", "eco_civilization", "text", "kind")
    dates = ("publication_date", "implementation_date", "numbers")
    return all(getattr(a, k) == getattr(b, k) for k in keys + dates)


# ---------------------------------------------------------------------------------------------
# The use case


NumberHolder = Callable[[str], Awaitable[str | None]]
"""The id of the standard carrying a canonical number, or None (the catalogue answers)."""


class Submissions:
    """Stores a submitted single-region standard with its `StandardPublished` event, once."""

    def __init__(
        self,
        standards: StandardRepository,
        holder: NumberHolder,
        reference: Reference,
        clock: Clock,
        life: LifePolicy | None = None,
    ) -> None:
        self.standards = standards
        self.holder = holder
        self.reference = reference
        self.clock = clock
        self.life = life or LifePolicy()

    async def submit(self, submission: Submission, by: Principal) -> tuple[Standard, bool]:
        """The stored standard and whether this call stored it (False for a repeated submission)."""
        number = check_submission(submission, by, self.reference)
        # Its statutory clocks start in the same write, as for a joint standard.
        standard = begin_life(submitted_standard(submission, number, self.clock()), self.life)
        for _ in range(2):
            existing = await self.standards.get(standard.id)
            if existing is not None:
                if same_submission(existing.standard, standard):
                    return existing.standard, False
                raise Conflict(
                    f"{number} was already submitted with other content (standard {standard.id}); "
                    "a standard's number is given once"
                )
            other = await self.holder(str(number))
            if other is not None and other != standard.id:
                raise Conflict(f"{number} already belongs to standard {other}")
            event = new_event(standard.published_event(), now=standard.published_at)
            if await self.standards.add(standard, [event], consumed=None):
                log.info(
                    "single-region standard published",
                    extra={"standard_id": standard.id, "number": str(number), "area": standard.area},
                )
                return standard, True
        raise Conflict(f"{number} is being submitted concurrently; try again")


# ---------------------------------------------------------------------------------------------
# The route


class TextBody(Command):
    """Where the published text lives and its SHA-256 digest."""

    location: str = Field(min_length=1, max_length=2048)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SubmitStandard(Command):
    """A region's own, already numbered and published standard, for cross-region publication."""

    number: str = Field(
        min_length=1, max_length=100, description="Its own number, e.g. `DB51/T 3125—2026` (any dash)."
    )
    area: str = Field(min_length=1, max_length=32, description="The area to publish it to, e.g. yangtze.")
    title_zh: str = Field(min_length=1, max_length=500)
    title_en: str | None = Field(default=None, max_length=500)
    scope: str = Field(default="", max_length=5000)
    category: str = Field(min_length=1, max_length=64, description="environment, ecology, transport, …")
    kind: Kind
    eco_civilization: bool = Field(default=False, description="An eco-civilization (生态文明) standard.")
    publication_date: date = Field(description="Its publication date (CST).")
    implementation_date: date = Field(description="Its implementation date (实施日期, CST).")
    text: TextBody

    def submission(self) -> Submission:
        """The domain's view of the request."""
        return Submission(
            number=self.number,
            area=self.area,
            title_zh=self.title_zh,
            title_en=self.title_en,
            scope=self.scope,
            category=self.category,
            kind=self.kind,
            eco_civilization=self.eco_civilization,
            publication_date=self.publication_date,
            implementation_date=self.implementation_date,
            text=Text(self.text.location, self.text.sha256),
        )


_REFUSALS = refusals(
    {
        401: "No bearer token, or an unknown one.",
        403: "Not the regulator of the number's region.",
        409: "The number was submitted with other content, or belongs to another standard.",
        422: "A malformed number, an unknown area, dates or kind that do not fit.",
    }
)


def submission_router(submissions: Submissions) -> APIRouter:
    """`POST /submissions`: a regulator submits its own region's standard."""
    api = APIRouter()

    @api.post(
        "/submissions",
        tags=["publication"],
        summary="Submit a single-region standard for cross-region publication",
        response_model=StandardView,
        responses=_REFUSALS,
    )
    async def submit(body: Annotated[SubmitStandard, Body()], caller: Caller) -> StandardView:
        """The regulator of the number's region submits its own standard; it is published to the
        area with its own number (`StandardPublished`, no project, one party). Repeating the same
        submission returns the stored standard and publishes nothing again; the same number with
        other content is refused (409), as is a number of another region (403)."""
        standard, _ = await submissions.submit(body.submission(), caller)
        return StandardView.of(standard)

    return api
