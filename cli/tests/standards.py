"""A published standard as the subscriber tests send it."""

from datetime import UTC, date, datetime

from regstd.contracts.common import TextReference
from regstd.contracts.publication import PartyNumber, StandardPublished


def standard(area: str, sequence: int, category: str = "transport") -> StandardPublished:
    return StandardPublished(
        standard_id=f"std-{area}-{sequence}",
        project_id=f"prj-{area}-{sequence}",
        area=area,
        parties=["50", "51"],
        numbers=[
            PartyNumber(party="50", number=f"DB50/T {sequence}—2026"),
            PartyNumber(party="51", number=f"DB51/T {sequence}—2026"),
        ],
        sequence=sequence,
        year=2026,
        title_zh=f"测试标准{sequence}",
        category=category,
        kind="recommended",
        publication_date=date(2026, 11, 22),
        implementation_date=date(2027, 2, 20),
        text=TextReference(location=f"https://texts.example/{sequence}.pdf", sha256="0" * 64),
        published_at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC),
    )
