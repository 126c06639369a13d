"""Aggregate documents that carry their own outbox: the transactional outbox without transactions.

One document holds an aggregate's state, the events its last changes produced (`_outbox`) and the
ids of the events it consumed (`_processed`). A handler's whole effect is one atomic update of that
one document, guarded by `_version`, so the state, the outgoing events and the consumed id are
stored together or not at all. The relay publishes `_outbox` entries and pulls them afterwards.

A save whose aggregate had no events waiting also takes the relay's lease in that same write and
hands the entries to this process's relay, which publishes them without reading the document again;
otherwise (events of an earlier change still waiting, perhaps leased by another relay) it only names
the aggregate to the relay, which claims it (decision 20).

Loads made side by side (a consumer batch's keys, decision 36) are served together: one `find` by
`_id $in` per round instead of one `find_one` each (`regstd.runtime.rounds`); a load alone is still
one `find_one`. Saves made side by side are too (decision 46): a round's new aggregates are one
unordered `insert_many`, its changes one unordered `bulk_write` of versioned updates. Each document is
still written atomically on its own, and each save learns its own result: a duplicate `_id` is that
insert's write error; an update that found its version gone is told apart by a token (`_saved`) each
update of a round writes, read back only when fewer updates matched than were sent. A save alone is
one `insert_one` or `update_one`, as before.
"""

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import uuid4

from bson import decode, encode
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from regstd.runtime.events import PendingEvent
from regstd.runtime.rounds import Rounds

VERSION = "_version"
OUTBOX = "_outbox"
OUTBOX_COUNT = "_outbox_count"
PROCESSED = "_processed"
RELAY_LEASE = "_relay_lease"
SAVED = "_saved"
"""The token of the round's update that last wrote the document (rounds of several updates only)."""
META_FIELDS = frozenset({"_id", VERSION, OUTBOX, OUTBOX_COUNT, PROCESSED, RELAY_LEASE, SAVED})
DUPLICATE_KEY = 11000

Document = dict[str, Any]


class Courier(Protocol):
    """The relay, as a store sees it: it leases aggregates and takes over or claims their events."""

    def new_lease(self) -> Document | None:
        """A lease of this relay, valid from now, to store with an aggregate (None: do not lease)."""

    def hand_over(
        self,
        collection: AsyncCollection[Document],
        aggregate_id: str,
        entries: Sequence[Document],
        lease: Document | None = None,
    ) -> None:
        """Publish these outbox entries of an aggregate stored under this relay's lease (`lease`)."""

    def notify(self, collection: str | None = None, aggregate_id: str | None = None) -> None:
        """Claim this aggregate's waiting events in the next round."""


class VersionConflict(RuntimeError):
    """Someone else changed the aggregate since it was loaded; load again and retry."""


@dataclass(frozen=True)
class Loaded:
    """An aggregate's state as read, with the version a save must still find."""

    id: str
    version: int
    state: Document
    processed: frozenset[str] = field(default_factory=frozenset)
    pending: int = 0
    """Events of earlier changes still waiting in the outbox."""

    def has_processed(self, event_id: str) -> bool:
        """Whether the event with this id already had its effect on this aggregate."""
        return event_id in self.processed


async def insert_unordered(collection: AsyncCollection[Document], documents: Sequence[Document]) -> set[int]:
    """Insert the documents in one unordered write; the indexes of those refused because their
    `_id` (or another unique key) exists. Any other failure raises."""
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors") or []
        if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return {int(e["index"]) for e in errors}
    return set()


@dataclass(frozen=True)
class _Write:
    """One versioned save as a round writes it: a new document, or an update of `version`."""

    aggregate_id: str
    document: Document | None = None
    version: int = 0
    update: Document | None = None


class AggregateStore:
    """One collection of aggregates of one kind, written only through versioned saves."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        relay: Courier | None = None,
    ) -> None:
        """`relay` publishes this process's saves at once; without one, events wait for a scan."""
        self.collection = collection
        self._relay = relay
        self._loads: Rounds[str, str, Document | None] = Rounds(self._find_many)
        self._writes: Rounds[str, _Write, bool] = Rounds(self._write_many)

    async def ensure_indexes(self) -> None:
        """The index the relay scans for aggregates with pending events."""
        await self.collection.create_index([(OUTBOX_COUNT, ASCENDING)], name="outbox_pending")

    async def load(self, aggregate_id: str) -> Loaded | None:
        """The aggregate with its version, or None if it does not exist."""
        doc = await self._loads.ask(self.collection.name, aggregate_id)
        if doc is None:
            return None
        state = {k: v for k, v in doc.items() if k not in META_FIELDS}
        return Loaded(
            id=aggregate_id,
            version=doc[VERSION],
            state=state,
            processed=frozenset(doc.get(PROCESSED, ())),
            pending=doc.get(OUTBOX_COUNT, 0),
        )

    async def _find_many(self, _: str, aggregate_ids: Sequence[str]) -> list[Document | None]:
        """One round of loads: the documents in the order asked, None for those that do not exist."""
        projection = {OUTBOX: False, RELAY_LEASE: False}
        if len(aggregate_ids) == 1:
            return [await self.collection.find_one({"_id": aggregate_ids[0]}, projection=projection)]
        query = {"_id": {"$in": sorted(set(aggregate_ids))}}
        found = {doc["_id"]: doc async for doc in self.collection.find(query, projection=projection)}
        answers: list[Document | None] = []
        given: set[str] = set()
        for aggregate_id in aggregate_ids:
            doc = found.get(aggregate_id)
            # Each load gets its own document: one asked for twice is not shared between its callers.
            answers.append(None if doc is None else copy.deepcopy(doc) if aggregate_id in given else doc)
            given.add(aggregate_id)
        return answers

    async def save(
        self,
        aggregate_id: str,
        state: Mapping[str, Any],
        *,
        loaded: Loaded | None,
        events: Sequence[PendingEvent] = (),
        consumed: str | None = None,
    ) -> int:
        """Store the new state with its events and the consumed event id in one atomic write.

        `loaded` is what the change was computed from (None for a new aggregate). Raises
        VersionConflict when the aggregate changed meanwhile, or already exists when new.
        Returns the new version.
        """
        if any(key in META_FIELDS or key.startswith("$") for key in state):
            raise ValueError(f"state may not use the reserved fields {sorted(META_FIELDS)}")
        # the entries as the store keeps them (times to the millisecond), so `$pullAll` finds them
        outbox: list[Document] = decode(encode({"e": [e.to_document() for e in events]}))["e"]
        processed = [consumed] if consumed else []
        # Nothing waiting before this change: no relay holds a lease, and none can take one without
        # a save changing the version, so this save takes the lease for this process's relay.
        lease = None
        if outbox and self._relay is not None and (loaded is None or loaded.pending == 0):
            lease = self._relay.new_lease()
        if loaded is None:
            doc: Document = {
                "_id": aggregate_id,
                **state,
                VERSION: 1,
                OUTBOX: outbox,
                OUTBOX_COUNT: len(outbox),
                PROCESSED: processed,
            }
            if lease is not None:
                doc[RELAY_LEASE] = lease
            if not await self._writes.ask(self.collection.name, _Write(aggregate_id, document=doc)):
                raise VersionConflict(f"aggregate {aggregate_id} already exists")
            new_version = 1
        else:
            update: Document = {"$inc": {VERSION: 1, OUTBOX_COUNT: len(outbox)}}
            if state or lease is not None:
                update["$set"] = dict(state) | ({RELAY_LEASE: lease} if lease is not None else {})
            removed = set(loaded.state) - set(state)
            if removed:
                update["$unset"] = dict.fromkeys(removed, "")
            pushes: Document = {}
            if outbox:
                pushes[OUTBOX] = {"$each": outbox}
            if processed:
                pushes[PROCESSED] = {"$each": processed}
            if pushes:
                update["$push"] = pushes
            written = _Write(aggregate_id, version=loaded.version, update=update)
            if not await self._writes.ask(self.collection.name, written):
                raise VersionConflict(f"aggregate {aggregate_id} changed since version {loaded.version}")
            new_version = loaded.version + 1
        if lease is not None and self._relay is not None:
            self._relay.hand_over(self.collection, aggregate_id, outbox, lease)
        elif outbox and self._relay is not None:
            self._relay.notify(self.collection.name, aggregate_id)
        return new_version

    async def _write_many(self, _: str, writes: Sequence[_Write]) -> list[bool]:
        """One round of saves: whether each was stored (False: its `_id` exists, or its version is
        gone). A failure other than those raises, to every save of the round, as a lost answer would:
        the caller cannot tell whether its write was stored, and its retry finds out."""
        stored = [False] * len(writes)
        inserts = [i for i, w in enumerate(writes) if w.document is not None]
        updates = [i for i, w in enumerate(writes) if w.update is not None]
        if inserts:
            for i, ok in zip(inserts, await self._insert([writes[i] for i in inserts]), strict=True):
                stored[i] = ok
        if updates:
            for i, ok in zip(updates, await self._update([writes[i] for i in updates]), strict=True):
                stored[i] = ok
        return stored

    async def _insert(self, writes: Sequence[_Write]) -> list[bool]:
        documents = [w.document for w in writes if w.document is not None]
        if len(documents) == 1:
            try:
                await self.collection.insert_one(documents[0])
            except DuplicateKeyError:
                return [False]
            return [True]
        refused = await insert_unordered(self.collection, documents)
        return [i not in refused for i in range(len(documents))]

    async def _update(self, writes: Sequence[_Write]) -> list[bool]:
        if len(writes) == 1:
            only = writes[0]
            assert only.update is not None
            where = {"_id": only.aggregate_id, VERSION: only.version}
            one = await self.collection.update_one(where, only.update)
            return [one.matched_count == 1]
        token = uuid4().hex
        operations = []
        for i, write in enumerate(writes):
            assert write.update is not None
            update = dict(write.update)
            update["$set"] = {**update.get("$set", {}), SAVED: f"{token}:{i}"}
            operations.append(UpdateOne({"_id": write.aggregate_id, VERSION: write.version}, update))
        bulk = await self.collection.bulk_write(operations, ordered=False)
        if bulk.matched_count == len(writes):
            return [True] * len(writes)
        # Some found their version gone: which ones, by the token each update left where it matched.
        ids = sorted({w.aggregate_id for w in writes})
        saved = {
            doc["_id"]: doc.get(SAVED)
            async for doc in self.collection.find({"_id": {"$in": ids}}, projection={SAVED: True})
        }
        return [saved.get(w.aggregate_id) == f"{token}:{i}" for i, w in enumerate(writes)]
