"""Joint numbers, pure: how a joint standard's number is written and read, and which sequence number
of an area's block comes next.

A joint standard's number is DB + the two-digit region code, `/T` for a recommended standard and
nothing for a mandatory one, a space, the sequence number, an em dash and the four-digit year of
publication: `DB50/T 10001—2026`, `DB50 10001—2026`. A joint standard carries the same sequence
number, drawn from its area's block, under every party's code (decision 0007).

Each area has a block of sequence numbers starting at its first (chengyu from 10001, yrd from
310001). Numbers are handed out gap-free, each once, never reused: one allocation per number, the
next one after the highest allocated (`next_sequence`). A number withdrawn before publication is
recorded as `not_issued` and stays taken. How this holds with many instances and no transactions is
told in `adapters/allocator.py` (decisions 0019, 0020).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Literal, ParamSpec, TypeVar

from regstd.contracts import numbers
from regstd.contracts.common import Actor, Kind
from regstd.contracts.numbers import EM_DASH as EM_DASH  # re-exported: numbers live in contracts
from regstd.contracts.numbers import InvalidNumber
from regstd.contracts.numbers import Number as Number
from regstd.contracts.publication import PartyNumber
from regstd.kernel.errors import Invalid

P = ParamSpec("P")
R = TypeVar("R")


def _refused_as_invalid(read: Callable[P, R]) -> Callable[P, R]:
    """The shared number functions (contracts.numbers), refusing bad input as Invalid (422)."""

    @wraps(read)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return read(*args, **kwargs)
        except InvalidNumber as error:
            raise Invalid(str(error)) from error

    return checked


standard_code = _refused_as_invalid(numbers.standard_code)
format_number = _refused_as_invalid(numbers.format_number)
parse_number = _refused_as_invalid(numbers.parse_number)
number_key = _refused_as_invalid(numbers.number_key)


def joint_numbers(parties: Sequence[str], kind: Kind, sequence: int, year: int) -> tuple[PartyNumber, ...]:
    """The numbers of one joint standard: the same sequence and year under every party's code."""
    return tuple(PartyNumber(party=p, number=format_number(p, kind, sequence, year)) for p in parties)


# ---------------------------------------------------------------------------------------------
# Allocations of a block


AllocationStatus = Literal["assigned", "not_issued"]


@dataclass(frozen=True)
class Withdrawal:
    """Why and by whom a numbered standard was withdrawn before publication (its number not issued)."""

    reason: str
    by: Actor
    at: datetime


@dataclass(frozen=True)
class Allocation:
    """One sequence number of a block and the project it was given to."""

    area: str
    sequence: int
    project_id: str
    standard_id: str
    status: AllocationStatus
    assigned_at: datetime
    reason: str | None = None
    by: Actor | None = None
    not_issued_at: datetime | None = None

    @property
    def not_issued(self) -> Withdrawal | None:
        """Why, by whom and when the number was not issued, when it was not."""
        if self.status != "not_issued" or not (self.reason and self.by and self.not_issued_at):
            return None
        return Withdrawal(self.reason, self.by, self.not_issued_at)


def allocation_id(area: str, sequence: int) -> str:
    """One allocation document per issued sequence number: unique by construction."""
    return f"{area}:{sequence}"


def next_sequence(highest: int | None, block_first: int) -> int:
    """The next number of a block: one after the highest allocated, or the block's first."""
    if highest is None:
        return block_first
    if highest < block_first:
        raise Invalid(f"allocation {highest} lies before the block's first number {block_first}")
    return highest + 1
