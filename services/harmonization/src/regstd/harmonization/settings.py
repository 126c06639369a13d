"""Settings of the harmonization service, from `REGSTD_*` environment variables."""

from pydantic import Field

from regstd.harmonization.domain.limits import MAX_IMPORT_ROWS
from regstd.runtime.settings import RuntimeSettings


class HarmonizationSettings(RuntimeSettings):
    """The harmonization service's settings: its own name, its own database and its rules."""

    service_name: str = "harmonization"
    mongo_database: str = "regstd_harmonization"
    http_port: int = Field(default=8103, ge=0, le=65535)
    consumer_group: str = Field(
        default="harmonization", min_length=1, description="Kafka consumer group of the standards consumer."
    )
    adoption_area: str = Field(
        default="yangtze",
        min_length=1,
        description="The area whose members adopt each other's eco standards.",
    )
    eco_categories: list[str] = Field(
        default=["environment", "ecology"],
        description="Categories that make a standard an eco-civilization standard without the flag.",
    )
    max_import_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="The largest limit import (CSV or JSON) accepted, in bytes; only that route takes more "
        "than the 64 KiB of every other body. With the row limit it keeps a stored import (one document) "
        "under the store's 16 MiB (decision 27).",
    )
    max_import_rows: int = Field(
        default=MAX_IMPORT_ROWS, ge=1, description="The most rows one limit import holds."
    )
