"""The event edge of a service as an AsyncAPI 3.0 document: every topic it receives from or sends
to, each event type on it (the payload is the contract's JSON Schema), its key and its headers.

FastStream generates the document's frame from the service's broker: the subscriptions the runtime
registered (`Runtime.consume`) and, on a broker that is only described (never connected), the
publications: the topics the service owns (its relay sends their events) and the dead-letter topics
of the topics it consumes. regstd then names each channel by its topic and each operation by what
it does, and puts in what FastStream cannot know: the contract schema of each event type
(`regstd.contracts.schemas.export_schema`, `$ref`s pointing to where the schema sits in this
document), the CloudEvents binary-mode headers and the key. Decision 30.

`python -m regstd.runtime.asyncapi <dir> <module:function>...` writes the documents the functions
return to `<dir>/<service>.json` (`make schemas`).
"""

import html
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from faststream.specification.asyncapi import AsyncAPI

from regstd.contracts import EVENT_TYPES, TOPICS, EventModel, Topic
from regstd.contracts.schemas import export_schema
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.consumer import DLQ_FAILED_AT, DLQ_HEADERS
from regstd.runtime.events import CONTENT_TYPE

Document = dict[str, Any]

DOCUMENTED_BOOTSTRAP = "127.0.0.1:9092"
"""The Kafka server the exported documents name: the local stack's (a served one names its own)."""

KAFKA_BINDING_VERSION = "0.5.0"
DEAD_LETTER_MESSAGE = "dead-letter"


def service_document(
    runtime: Runtime, *, title: str, description: str, bootstrap: str | None = None
) -> Document:
    """The AsyncAPI 3.0 document of the service running on `runtime`."""
    service = runtime.settings.service_name
    owned = [topic for topic in TOPICS.values() if topic.owner == service]
    consumed = {consumer.topic.name: consumer.topic for consumer in runtime.consumers}
    described = KafkaBroker(bootstrap or runtime.settings.kafka_bootstrap)  # never connected
    for topic in owned:
        described.publisher(topic.name, title=f"send:{topic.name}", description=_sends(topic))
    for topic in consumed.values():
        described.publisher(
            topic.dead_letter,
            title=f"send:{topic.dead_letter}",
            description=f"Records of {topic.name} this service could not decode or handle, unchanged, "
            "with x-dlq-* headers saying where they came from and why (`regstd dlq`).",
        )
    brokers = [runtime.broker, described] if runtime.consumers else [described]
    frame = (
        AsyncAPI(*brokers, title=title, version="1", description=description, schema_version="3.0.0")
        .to_specification()
        .to_jsonable()
    )
    receivers = {(c.group_id, c.topic.name): c for c in runtime.consumers}
    channels: Document = {}
    operations: Document = {}
    messages: Document = {}
    schemas: Document = {}
    for name, channel in frame["channels"].items():
        address = channel["address"]
        on: Topic | None = TOPICS.get(address) or consumed.get(address)
        channels[address] = {
            "address": address,
            "title": address,
            "description": _channel_description(address, on),
            "servers": channel["servers"],
            "messages": {},
            "bindings": {"kafka": {"topic": address, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        if on is None:
            channels[address]["messages"][DEAD_LETTER_MESSAGE] = _ref(
                "components", "messages", DEAD_LETTER_MESSAGE
            )
            messages[DEAD_LETTER_MESSAGE] = _dead_letter_message()
        else:
            for model in _models_of(on):
                channels[address]["messages"][model.event_type] = _ref(
                    "components", "messages", model.event_type
                )
                messages[model.event_type] = _message(model)
                schemas[model.event_type] = _payload(model)
        operation = frame["operations"][name]
        if operation["action"] == "receive":
            group, _, topic_name = name.partition(":")
            handled = sorted(receivers[(group, topic_name)].handlers)
            operations[f"{group}.receive.{address}"] = {
                "action": "receive",
                "channel": _ref("channels", address),
                "title": f"{group} receives {address}",
                "summary": f"Consumer group {group} handles {', '.join(handled)}; other types of the "
                "topic are skipped, records that do not decode go to the dead-letter topic.",
                "messages": [_ref("channels", address, "messages", t) for t in handled],
                "bindings": {
                    "kafka": {"groupId": {"type": "string", "enum": [group]}, "bindingVersion": "0.5.0"}
                },
            }
        else:
            operations[f"send.{address}"] = {
                "action": "send",
                "channel": _ref("channels", address),
                "title": f"{service} sends {address}",
                "summary": channel.get("description") or operation.get("summary", ""),
                "messages": [
                    _ref("channels", address, "messages", key) for key in channels[address]["messages"]
                ],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": "1", "description": description},
        "defaultContentType": CONTENT_TYPE,
        "servers": frame["servers"],
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items())), "schemas": dict(sorted(schemas.items()))},
    }


def app_document(app: FastAPI, bootstrap: str | None = None) -> Document:
    """The AsyncAPI document of a service's app (`create_app`): its runtime, title and description."""
    runtime: Runtime = app.state.runtime
    return service_document(runtime, title=app.title, description=app.description, bootstrap=bootstrap)


def contract_schema_of(document: Document, event_type: str) -> Document:
    """A message's payload schema as the contract exports it: its `$ref`s pointing into the schema
    itself again (the inverse of how the document places it)."""
    schema = document["components"]["schemas"][event_type]
    text = json.dumps(schema).replace(f'"#/components/schemas/{event_type}/$defs/', '"#/$defs/')
    loaded: Document = json.loads(text)
    return loaded


def render(document: Document) -> str:
    """The canonical text of a committed document, so that diffs stay small and stable."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def page(document: Document) -> str:
    """A small HTML page of the document: each operation with its channel and event types, and a
    link to the JSON (for AsyncAPI tools)."""
    rows = []
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        types = [ref["$ref"].rsplit("/", 1)[-1] for ref in operation.get("messages", [])]
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(operation['action'])}</td>"
            f"<td><code>{html.escape(channel)}</code></td>"
            f"<td>{'<br>'.join(f'<code>{html.escape(t)}</code>' for t in types)}</td></tr>"
        )
    title = html.escape(str(document["info"]["title"]))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}: events</title></head><body>"
        f"<h1>{title}: the event edge</h1><p>AsyncAPI {html.escape(document['asyncapi'])}: "
        "<a href='asyncapi.json'>asyncapi.json</a> (payloads are the contracts' JSON Schemas; "
        "headers are CloudEvents in the Kafka binary mode; the key is the subject).</p>"
        "<table border='1'><tr><th>operation</th><th>action</th><th>topic</th><th>event types</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


def _sends(topic: Topic) -> str:
    return (
        f"Events of {topic.owner}, sent by its outbox relay, keyed by aggregate id ({topic.partitions} "
        "partitions; one aggregate's events in order)."
    )


def _channel_description(address: str, topic: Topic | None) -> str:
    if topic is None:
        return f"Dead letters of {address.removesuffix('.dlq')}."
    return f"Owned by {topic.owner}; {topic.partitions} partitions, keyed by the subject (aggregate id)."


def _models_of(topic: Topic) -> list[type[EventModel]]:
    return [model for _, model in sorted(EVENT_TYPES.items()) if model.topic.name == topic.name]


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)}


def _payload(model: type[EventModel]) -> Document:
    """The contract schema, its local `$ref`s rewritten to where it sits in the document."""
    text = json.dumps(export_schema(model)).replace(
        '"#/$defs/', f'"#/components/schemas/{model.event_type}/$defs/'
    )
    loaded: Document = json.loads(text)
    return loaded


def _message(model: type[EventModel]) -> Document:
    return {
        "name": model.__name__,
        "title": model.event_type,
        "summary": (model.__doc__ or "").strip().split("\n\n")[0],
        "contentType": CONTENT_TYPE,
        "headers": _headers(model),
        "payload": _ref("components", "schemas", model.event_type),
        "correlationId": {"location": "$message.header#/ce_id"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"The subject: the event's {model.subject_field}, equal to ce_subject.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _headers(model: type[EventModel]) -> Document:
    """CloudEvents 1.0 in the Kafka binary content mode, and the W3C trace context."""
    return {
        "type": "object",
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_subject",
            "ce_time",
            "content-type",
        ],
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_id": {"type": "string", "description": "Unique per event; consumers drop a repeat by it."},
            "ce_source": {"const": model.source()},
            "ce_type": {"const": model.event_type},
            "ce_subject": {"type": "string", "description": f"The {model.subject_field}; equal to the key."},
            "ce_time": {"type": "string", "format": "date-time", "description": "When it happened (UTC)."},
            "content-type": {"const": CONTENT_TYPE},
            "traceparent": {"type": "string", "description": "W3C trace context of the relay's send span."},
            "tracestate": {"type": "string"},
        },
    }


def _dead_letter_message() -> Document:
    text = {"type": "string"}
    return {
        "name": "DeadLetter",
        "title": "dead letter",
        "summary": "A record that could not be decoded or handled, with its original key, value and headers.",
        "payload": {"description": "The original value, unchanged (any bytes)."},
        "headers": {
            "type": "object",
            "required": list(DLQ_HEADERS),
            "properties": {
                name: {"type": "string", "format": "date-time"} if name == DLQ_FAILED_AT else text
                for name in DLQ_HEADERS
            },
            "additionalProperties": {"type": "string", "description": "The original headers."},
        },
    }


def export(directory: Path, factories: list[Callable[[], Document]]) -> list[Path]:
    """Write each factory's document to `<directory>/<service>.json`; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for factory in factories:
        document = factory()
        path = directory / f"{document_name(document)}.json"
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def document_name(document: Document) -> str:
    """The file name of a service's document: its title without the `regstd ` prefix."""
    return str(document["info"]["title"]).removeprefix("regstd ").replace(" ", "-")


def _factory(spec: str) -> Callable[[], Document]:
    module, _, name = spec.partition(":")
    found: Callable[[], Document] = getattr(importlib.import_module(module), name)
    return found


def main() -> None:
    """Command line: `python -m regstd.runtime.asyncapi <dir> <module:function>...`."""
    directory, *specs = sys.argv[1:]
    for path in export(Path(directory), [_factory(spec) for spec in specs]):
        print(f"AsyncAPI document {path}")


if __name__ == "__main__":
    main()
