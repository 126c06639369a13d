"""The base of every event model, and the registry of event types.

Each concrete event declares its CloudEvents `type` (`cn.regstd.<service>.<entity>.<happening>.v<major>`),
the topic it travels on, and which field holds the aggregate id (the CloudEvents `subject` and the
Kafka key). Consumers ignore unknown fields, so a model accepts and drops extra keys; producers build
events through the typed constructor, which mypy's pydantic plugin checks for unknown arguments.
"""

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from regstd.contracts.topics import Topic

EVENT_TYPE_PATTERN = re.compile(
    r"^cn\.regstd\.[a-z]+(?:-[a-z]+)*\.[a-z]+(?:-[a-z]+)*\.[a-z]+(?:-[a-z]+)*\.v[1-9][0-9]*$"
)

EVENT_TYPES: dict[str, type["EventModel"]] = {}


class EventModel(BaseModel):
    """Data of one integration event; the CloudEvents attributes travel beside it as headers."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    subject_field: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Register every concrete event type once, refusing malformed or duplicate types."""
        super().__pydantic_init_subclass__(**kwargs)
        event_type = cls.__dict__.get("event_type")
        if event_type is None:
            return  # an abstract intermediate class
        if not EVENT_TYPE_PATTERN.match(event_type):
            raise TypeError(
                f"{cls.__name__}: event type {event_type!r} is not "
                "cn.regstd.<service>.<entity>.<happening>.v<major>"
            )
        if event_type in EVENT_TYPES and EVENT_TYPES[event_type] is not cls:
            raise TypeError(
                f"{cls.__name__}: event type {event_type!r} is already {EVENT_TYPES[event_type].__name__}"
            )
        if cls.subject_field not in cls.model_fields:
            raise TypeError(f"{cls.__name__}: subject field {cls.subject_field!r} is not a field")
        EVENT_TYPES[event_type] = cls

    @property
    def subject(self) -> str:
        """The id of the aggregate this event is about: CloudEvents subject and Kafka key."""
        return str(getattr(self, self.subject_field))

    @classmethod
    def source(cls) -> str:
        """The CloudEvents source: the producing service."""
        return f"/regstd/{cls.topic.owner}"


def event_model_for(event_type: str) -> type[EventModel] | None:
    """The model registered for a CloudEvents type, or None when this code does not know it."""
    return EVENT_TYPES.get(event_type)
