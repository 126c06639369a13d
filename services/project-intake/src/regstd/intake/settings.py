"""Settings of the project-intake service, from `REGSTD_*` environment variables."""

from pydantic import Field

from regstd.contracts.reference import load_reference
from regstd.runtime.settings import RuntimeSettings


def _public_comment_min_days() -> int:
    return int(load_reference().rule_value("public_comment_min_days"))


class IntakeSettings(RuntimeSettings):
    """The project-intake service's settings: its own name, its own database and its rules."""

    service_name: str = "project-intake"
    mongo_database: str = "regstd_intake"
    http_port: int = Field(default=8101, ge=0, le=65535)
    consumer_group: str = Field(
        default="project-intake",
        min_length=1,
        description="Kafka consumer group of the published-standards consumer.",
    )

    ballot_deadline_days: int = Field(
        default=30, ge=1, description="Days a ballot stays open before it is flagged overdue."
    )
    public_comment_min_days: int = Field(
        default_factory=_public_comment_min_days,
        ge=0,
        description="Shortest public comment period in days (reference data: public_comment_min_days); "
        "0 lets a demonstration close comment the day it opens.",
    )
    overdue_scan_interval_s: float = Field(
        default=60.0, gt=0, description="How often open ballots are checked against their deadline."
    )
    overlap_threshold: float = Field(
        default=0.25, ge=0, le=1, description="Lowest similarity that counts as an overlap."
    )
    overlap_limit: int = Field(default=5, ge=0, le=50, description="How many overlaps a proposal keeps.")
    overlap_title_weight: float = Field(
        default=0.7, ge=0, le=1, description="Weight of the title against the scope in the similarity."
    )
