"""Prometheus metrics of one service instance, in a registry of its own (so that several services in
one process, as in the end-to-end tests, keep theirs apart); served at `/metrics` by `create_app`."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """What an operator watches: consumption, failures, dead letters, lag, the outbox, overdue work."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "regstd_messages_consumed",
            "Messages a consumer finished, by outcome: processed, ignored (a type it does not "
            "handle) or dead_lettered.",
            ["topic", "group", "outcome"],
            registry=r,
        )
        self.failed = Counter(
            "regstd_messages_failed",
            "Handler attempts that raised (each retry counts).",
            ["topic", "group"],
            registry=r,
        )
        self.dead_letters = Counter(
            "regstd_dead_letters",
            "Messages sent to the dead-letter topic, by original topic.",
            ["topic", "group"],
            registry=r,
        )
        self.processing = Histogram(
            "regstd_message_processing_seconds",
            "Time from receiving a message to its effect stored, ignored or dead-lettered.",
            ["topic", "group"],
            registry=r,
        )
        self.lag = Gauge(
            "regstd_consumer_lag",
            "Messages behind the partition's end after the last processed one.",
            ["topic", "partition", "group"],
            registry=r,
        )
        self.published = Counter(
            "regstd_events_published",
            "Outbox events the relay published with the broker's acknowledgement.",
            ["topic"],
            registry=r,
        )
        self.publish_failures = Counter(
            "regstd_relay_publish_failures",
            "Outbox events the broker did not acknowledge (they stay pending and are retried).",
            ["topic"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "regstd_outbox_backlog", "Outgoing events waiting in outboxes.", ["collection"], registry=r
        )
        self.outbox_oldest_age = Gauge(
            "regstd_outbox_oldest_age_seconds",
            "Age of the oldest outgoing event still waiting (0 when none waits).",
            ["collection"],
            registry=r,
        )
        self.approvals_refused = Counter(
            "regstd_approvals_refused",
            "Final approvals publication refused instead of publishing, by rule (ApprovalRefused).",
            ["rule"],
            registry=r,
        )
        self.overdue = Gauge(
            "regstd_overdue",
            "Clocks past their deadline, by kind (ballot, cycle_time, filing, review, …), counted at scrape.",
            ["kind"],
            registry=r,
        )

    def gauge(self, name: str, documentation: str, labels: list[str]) -> Gauge:
        """One more gauge in this registry, for what a single service counts."""
        return Gauge(name, documentation, labels, registry=self.registry)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
