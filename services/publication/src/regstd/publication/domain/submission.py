"""Single-region standards submitted for cross-region publication.

A region's regulator submits a standard that region already numbered and published on its own
(`DB51/T 3125—2026`), so that the other members of an area (yangtze) learn of it through the same
`StandardPublished` event a joint standard produces: no project, one party, its own number and its
own sequence. The use case is `app/submissions.py`, the route `http/submissions.py`.

Why such a number can never collide with a joint number (decision 0011): a joint standard's
sequence comes from a block of an area the region is a party of (chengyu from 10001, yrd from
310001) and only ever grows from the block's first; a single-region submission must carry a
sequence below the first of every block its region takes part in. The standard's id is derived from
its number, so the same number cannot be stored twice either.
"""

from dataclasses import dataclass
from datetime import date, datetime

from regstd.contracts.common import Kind
from regstd.contracts.publication import PartyNumber
from regstd.contracts.reference import Reference
from regstd.kernel.errors import Forbidden, Invalid
from regstd.kernel.locations import web_location
from regstd.kernel.principals import Principal
from regstd.publication.domain.life import LifePolicy, begin_life
from regstd.publication.domain.numbering import Number, parse_number
from regstd.publication.domain.standard import Decided, Standard, Text


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


MAX_IMPLEMENTATION_DAYS = 730
"""Default of how long after its publication a submitted standard may take effect (two years)."""


def check_submission(
    submission: Submission,
    by: Principal,
    reference: Reference,
    *,
    today: date,
    max_implementation_days: int = MAX_IMPLEMENTATION_DAYS,
) -> Number:
    """Refuse a submission the rules never allow; the parsed number when they do.

    Forbidden when the caller is not the regulator of the number's region; Invalid when the number,
    area, kind, dates (publication not after `today` in China, implementation on or after
    publication and at most `max_implementation_days` later, the number's year the publication
    year), text location or sequence do not fit.
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
    if submission.publication_date > today:
        raise Invalid(
            f"publication_date {submission.publication_date} lies in the future (today is {today} in "
            "China); a region submits a standard it has already published"
        )
    if submission.implementation_date < submission.publication_date:
        raise Invalid("the implementation date cannot come before the publication date")
    if (submission.implementation_date - submission.publication_date).days > max_implementation_days:
        raise Invalid(
            f"implementation_date {submission.implementation_date} lies more than "
            f"{max_implementation_days} days after the publication date {submission.publication_date}"
        )
    web_location(submission.text.location, "text.location")
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


def publish_submission(submission: Submission, number: Number, now: datetime, life: LifePolicy) -> Decided:
    """The submitted standard published now with its `StandardPublished`; its statutory clocks start
    in the same write, as a joint standard's do."""
    standard = begin_life(submitted_standard(submission, number, now), life)
    return standard, [standard.published_event()]


def same_submission(a: Standard, b: Standard) -> bool:
    """Whether two single-region standards say the same (a repeated submission)."""
    keys = ("area", "category", "title_zh", "title_en", "scope", "eco_civilization", "text", "kind")
    dates = ("publication_date", "implementation_date", "numbers")
    return all(getattr(a, k) == getattr(b, k) for k in keys + dates)
