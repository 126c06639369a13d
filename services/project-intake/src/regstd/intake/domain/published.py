"""The published standards intake remembers, heard from publication: what the overlap check compares
a proposal with, and what a revision must match."""

from pydantic import AwareDatetime, BaseModel, ConfigDict

from regstd.contracts.envelope import EventModel
from regstd.contracts.publication import StandardPublished


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
            number=" = ".join(n.number for n in event.numbers),
            published_at=event.published_at,
        )


def remember(
    known: PublishedStandard | None, event: StandardPublished
) -> tuple[PublishedStandard, list[EventModel]] | None:
    """Keep the latest publication of a standard; an older one (arriving late) changes nothing."""
    if known is not None and known.published_at is not None and known.published_at > event.published_at:
        return None
    return PublishedStandard.of(event), []
