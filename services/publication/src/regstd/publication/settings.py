"""Settings of the publication service, from `REGSTD_*` environment variables."""

from pydantic import Field

from regstd.runtime.settings import RuntimeSettings


class PublicationSettings(RuntimeSettings):
    """The publication service's settings: its own name, its own database and its rules."""

    service_name: str = "publication"
    mongo_database: str = "regstd_publication"
    http_port: int = Field(default=8102, ge=0, le=65535)
    consumer_group: str = Field(
        default="publication", min_length=1, description="Kafka consumer group of the approvals consumer."
    )
    implementation_offset_days: int = Field(
        default=90, ge=0, description="Days from the publication date to the implementation date."
    )
    publication_delay_days: int = Field(
        default=0,
        ge=0,
        description="Days between numbering and publication; 0 publishes at once. While waiting, a "
        "standard is `numbered` and a party's regulator may withdraw it (its number is not issued).",
    )
    publish_loop_interval_s: float = Field(
        default=30.0, gt=0, description="How often numbered standards are checked for publication."
    )
