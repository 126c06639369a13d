"""What happens to a standard after publication, as stored inside the standard's own document: its
statutory clocks, its filings (备案), its text disclosure, its reviews (复审), and how it ended
(abolished or superseded). Pure data; the rules are in `lifecycle.py`."""

from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor, RegionCode
from regstd.contracts.publication import FilingAuthority, PartyNumber, ReviewConclusion, ReviewOutcome
from regstd.kernel.clocks import Clock


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
