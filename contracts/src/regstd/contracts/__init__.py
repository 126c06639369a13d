"""Message contracts shared by every regstd service.

Events travel as CloudEvents 1.0 in Kafka's binary content mode: the attributes are `ce_*` headers,
the value is the event model's JSON. This package holds the topic registry, one versioned pydantic
model per event type, their exported JSON Schemas (see `regstd.contracts.schemas`) and the shared
reference data (`regstd.contracts.reference`).
"""

from regstd.contracts import harmonization, intake, publication
from regstd.contracts.envelope import EVENT_TYPES, EventModel, event_model_for
from regstd.contracts.publication import StandardPublished
from regstd.contracts.topics import TOPICS, Topic

__all__ = [
    "EVENT_TYPES",
    "TOPICS",
    "EventModel",
    "StandardPublished",
    "Topic",
    "event_model_for",
    "harmonization",
    "intake",
    "publication",
]
