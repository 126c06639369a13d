"""Preparation without the wait: many projects one vote from their decision, copied from one.

The latency phases need about 1,600 joint projects whose final-approval ballot lacks only Sichuan's
vote. Taking each through its ten steps over HTTP took most of a full bench (10 minutes of 23), and
none of it is measured. So one project goes through every step over HTTP (`phases.prepare_projects`),
and the others are copies of it, as the overlap phase already copies a proposal (`overlaps.load`):

- intake's stored document of that project, with its id, title and scope replaced (a made-up title
  of the overlap phase's kind for each), inserted in bulk (an empty outbox: its events are the ones
  below);
- every event intake published for it, read back from intake's topic, with the same replacements
  and a fresh event id, put on the topic in the same order on the copy's key, so that
  publication (and anyone else subscribed) has seen each copy exactly as it saw the original.

The deciding vote of each copy then goes over HTTP as before: what the bench measures is unchanged.
"""

import asyncio
import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient

from regstd.bench.overlaps import INTAKE_DATABASE, title_and_scope
from regstd.bench.phases import (
    Intake,
    from_the_beginning,
    idempotent_producer,
    prepare_projects,
    produce_all,
)
from regstd.contracts import event_model_for
from regstd.contracts.topics import INTAKE_PROJECTS
from regstd.runtime.events import KafkaRecord, ReceivedCloudEvent, from_kafka, new_event, to_kafka
from regstd.runtime.store import META_FIELDS, OUTBOX, OUTBOX_COUNT, PROCESSED, VERSION, Document


def copy_id(template: str, i: int) -> str:
    """The id of the template's i-th copy, in intake's own form (`prj-` and twelve hex digits)."""
    return "prj-" + hashlib.sha256(f"{template}:{i}".encode()).hexdigest()[:12]


def replaced(value: Any, replacements: dict[str, str]) -> Any:
    """The value with every occurrence of each key replaced by its value, in every string inside."""
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {key: replaced(item, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [replaced(item, replacements) for item in value]
    return value


def copied_document(template: Document, project_id: str, replacements: dict[str, str]) -> Document:
    """The template project as intake stores it, as a new project with nothing in its outbox."""
    state = {k: v for k, v in template.items() if k not in META_FIELDS}
    return {
        "_id": project_id,
        **replaced(state, replacements),
        VERSION: 1,
        OUTBOX: [],
        OUTBOX_COUNT: 0,
        PROCESSED: [],
    }


def copied_events(events: list[ReceivedCloudEvent], replacements: dict[str, str]) -> list[KafkaRecord]:
    """The template's events as the copy's, in the same order, each with a fresh id."""
    records = []
    for event in events:
        model = event_model_for(event.type)
        if model is None:
            raise RuntimeError(f"intake published an event type the contracts do not know: {event.type}")
        copy = model.model_validate(replaced(event.data, replacements))
        records.append(to_kafka(new_event(copy, now=event.time)))
    return records


async def settled_document(mongo_url: str, project_id: str, within_s: float = 60) -> Document:
    """Intake's stored project once its relay has published every event of it."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        deadline = time.monotonic() + within_s
        while True:
            doc = await client[INTAKE_DATABASE]["projects"].find_one({"_id": project_id})
            if doc is not None and not doc.get(OUTBOX_COUNT):
                return doc
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"project {project_id}'s events were not all published within {within_s} s"
                )
            await asyncio.sleep(0.1)
    finally:
        await client.close()


async def published_events(bootstrap: str, project_id: str) -> list[ReceivedCloudEvent]:
    """Every event on intake's topic keyed by the project, in order (read to the topic's end)."""
    found: list[ReceivedCloudEvent] = []
    async with from_the_beginning(bootstrap, INTAKE_PROJECTS) as (consumer, ends):
        while [p for p in ends if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [
                    from_kafka(r.key, r.value, r.headers) for r in records if r.key == project_id.encode()
                ]
    return found


async def seed_prepared_projects(
    intake: Intake, mongo_url: str, bootstrap: str, count: int, progress: Callable[[str], None]
) -> list[str]:
    """`count` projects one vote from their decision: one prepared over HTTP, the rest its copies."""
    [template] = await prepare_projects(intake, 1, progress)
    document = await settled_document(mongo_url, template)
    events = await published_events(bootstrap, template)
    if not events:
        raise RuntimeError(f"no event of project {template} on {INTAKE_PROJECTS.name}")
    title, scope = str(document["title_zh"]), str(document["scope"])
    rng = random.Random(count)
    copies, documents, records = [], [], []
    for i in range(count - 1):
        project_id = copy_id(template, i)
        # Titles of their own, as varied as real ones (the overlap phase's made-up standards): with
        # one title for all, every standard published would grow the same few overlap postings.
        # The scope first, since the template's quotes its title.
        new_title, new_scope = title_and_scope(rng)
        replacements = {scope: new_scope, title: new_title, template: project_id}
        copies.append(project_id)
        documents.append(copied_document(document, project_id, replacements))
        records += copied_events(events, replacements)
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        for start in range(0, len(documents), 2_000):
            await client[INTAKE_DATABASE]["projects"].insert_many(
                documents[start : start + 2_000], ordered=False
            )
    finally:
        await client.close()
    producer = idempotent_producer(bootstrap)
    await producer.start()
    try:
        await produce_all(producer, records)
    finally:
        await producer.stop()
    progress(f"prepared {count} projects: one over HTTP, {len(copies)} copies of it ({len(records)} events)")
    return [template, *copies]
