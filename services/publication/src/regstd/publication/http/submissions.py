"""HTTP route of single-region submissions: a region's regulator submits its own, already published
standard for cross-region publication (`domain/submission.py`)."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends
from pydantic import Field

from regstd.contracts.common import Kind
from regstd.publication.app.submissions import SubmissionCases
from regstd.publication.domain.standard import Text
from regstd.publication.domain.submission import Submission
from regstd.publication.http.shared import StandardView
from regstd.runtime.http import Caller, Command, provide, refusals

Submissions = Annotated[SubmissionCases, Depends(provide(SubmissionCases))]

router = APIRouter()


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


REFUSALS = refusals(
    {
        401: "No bearer token, or an unknown one.",
        403: "Not the regulator of the number's region.",
        409: "The number was submitted with other content, or is the designation of another standard "
        "(the answer names it).",
        422: "A malformed number, an unknown area, dates (publication in the future, implementation "
        "before publication or too late), kind, or a text location that is not https:/http:.",
    }
)


@router.post(
    "/submissions",
    tags=["publication"],
    summary="Submit a single-region standard for cross-region publication",
    response_model=StandardView,
    responses=REFUSALS,
)
async def submit(
    submissions: Submissions, body: Annotated[SubmitStandard, Body()], caller: Caller
) -> StandardView:
    """The regulator of the number's region submits its own standard; it is published to the
    area with its own number (`StandardPublished`, no project, one party). Repeating the same
    submission returns the stored standard and publishes nothing again; the same number with
    other content is refused (409), as is a number of another region (403)."""
    standard, _ = await submissions.submit(body.submission(), caller)
    return StandardView.of(standard, submissions.today())
