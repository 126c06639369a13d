"""Safe retries of writes: the `Idempotency-Key` request header (the IETF httpapi draft "The
Idempotency-Key HTTP Header Field"), for every POST, PUT, PATCH and DELETE of every service.

A write sent with a key is answered once; a retry with the same key and the same request gets the
first answer again (status, headers and body), from any instance, also after the instance that
first answered died. The key is the caller's: it is scoped by the authenticated principal, so two
principals never share (or read) an answer. What a key may hold: 1 to 255 printable ASCII
characters, sent plain or as a structured-field string (`"…"`).

- same key, another method, path, query or body: 422 `idempotency_key_reused`, nothing done;
- same key while its first request is still being answered: 409 `idempotency_key_in_progress`
  with `Retry-After`;
- a malformed key: 422 `invalid_request` naming the header;
- 2xx and 4xx answers are kept for `IdempotencySettings.ttl_s` (24 h); a 5xx or a "try again"
  conflict is not kept, so the retry runs again. Without the header nothing changes.

A record per principal and key (`_id` = the SHA-256 of both) says "in progress" under a short lease
the answering instance renews, then holds the answer. A crash between the aggregate's save and the
stored answer is covered by the unit of work: the request's marker is stored with the change in the
aggregate's one atomic write (`unit_of_work.RequestKey`), and a retry that finds the record still in
progress after its lease ran out re-executes with the same marker, which finds the change done and
answers with the aggregate instead of deciding again (decision 28).
"""

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bson import Binary
from fastapi import FastAPI
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regstd.kernel.time import Now, to_milliseconds, utc_now
from regstd.runtime.auth import TokenBook
from regstd.runtime.unit_of_work import RequestKey, answering

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
MAX_KEPT_BODY_BYTES = 1024 * 1024
"""A larger answer is not kept: its key's retry runs again (the unit of work keeps that safe)."""
REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to `true` on an answer given again for a key, not computed now."""

Document = dict[str, Any]


@dataclass(frozen=True)
class IdempotencySettings:
    """How long keys live and how long an answering instance holds one without renewing it."""

    ttl_s: float = 24 * 3600.0
    """A key's record (and its kept answer) expires this long after the first request."""
    lease_s: float = 10.0
    """A record in progress whose lease ran out belongs to a dead instance: a retry takes it over.
    The answering instance renews it every third of this while the request runs."""
    sweep_interval_s: float = 3600.0
    """How often expired records are removed where the store has no TTL index."""


# ---------------------------------------------------------------------------------------------
# The records


class RecordTable(Protocol):
    """Where idempotency records are kept: a MongoDB collection, or a dict in the unit tests."""

    async def insert(self, record: Document) -> bool:
        """Insert a record; False when one with its `_id` exists."""

    async def get(self, record_id: str) -> Document | None:
        """The record, or None."""

    async def update_if(self, record_id: str, match: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
        """Set `values` on the record if it still has the `match` fields; whether it did."""

    async def delete_if(self, record_id: str, match: Mapping[str, Any]) -> bool:
        """Delete the record if it still has the `match` fields; whether it did."""


class MongoRecordTable:
    """Idempotency records in a collection of the service's database, expired by a TTL index."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """The index of the records' expiry: a TTL index where the store has them (MongoDB), a plain
        one for `remove_expired` otherwise (FerretDB 1.x). Expiry is also checked on every read."""
        try:
            await self.collection.create_index(
                [("expires_at", ASCENDING)], name="expiry", expireAfterSeconds=0
            )
        except OperationFailure:
            log.info("the store has no TTL indexes: expired idempotency records are swept instead")
            await self.collection.create_index([("expires_at", ASCENDING)], name="expiry")

    async def remove_expired(self, now: datetime) -> int:
        """Remove the records expired by `now`; how many."""
        return (await self.collection.delete_many({"expires_at": {"$lte": now}})).deleted_count

    async def insert(self, record: Document) -> bool:
        """Insert a record; False when one with its `_id` exists."""
        try:
            await self.collection.insert_one(record)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, record_id: str) -> Document | None:
        """The record, or None."""
        return await self.collection.find_one({"_id": record_id})

    async def update_if(self, record_id: str, match: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
        """Set `values` on the record if it still has the `match` fields; whether it did."""
        result = await self.collection.update_one({"_id": record_id, **match}, {"$set": dict(values)})
        return result.matched_count == 1

    async def delete_if(self, record_id: str, match: Mapping[str, Any]) -> bool:
        """Delete the record if it still has the `match` fields; whether it did."""
        return (await self.collection.delete_one({"_id": record_id, **match})).deleted_count == 1


@dataclass(frozen=True)
class Kept:
    """An answer kept for a key."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class Run:
    """This instance answers the request: it owns the record until it keeps the answer."""

    marker: str
    owner: str
    taken_over: bool
    """The record was another instance's, whose lease ran out (it died while answering)."""


@dataclass(frozen=True)
class Replay:
    """The key's request was answered: give that answer again."""

    kept: Kept


@dataclass(frozen=True)
class Busy:
    """The key's request is being answered elsewhere right now."""

    retry_after_s: int


@dataclass(frozen=True)
class Reused:
    """The key came with another request."""


Begun = Run | Replay | Busy | Reused


class IdempotencyRecords:
    """The records of one service: begin a keyed request, keep its answer or let it go."""

    def __init__(
        self, table: RecordTable, settings: IdempotencySettings | None = None, *, clock: Now = utc_now
    ) -> None:
        self.table = table
        self.settings = settings or IdempotencySettings()
        self.clock = clock

    async def begin(self, record_id: str, fingerprint: str, *, principal: str, key: str) -> Begun:
        """Start answering a keyed request, or say why not (kept answer, busy, reused key)."""
        for _ in range(5):
            now = self._now()
            owner, nonce = secrets.token_hex(8), secrets.token_hex(8)
            record: Document = {
                "_id": record_id,
                "principal": principal,
                "key": key,
                "fingerprint": fingerprint,
                "state": "in_progress",
                "nonce": nonce,
                "owner": owner,
                "lease_until": now + timedelta(seconds=self.settings.lease_s),
                "created_at": now,
                "expires_at": now + timedelta(seconds=self.settings.ttl_s),
            }
            if await self.table.insert(record):
                return Run(_marker(record_id, nonce), owner, taken_over=False)
            found = await self.table.get(record_id)
            if found is None:
                continue  # expired and removed meanwhile
            if _aware(found["expires_at"]) <= now:
                await self.table.delete_if(record_id, {"nonce": found["nonce"]})
                continue
            if found["fingerprint"] != fingerprint:
                return Reused()
            if found["state"] == "done":
                return Replay(_kept(found["response"]))
            lease_until = _aware(found["lease_until"])
            if lease_until > now:
                return Busy(max(1, int((lease_until - now).total_seconds() + 0.999)))
            taken = await self.table.update_if(
                record_id,
                {"owner": found["owner"], "state": "in_progress"},
                {"owner": owner, "lease_until": now + timedelta(seconds=self.settings.lease_s)},
            )
            if taken:
                log.warning(
                    "a keyed request whose answering instance went away is answered again",
                    extra={"principal": principal},
                )
                return Run(_marker(record_id, found["nonce"]), owner, taken_over=True)
        raise RuntimeError(f"the idempotency record {record_id} kept changing")

    def expired_by(self) -> datetime:
        """The moment before which records have expired: now."""
        return self._now()

    async def renew(self, record_id: str, owner: str) -> bool:
        """Extend this instance's lease on a record in progress; False when it is no longer its."""
        until = self._now() + timedelta(seconds=self.settings.lease_s)
        return await self.table.update_if(
            record_id, {"owner": owner, "state": "in_progress"}, {"lease_until": until}
        )

    async def keep(self, record_id: str, owner: str, kept: Kept) -> bool:
        """Keep the answer for the key; False when the record is no longer this instance's."""
        response = {
            "status": kept.status,
            # as documents: FerretDB stores no nested arrays
            "headers": [{"name": n.decode("latin-1"), "value": v.decode("latin-1")} for n, v in kept.headers],
            "body": Binary(kept.body),
        }
        return await self.table.update_if(
            record_id,
            {"owner": owner, "state": "in_progress"},
            {"state": "done", "response": response, "answered_at": self._now()},
        )

    async def release(self, record_id: str, owner: str) -> None:
        """Forget the key (an answer not kept: a 5xx, "try again"): its retry runs again."""
        await self.table.delete_if(record_id, {"owner": owner, "state": "in_progress"})

    def _now(self) -> datetime:
        return to_milliseconds(self.clock())


def _marker(record_id: str, nonce: str) -> str:
    return f"idempotency:{record_id}:{nonce}"


def _aware(moment: datetime) -> datetime:
    # A client without tz_aware reads naive UTC; the records are always written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utc_now().tzinfo)


def _kept(response: Mapping[str, Any]) -> Kept:
    return Kept(
        status=int(response["status"]),
        headers=[(h["name"].encode("latin-1"), h["value"].encode("latin-1")) for h in response["headers"]],
        body=bytes(response["body"]),
    )


# ---------------------------------------------------------------------------------------------
# The key, the caller and the request


class BadKey(ValueError):
    """An Idempotency-Key header the service cannot use; the message says why."""


def parse_key(raw: bytes) -> str:
    """The key of an `Idempotency-Key` header: 1 to 255 printable ASCII characters, plain or as a
    structured-field string (`"…"`, with `\\"` and `\\\\` escapes)."""
    try:
        text = raw.decode("ascii").strip(" \t")
    except UnicodeDecodeError:
        raise BadKey("only printable ASCII characters are allowed") from None
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = _unquote(text[1:-1])
    if not text:
        raise BadKey("must not be empty")
    if len(text) > MAX_KEY_LENGTH:
        raise BadKey(f"at most {MAX_KEY_LENGTH} characters, not {len(text)}")
    odd = next((c for c in text if not " " <= c <= "~"), None)
    if odd is not None:
        raise BadKey(f"control character U+{ord(odd):04X} is not allowed")
    return text


def _unquote(inner: str) -> str:
    out: list[str] = []
    escaped = False
    for char in inner:
        if escaped:
            if char not in '"\\':
                raise BadKey('a structured-field string escapes only \\" and \\\\')
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            raise BadKey('an unescaped " inside a structured-field string')
        else:
            out.append(char)
    if escaped:
        raise BadKey("a structured-field string ends in a lone backslash")
    return "".join(out)


def fingerprint(scope: Scope, body: bytes) -> str:
    """What a retry must repeat exactly: the method, the path with its query and the body."""
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope.get("raw_path") or scope["path"].encode(), b"?"):
        digest.update(part + b"\0")
    digest.update(scope.get("query_string", b"") + b"\0")
    digest.update(body)
    return digest.hexdigest()


def record_id(principal: str, key: str) -> str:
    """The record of one principal's key: principals never meet each other's keys."""
    return hashlib.sha256(f"{principal}\0{key}".encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The middleware

COLLECTION = "idempotency"
"""The collection of a service's idempotency records, in its own database."""


def caller_of(scope: Scope) -> str | None:
    """The authenticated principal of a request as the scope of its keys ("regulator:50"), or None
    when its bearer token is missing or unknown (the route answers 401)."""
    raw = _header(scope, b"authorization")
    scheme, _, token = (raw or b"").decode("latin-1").partition(" ")
    tokens: TokenBook | None = getattr(scope["app"].state, "tokens", None)
    if scheme.lower() != "bearer" or not token.strip() or tokens is None:
        return None
    principal = tokens.principal(token.strip())
    return None if principal is None else f"{principal.kind}:{principal.code}"


class IdempotentWrites:
    """Answer writes sent with an `Idempotency-Key` once per principal and key (see the module).

    Sits inside `EdgeValidation` (what the edge refuses is refused again on a retry, unkept) and
    outside the routes, whose refusals (4xx) it keeps; an exception passes through it (the key is
    released) to `ServerErrors`. The records are the app's `state.idempotency`; an app without
    them, an unauthenticated request (it answers 401) and a read pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if raw is None or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            key = parse_key(raw)
        except BadKey as bad:
            where = f"header.{HEADER}"
            details = [{"where": where, "problem": str(bad)}]
            await _answer(send, 422, "invalid_request", f"{where}: {bad}", details=details)
            return
        principal = caller_of(scope)
        records: IdempotencyRecords | None = getattr(scope["app"].state, "idempotency", None)
        if principal is None or records is None:
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        if more is not None:  # the client left while sending: nothing to answer
            await self.app(scope, _replay([more]), send)
            return
        rid = record_id(principal, key)
        begun = await records.begin(rid, fingerprint(scope, body), principal=principal, key=key)
        if isinstance(begun, Replay):
            headers = [*begun.kept.headers, (REPLAYED_HEADER.lower().encode(), b"true")]
            await _send(send, begun.kept.status, headers, begun.kept.body)
        elif isinstance(begun, Reused):
            await _answer(
                send,
                422,
                "idempotency_key_reused",
                f"this {HEADER} was used with another request (method, path or body); "
                "a retry must repeat its request exactly, a new request needs a new key",
            )
        elif isinstance(begun, Busy):
            await _answer(
                send,
                409,
                "idempotency_key_in_progress",
                f"a request with this {HEADER} is still being answered; retry in {begun.retry_after_s} s",
                headers=[(b"retry-after", str(begun.retry_after_s).encode())],
            )
        else:
            await self._run(scope, body, send, records, rid, begun)

    async def _run(
        self, scope: Scope, body: bytes, send: Send, records: IdempotencyRecords, rid: str, run: Run
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        renewing = asyncio.create_task(_renew(records, rid, run.owner))
        key = RequestKey(run.marker)
        try:
            with answering(key):
                await self.app(scope, _replay([{"type": "http.request", "body": body}]), capture)
        except BaseException:
            await _quietly(records.release(rid, run.owner))
            raise
        finally:
            renewing.cancel()
        if start is None:
            await _quietly(records.release(rid, run.owner))
            return
        status: int = start["status"]
        answer = b"".join(chunks)
        headers = [(n, v) for n, v in start.get("headers", []) if n.lower() != b"content-length"]
        if status >= 500 or key.retryable or len(answer) > MAX_KEPT_BODY_BYTES:
            await _quietly(records.release(rid, run.owner))
        else:
            # Kept before it is sent: a client that has the answer finds it kept on its retry. The
            # answer goes out even when the store failed to keep it; a retry then runs again, safely.
            await _quietly(records.keep(rid, run.owner, Kept(status, headers, answer)))
        await _send(send, status, headers, answer)


async def _renew(records: IdempotencyRecords, rid: str, owner: str) -> None:
    while True:
        await asyncio.sleep(records.settings.lease_s / 3)
        if not await _quietly(records.renew(rid, owner)):
            return


async def _quietly(step: Awaitable[bool | None]) -> bool:
    try:
        return await step is not False
    except Exception:
        log.warning("an idempotency record could not be updated", exc_info=True)
        return False


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(messages: list[Message]) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    return receive


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


async def _answer(
    send: Send,
    status: int,
    error: str,
    message: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    **extra: Any,
) -> None:
    body = json.dumps({"error": error, "message": message, **extra}, ensure_ascii=False).encode()
    await _send(send, status, [(b"content-type", b"application/json"), *headers], body)


# ---------------------------------------------------------------------------------------------
# The OpenAPI document

_KEY_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes the write safe to retry (IETF httpapi draft): a retry with the same key and the same "
        "request gets the first answer again, even from another instance after a crash; the same key "
        "with another request is refused (422), one still being answered gets 409. Scoped by the "
        "caller; kept 24 hours. 1–255 printable ASCII characters, e.g. a UUID."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
}


def document(app: FastAPI, refusals: Callable[[Mapping[int, str]], Mapping[int | str, Any]]) -> None:
    """Name the `Idempotency-Key` header, and its 409 and 422 answers (as `refusals` documents an
    answer: the service's one error body), on every write operation of the app's OpenAPI document."""
    answers = refusals(
        {
            409: f"A request with this {HEADER} is still being answered.",
            422: f"A malformed {HEADER}, or one used with another request.",
        }
    )
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                if method.upper() not in WRITE_METHODS:
                    continue
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == HEADER for p in parameters):
                    parameters.append(dict(_KEY_PARAMETER))
                responses = operation.setdefault("responses", {})
                # Described only: create_app's `document_errors` gives every error its one body.
                for status, answer in answers.items():
                    responses.setdefault(str(status), {"description": answer["description"]})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
