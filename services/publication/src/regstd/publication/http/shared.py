"""What several routers share: the catalogue they read, the refusals they document, the paging and
path parameters, and the view of a standard they answer with."""

from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor, Kind
from regstd.contracts.publication import PartyNumber
from regstd.publication.adapters.catalogue import Catalogue
from regstd.publication.domain.numbering import Withdrawal
from regstd.publication.domain.standard import Standard, Standing, Status
from regstd.runtime.http import provide, refusals

Reading = Annotated[Catalogue, Depends(provide(Catalogue))]
"""A route's catalogue: the read side over the standards and the number blocks."""

READ_REFUSALS = refusals(
    {
        401: "No bearer token, or an unknown one.",
        404: "No such standard, number or block.",
        422: "A malformed request or number; the message says why.",
    }
)
WRITE_REFUSALS = READ_REFUSALS | refusals(
    {
        403: "Not a regulator of one of the standard's parties.",
        409: "The standard is not numbered (published, superseded, abolished or already withdrawn): "
        "withdrawal applies only to a number reserved and not yet published.",
    }
)


StandardId = Annotated[str, Path(max_length=64, description="The standard's id.")]


class View(BaseModel):
    """Base of the answers: frozen."""

    model_config = ConfigDict(frozen=True)


class TextView(View):
    """Where the approved text lives and its SHA-256 digest."""

    location: str
    sha256: str


class WithdrawalView(View):
    """Why, by whom and when a numbered standard was withdrawn before publication."""

    reason: str
    by: Actor
    at: datetime

    @classmethod
    def of(cls, withdrawal: Withdrawal | None) -> "WithdrawalView | None":
        """The view of a withdrawal, if any."""
        return (
            None if withdrawal is None else cls(reason=withdrawal.reason, by=withdrawal.by, at=withdrawal.at)
        )


class StandardView(View):
    """A local standard in the catalogue: joint (from a project) or single-region (submitted)."""

    standard_id: str
    project_id: str | None
    status: Status = Field(
        description="numbered (holds a number, not yet published), published, withdrawn (withdrawn "
        "before publication: its number is not issued), superseded or abolished."
    )
    standing: Standing = Field(
        description="The status as of today (China Standard Time): `published` is `not_yet_in_force` "
        "before the implementation date and `in_force` from it; the others as `status`."
    )
    in_force: bool = Field(description="Published and its implementation date has come (derived from today).")
    area: str
    parties: list[str]
    numbers: list[PartyNumber] = Field(
        description="Its number under every party's code. Until publication the year is that of the "
        "planned publication date; publication fixes it."
    )
    sequence: int = Field(
        description="The shared sequence number from the area's block; a single-region standard's own."
    )
    year: int = Field(description="The year in the numbers: the year of publication.")
    kind: Kind
    category: str
    title_zh: str
    title_en: str | None
    scope: str
    eco_civilization: bool
    text: TextView
    approved_at: datetime | None = Field(description="When the final approval (批准) passed.")
    numbered_at: datetime
    publish_due_on: date = Field(description="Planned publication date (China Standard Time).")
    published_at: datetime | None
    publication_date: date | None = Field(description="Calendar date in China Standard Time.")
    implementation_date: date | None = Field(description="Calendar date in China Standard Time.")
    withdrawal: WithdrawalView | None

    @classmethod
    def of(cls, s: Standard, today: date) -> "StandardView":
        """The view of a standard as of today (a China Standard Time date)."""
        return cls(
            standard_id=s.id,
            project_id=s.project_id,
            status=s.status,
            standing=s.standing(today),
            in_force=s.in_force_on(today),
            area=s.area,
            parties=list(s.parties),
            numbers=list(s.numbers),
            sequence=s.sequence,
            year=s.year,
            kind=s.kind,
            category=s.category,
            title_zh=s.title_zh,
            title_en=s.title_en,
            scope=s.scope,
            eco_civilization=s.eco_civilization,
            text=TextView(location=s.text.location, sha256=s.text.sha256),
            approved_at=s.approved_at,
            numbered_at=s.numbered_at,
            publish_due_on=s.publish_due_on,
            published_at=s.published_at,
            publication_date=s.publication_date,
            implementation_date=s.implementation_date,
            withdrawal=WithdrawalView.of(s.withdrawal),
        )
