"""Revision (修订), pure: a revision keeps the sequence number of the standard it revises and takes
the year of its own publication; once published, it supersedes the old standard (decision 10).

A revision is published in a later year than the standard it revises, so that its designation
(code + sequence + year) is new (decision 0022): one approved in its predecessor's year of
publication stays `numbered` and is published on 1 January of the next year (China Standard Time)
with that year in its numbers (`revision_not_before`). A change within the same year is what an
amendment (修改单) of the standard is for, not a revision.

A revision arrives as a final approval carrying `supersedes`. It is checked against the old
standard (same area, the same parties, still in force), numbered with the old standard's sequence
under every party's code (`revision_sequence`, then `standard.number_standard` as for a new
standard, which gives the numbers the year of the revision's own publication), and when published
it ends the old standard's life as `superseded` from the revision's implementation date
(`supersede`).
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from regstd.contracts.publication import StandardSuperseded
from regstd.kernel.errors import Conflict
from regstd.publication.domain.approval import ApprovalRefusal
from regstd.publication.domain.life import Ending, facts_of, life_in_force, updated
from regstd.publication.domain.standard import Decided, JointPlan, Standard


def check_revision(old: Standard | None, target: str, area: str, parties: Sequence[str]) -> Standard:
    """A revision keeps the old standard's number: it exists here, is published and not ended
    (abolished, withdrawn or superseded standards cannot be revised), same area and the same
    parties. `ApprovalRefusal` names the rule it breaks."""
    if old is None:
        raise ApprovalRefusal(
            "revision_target_missing", f"the revision names {target}, which is not a standard here"
        )
    if old.status != "published":
        raise ApprovalRefusal(
            "revision_target_not_in_force",
            f"standard {old.id} is {old.status}; only a published standard not ended can be revised",
        )
    if old.area != area or set(old.parties) != set(parties):
        raise ApprovalRefusal(
            "revision_parties_differ",
            f"a revision of {old.id} keeps its number, so it needs the same area ({old.area}) and parties "
            f"({', '.join(old.parties)}), not {area} with {', '.join(parties)}",
        )
    return old


def revision_sequence(old: Standard | None, plan: JointPlan) -> int:
    """The sequence number of a planned revision: the old standard's; `ApprovalRefusal` when it
    cannot revise it."""
    assert plan.supersedes is not None
    return check_revision(old, plan.supersedes, plan.area, plan.parties).sequence


def revision_not_before(old: Standard) -> date:
    """The earliest publication date of a revision of `old`: 1 January of the year after the old
    standard's, so that the revision's designation never repeats its predecessor's."""
    return date(old.year + 1, 1, 1)


def supersede(old: Standard, successor: Standard, now: datetime) -> Decided:
    """The published revision replaces the old standard from the revision's implementation date.

    A standard no longer in force (already superseded, or abolished meanwhile) stays as it is.
    """
    if old.status != "published":
        return old, []
    life = life_in_force(old, "supersede it")
    if successor.implementation_date is None:
        raise Conflict(f"revision {successor.id} is not published")
    if set(successor.designations) & set(old.designations):
        # Never "X is superseded by X": a revision publishes under a new year (decision 0022).
        raise Conflict(f"revision {successor.id} carries the designation of {old.id}; it cannot supersede it")
    ending = Ending(
        how="superseded",
        effective_date=successor.implementation_date,
        reason=f"revised as {successor.numbers[0].number}",
        at=now,
        successor=successor.id,
        successor_numbers=successor.numbers,
    )
    life = updated(life, clocks=tuple(c.stop() for c in life.clocks), ending=ending, revision_pending=False)
    old = replace(old, status="superseded", life=life)
    event = StandardSuperseded.model_validate(
        {
            **facts_of(old),
            "superseded_by": successor.id,
            "superseded_by_numbers": list(successor.numbers),
            "effective_date": successor.implementation_date,
            "superseded_at": now,
        }
    )
    return old, [event]
