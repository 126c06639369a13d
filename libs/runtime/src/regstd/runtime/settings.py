"""Settings every service shares, read from `REGSTD_*` environment variables.

A service subclasses `RuntimeSettings` to add its own fields and to name its database; tracing
export follows the standard `OTEL_*` variables and is not repeated here.
"""

from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from regstd.contracts.reference import load_reference


def reference_rule(name: str) -> Any:
    """A rule default from the reference data (`rules` in regions.json), for a setting's default."""
    return load_reference().rule_value(name)


class RuntimeSettings(BaseSettings):
    """Connection and reliability settings of one service instance."""

    model_config = SettingsConfigDict(env_prefix="REGSTD_", extra="ignore", frozen=True)

    service_name: str = Field(min_length=1)
    mongo_database: str = Field(min_length=1, description="This service's own database, never shared.")
    kafka_bootstrap: str = "127.0.0.1:9092"
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_timeout_ms: int = Field(
        default=10_000,
        gt=0,
        description=(
            "Longest a store call may take (pymongo's timeoutMS); a hung call raises, and the "
            "consumer's retries or the relay's next round take over (decision 19)."
        ),
    )
    log_level: str = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8100, ge=0, le=65535)
    tokens_file: Path = Field(
        default=Path("var/local.json"), description="The token book: bearer tokens and their principals."
    )

    spans_dir: Path = Field(
        default=Path("var/spans"),
        description="Where finished spans are kept as JSON lines when no OTLP collector is configured.",
    )

    trace_store_calls: bool = Field(
        default=False,
        description=(
            "A span per store command (the pymongo instrumentation) under the request or event that "
            "made it. Off by default: they are most of a flow's spans and cost latency (decision 37)."
        ),
    )

    consumer_max_attempts: int = Field(
        default=5, ge=1, description="Tries before a message is dead-lettered."
    )
    consumer_batch_records: int = Field(
        default=500,
        ge=1,
        description=(
            "Most records a subscription takes from one fetch and handles as one batch, committed "
            "once after all their effects are stored (decision 36)."
        ),
    )
    consumer_keys_in_flight: int = Field(
        default=32,
        ge=1,
        description=(
            "Keys of one batch handled side by side; the records of one key are handled in order "
            "(decision 36)."
        ),
    )
    consumer_batches_in_flight: int = Field(
        default=4,
        ge=1,
        description=(
            "Batches of one subscription handled at once: a batch is fetched while earlier ones "
            "still run; offsets are committed in batch order (decision 40)."
        ),
    )
    consumer_batch_wait_ms: int = Field(
        default=100,
        ge=1,
        description=(
            "How long an idle subscription's fetch waits for records before it looks again; a record "
            "that arrives meanwhile is taken at once."
        ),
    )
    consumer_max_value_bytes: int = Field(
        default=1_048_576,
        ge=1,
        description="Largest record value a consumer decodes; a larger one is dead-lettered unread.",
    )
    retry_backoff_initial_s: float = Field(default=0.05, gt=0)
    retry_backoff_max_s: float = Field(default=2.0, gt=0)

    relay_batch_size: int = Field(default=500, ge=1, description="Aggregates the relay publishes per round.")
    relay_poll_interval_s: float = Field(
        default=3.0,
        gt=0,
        description=(
            "Fallback scan for work left by other instances or a crash; aggregates saved here are "
            "claimed by id at once (decision 19)."
        ),
    )
    relay_lease_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "How long a relay owns an aggregate's outbox unless it renews the lease: after a kill -9, "
            "another instance publishes the events within this plus one poll interval (decision 29)."
        ),
    )
    relay_lease_renew_s: float = Field(
        default=1.0,
        gt=0,
        description="How often a live relay renews the leases it holds; below `relay_lease_s`.",
    )
    relay_publish_delay_s: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Fault tests only: the relay waits this long between claiming and sending, renewing its "
            "leases meanwhile, so that an instance can be killed while it holds events. 0 in service."
        ),
    )

    @model_validator(mode="after")
    def _renewed_within_the_lease(self) -> Self:
        if self.relay_lease_renew_s >= self.relay_lease_s:
            raise ValueError(
                f"relay_lease_renew_s ({self.relay_lease_renew_s}) must be below relay_lease_s "
                f"({self.relay_lease_s}): a lease must be renewed before it runs out"
            )
        return self

    holiday_arrangements: Path | None = Field(
        default=Path("var/holiday-arrangements.json"),
        description=(
            "The JSON file of announced holiday arrangements (放假安排, with 调休 days) of years the "
            "calendar library does not know yet; read at start and again when it changes. Missing: "
            "those years are counted by rule and their deadlines are provisional (decision 24)."
        ),
    )
    holiday_arrangements_check_interval_s: float = Field(
        default=60.0, gt=0, description="How often the holiday arrangements file is checked for changes."
    )
