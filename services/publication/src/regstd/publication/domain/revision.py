"""Revision (修订), pure: a revision keeps the sequence number of the standard it revises and takes
the year of its own publication; once published, it supersedes the old standard (decision 10).

A revision arrives as a final approval carrying `supersedes`. It is checked against the old
standard (same area, the same parties, still in force), numbered with the old standard's sequence
under every party's code (`revision_sequence`, then `standard.number_standard` as for a new
standard, which gives the numbers the year of the revision's own publication), and when published
it ends the old standard's life as `superseded` from the revision's implementation date
(`supersede`).
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from regstd.contracts.publication import StandardSuperseded
from regstd.kernel.errors import Conflict, Invalid
from regstd.publication.domain.life import Ending, facts_of, life_in_force, updated
from regstd.publication.domain.standard import Decided, JointPlan, Standard


def check_revision(old: Standard, area: str, parties: Sequence[str]) -> None:
    """A revision keeps the old standard's number: same area, the same parties, still in force."""
    if old.status != "published":
        raise Invalid(f"standard {old.id} is {old.status}; only a standard in force can be revised")
    if old.area != area or set(old.parties) != set(parties):
        raise Invalid(
            f"a revision of {old.id} keeps its number, so it needs the same area ({old.area}) and parties "
            f"({', '.join(old.parties)}), not {area} with {', '.join(parties)}"
        )


def revision_sequence(old: Standard, plan: JointPlan) -> int:
    """The sequence number of a planned revision: the old standard's; Invalid when it cannot revise it."""
    check_revision(old, plan.area, plan.parties)
    return old.sequence


def supersede(old: Standard, successor: Standard, now: datetime) -> Decided:
    """The published revision replaces the old standard from the revision's implementation date.

    A standard no longer in force (already superseded, or abolished meanwhile) stays as it is.
    """
    if old.status != "published":
        return old, []
    life = life_in_force(old, "supersede it")
    if successor.implementation_date is None:
        raise Conflict(f"revision {successor.id} is not published")
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
