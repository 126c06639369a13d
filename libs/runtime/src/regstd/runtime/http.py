"""The HTTP side every commanding service shares: one FastAPI app whose lifespan starts and stops
the service's runtime (broker, relay, consumers), bearer authentication, strict command models, a
request size limit, errors with a clear message, a server span per request, Prometheus metrics at
`/metrics`, and health and readiness endpoints."""

import asyncio
import functools
import json
import logging
import math
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from types import FrameType
from typing import Annotated, Any, TypeVar
from urllib.parse import unquote, unquote_to_bytes

import uvicorn
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regstd.kernel.errors import Refused
from regstd.kernel.principals import Principal
from regstd.runtime import asyncapi, idempotency, telemetry
from regstd.runtime.auth import TokenBook
from regstd.runtime.bootstrap import Runtime, stop_within
from regstd.runtime.logs import configure_logging
from regstd.runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from regstd.runtime.periodic import Periodic
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.telemetry import configure_tracing

log = logging.getLogger(__name__)

_NO_FRAMEWORK_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class Command(BaseModel):
    """Base of every command body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Unauthenticated(Exception):
    """No bearer token, or one this service does not know."""


_bearer = HTTPBearer(
    auto_error=False, description="A token from the token book (local mode: var/local.json)."
)


def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The authenticated caller; 401 when the token is missing or unknown."""
    if credentials is None:
        raise Unauthenticated("missing bearer token: send `Authorization: Bearer <token>`")
    tokens: TokenBook = request.app.state.tokens
    principal = tokens.principal(credentials.credentials)
    if principal is None:
        raise Unauthenticated("unknown bearer token")
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
"""Inject the authenticated principal into a route."""

T = TypeVar("T")


def provide(kind: type[T]) -> Callable[[Request], T]:
    """A FastAPI dependency that gives a route the app's instance of `kind` (from `create_app(uses=…)`),
    so routers live at module level: `Intake = Annotated[IntakeCases, Depends(provide(IntakeCases))]`."""

    def provided(request: Request) -> T:
        used: dict[type, object] = request.app.state.uses
        found = used.get(kind)
        if not isinstance(found, kind):
            raise RuntimeError(f"the app was built without a {kind.__name__} (create_app(uses=…))")
        return found

    return provided


class BodySizeLimit:
    """Refuse a request body over the limit with 413, before any of it reaches a route. `larger`
    gives a path its own limit (an upload); every other path has `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = body_limits(max_bytes, larger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps({"error": "too_large", "message": f"request body over {limit} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def body_limits(max_bytes: int, larger: Mapping[str, int] | None = None) -> Callable[[str], int]:
    """The body limit of a path: its own from `larger` (an upload's), else `max_bytes`."""
    own = dict(larger or {})
    return lambda path: own.get(path, max_bytes)


RETRY_AFTER_SECONDS = 5
"""What a 503 during an outage of the store or the broker tells the caller to wait (`Retry-After`)."""

READY_CHECK_SECONDS = 0.8
"""How long readiness waits for each of the broker and the store (together, so it answers within 1 s)."""

_UNREACHABLE = (ConnectionFailure, ExecutionTimeout, KafkaConnectionError, KafkaTimeoutError)


def _unreachable(error: BaseException) -> BaseException | None:
    """The error (or one it was raised from, or grouped with) that says the store or the broker did
    not answer: pymongo's connection, server-selection and timeout errors, aiokafka's connection and
    timeout errors. None when the error is anything else."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        found = pending.pop()
        if id(found) in seen:
            continue
        seen.add(id(found))
        if isinstance(found, _UNREACHABLE) or (isinstance(found, PyMongoError) and found.timeout):
            return found
        if isinstance(found, BaseExceptionGroup):
            pending.extend(found.exceptions)
        pending.extend(e for e in (found.__cause__, found.__context__) if e is not None)
    return None


def _unavailable(cause: BaseException) -> JSONResponse:
    which = "the broker" if isinstance(cause, (KafkaConnectionError, KafkaTimeoutError)) else "the store"
    response = _error(503, "unavailable", f"{which} does not answer; retry in {RETRY_AFTER_SECONDS} s")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class ServerErrors:
    """Any exception a route or a middleware inside lets out answers a JSON 500 (never plain text)
    and is logged once with its traceback; one saying the store or the broker is unreachable answers
    503 with `Retry-After` instead, logged as a warning. Sits inside `HttpTracing`, which records
    the status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception as error:
            cause = _unreachable(error)
            if cause is not None:
                log.warning(
                    "%s %s: a dependency is unreachable: %s: %s",
                    scope.get("method"), scope.get("path"), type(cause).__name__, cause,
                )  # fmt: skip
                response = _unavailable(cause)
            else:
                log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
                response = _error(500, "internal_error", "an unexpected error; it has been logged")
            if started:
                raise  # too late for an answer of our own: the server closes the connection
            await response(scope, receive, send)


MAX_JSON_DEPTH = 32
"""How deeply a JSON body may nest (objects and arrays); deeper bodies are refused with 422."""

MAX_OFFSET = 1_000_000
MAX_PAGE = 200

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
"""A page size in a query, bounded: every listing of every service uses it."""
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many to skip.")]
"""How many items a listing skips, bounded so the store never sees a number it cannot hold."""

_INT64 = 2**63
# Control characters (C0, DEL, C1) and lone surrogates. Path and query parameters take none of
# them; strings in a JSON body may hold tab, newline and carriage return.
_NOT_IN_PARAMETERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class _Bad(Exception):
    """One part of a request the edge refuses: where it is (FastAPI's `loc` style) and why."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def _character_problem(text: str, pattern: re.Pattern[str]) -> str | None:
    found = pattern.search(text)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return f"a lone surrogate (U+{ord(char):04X}) is not text"
    return f"control character U+{ord(char):04X} is not allowed"


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Bad(where, "not valid UTF-8") from error


def _check_path(scope: Scope) -> None:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")
    for segment in raw.partition(b"?")[0].split(b"/"):
        try:
            text = _utf8(unquote_to_bytes(segment), "path")
            problem = _character_problem(text, _NOT_IN_PARAMETERS)
            if problem is not None:
                raise _Bad("path", problem)
        except _Bad as bad:
            raise _Bad(_path_parameter(scope, unquote(segment.decode("latin-1"))), bad.problem) from None


def _path_parameter(scope: Scope, segment: str) -> str:
    """`path.<name>` of the documented route parameter holding the segment; `path` when none does
    (an unknown path, or an app without an OpenAPI document)."""
    app = scope.get("app")
    try:
        paths: Mapping[str, object] = app.openapi()["paths"] if isinstance(app, FastAPI) else {}
    except Exception:
        log.warning("no OpenAPI document to name a path parameter", exc_info=True)
        paths = {}
    for template in paths:
        found = _path_pattern(template).match(scope["path"])
        if found is None:
            continue
        for name, value in found.groupdict().items():
            if segment in value:
                return f"path.{name}"
    return "path"


@functools.cache
def _path_pattern(template: str) -> re.Pattern[str]:
    """The compiled pattern of a documented path, compiled once (the edge matches on every request)."""
    return compile_path(template)[0]


def _check_query(raw: bytes) -> list[str]:
    """Refuse a query with control characters, surrogates or invalid UTF-8; the names given, in
    order, each as often as it was given."""
    given: list[str] = []
    for pair in raw.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _utf8(unquote_to_bytes(raw_name.replace(b"+", b" ")), "query")
        problem = _character_problem(name, _NOT_IN_PARAMETERS)
        if problem is not None:
            raise _Bad("query", f"a parameter name: {problem}")
        where = f"query.{name}"
        value = _utf8(unquote_to_bytes(raw_value.replace(b"+", b" ")), where)
        problem = _character_problem(value, _NOT_IN_PARAMETERS)
        if problem is not None:
            raise _Bad(where, problem)
        given.append(name)
    return given


def _check_query_names(scope: Scope, given: list[str]) -> None:
    """A query parameter the operation does not have (`?regoin=50`) is refused, not ignored, as an
    unknown field of a body is: a misspelt filter would otherwise answer as if no filter were given.
    A parameter of one value given twice (`?region=50&region=51`) is ambiguous: refused, rather than
    silently taking the last. A parameter documented as a list takes any number. Paths the OpenAPI
    document does not describe (the docs pages) are left alone."""
    app = scope.get("app")
    if not given or not isinstance(app, FastAPI):
        return
    known: dict[str, Mapping[str, Any]] = {}
    described = False
    for template, operations in app.openapi()["paths"].items():
        if _path_pattern(template).match(scope["path"]) is None:
            continue
        operation = operations.get(scope["method"].lower())
        if operation is None:
            continue
        described = True
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                known[parameter["name"]] = parameter["schema"]
    if not described:
        return
    for name in given:
        if name not in known:
            raise _Bad(f"query.{name}", "not a parameter of this operation")
    for name in {n for n in given if given.count(n) > 1}:
        if not _is_list(known[name]):
            raise _Bad(f"query.{name}", "given more than once; it takes one value")


def _is_list(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "array" or any(_is_list(s) for s in schema.get("anyOf", []))


def _is_json(headers: Mapping[bytes, bytes]) -> bool:
    media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def _depth(text: str) -> int:
    """How deeply a JSON text nests, read without recursion: brackets outside strings, the strings
    skipped by the regex engine (so a 16 MB import costs milliseconds, not seconds)."""
    depth = deepest = 0
    for token in _STRING_OR_BRACKET.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


class _OutOfRange:
    """A number read from a JSON body that no field may hold; the walk names its field."""

    def __init__(self, text: str) -> None:
        self.text = text if len(text) <= 24 else f"{text[:20]}…"


def _finite(text: str) -> float | _OutOfRange:
    number = float(text)
    return number if math.isfinite(number) else _OutOfRange(text)


def _int64(text: str) -> int | _OutOfRange:
    if len(text.lstrip("-")) > 19:
        return _OutOfRange(text)
    number = int(text)
    return number if -_INT64 <= number < _INT64 else _OutOfRange(text)


def _check_json(raw: bytes) -> None:
    text = _utf8(raw, "body")
    if _depth(text) > MAX_JSON_DEPTH:
        raise _Bad("body", f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text, parse_constant=_OutOfRange, parse_float=_finite, parse_int=_int64)
    except ValueError:
        return  # malformed: FastAPI's own parse answers it, with the position
    _check_values(data, "body")


def _check_values(value: object, where: str) -> None:
    if isinstance(value, str):
        problem = _character_problem(value, _NOT_IN_TEXT)
        if problem is not None:
            raise _Bad(where, problem)
    elif isinstance(value, _OutOfRange):
        raise _Bad(where, f"{value.text} is not a finite number within 64 bits")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, f"{where}.{index}")
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _character_problem(key, _NOT_IN_PARAMETERS)
            if problem is not None:
                raise _Bad(where, f"a field name: {problem}")
            _check_values(item, f"{where}.{key}")


class EdgeValidation:
    """Refuse with 422, before routing, what no route may ever see: control characters, lone
    surrogates or invalid UTF-8 in the path, a query parameter or a JSON body's strings, a query
    parameter of one value given more than once, and JSON
    bodies nested deeper than `MAX_JSON_DEPTH`, with non-finite numbers (`NaN`, `Infinity`,
    `1e999999`) or integers beyond 64 bits. Sits inside `BodySizeLimit`, so the body it reads is
    bounded; it hands the same bytes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_path(scope)
            _check_query_names(scope, _check_query(scope.get("query_string", b"")))
        except _Bad as bad:
            await _refuse(bad, scope, receive, send)
            return
        if not _is_json(dict(scope["headers"])):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)  # the client left: let the app see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            _check_json(body)
        except _Bad as bad:
            await _refuse(bad, scope, receive, send)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


async def _refuse(bad: _Bad, scope: Scope, receive: Receive, send: Send) -> None:
    details = [{"where": bad.where, "problem": bad.problem}]
    response = _error(422, "invalid_request", f"{bad.where}: {bad.problem}", details=details)
    await response(scope, receive, send)


_UNTRACED_PATHS = ("/health/", "/metrics", "/docs", "/openapi.json")
_PATH_PARAM_ATTRIBUTES = {
    "project_id": telemetry.PROJECT_ID,
    "standard_id": telemetry.STANDARD_ID,
    "stage": telemetry.BALLOT_STAGE,
}


class HttpTracing:
    """A server span per request (named by its route), continuing a caller's `traceparent`, with
    the route's business ids (project, standard, ballot stage) as attributes. Probes and
    documentation are not traced: they would bury the flows."""

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_UNTRACED_PATHS):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in (b"traceparent", b"tracestate")
        }
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method,
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "network.protocol.version": scope.get("http_version", "1.1"),
            },
        ) as span:
            try:
                await self.app(scope, receive, recording_send)
            finally:
                template = getattr(scope.get("route"), "path", None)
                if isinstance(template, str):
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                for name, value in (scope.get("path_params") or {}).items():
                    if name in _PATH_PARAM_ATTRIBUTES and isinstance(value, str):
                        span.set_attribute(_PATH_PARAM_ATTRIBUTES[name], value)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))


Responses = dict[int | str, dict[str, Any]]
"""FastAPI's `responses=`: the documented answers of a route besides its success."""


class Problem(BaseModel):
    """One refused part of a request: where it is (`body.title`, `query.offset`, `path.project_id`)
    and what is wrong with it."""

    where: str
    problem: str


class ErrorBody(BaseModel):
    """The one body of every error answer of every service (refusals, the edge's 413/422, the
    framework's 404/405, 401, 503 during an outage, an unexpected 500). A route may add fields of
    its own (a refused limit import lists its bad `rows`)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="A stable word for the kind of error: `invalid_request`, `conflict`, …")
    message: str = Field(description="What was wrong, for a person.")
    details: list[Problem] | None = Field(
        default=None, description="With `invalid_request`: every refused part of the request."
    )


def refusals(described: Mapping[int, str]) -> Responses:
    """The OpenAPI answers of refusals: each status with what it means on this route, and the one
    `ErrorBody` every refusal of every service has (`_error` below)."""
    return {status: {"description": text, "model": ErrorBody} for status, text in described.items()}


_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_PLAIN_HEADER = {"schema": {"type": "string"}}
_COMMON_ERRORS: Mapping[int, tuple[str, dict[str, Any]]] = {
    422: ("A part of the request the edge or the route refuses; the message names it.", {}),
    503: (
        "The store or the broker does not answer; retry after `Retry-After` seconds.",
        {"Retry-After": {"description": "Seconds to wait.", **_PLAIN_HEADER}},
    ),
}
_AUTH_ERROR = (
    "No bearer token, or one this service does not know.",
    {"WWW-Authenticate": {"description": "`Bearer`.", **_PLAIN_HEADER}},
)


def document_errors(document: dict[str, Any], max_body_bytes: Callable[[str], int]) -> dict[str, Any]:
    """Every error an operation can answer, added to an OpenAPI document in place, each with the one
    `ErrorBody` (`$ref`): 422 and 503 everywhere (the edge checks every path and query; any route may
    meet an outage), 401 where a bearer token is required, 404 where the path names something,
    413 where a body is taken (`max_body_bytes(path)` says the limit). What a route documents itself
    keeps its description; FastAPI's own 422 schema, which no answer has, is replaced."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, defs = models_json_schema([(ErrorBody, "serialization")], ref_template="#/components/schemas/{model}")
    schemas.update(defs.get("$defs", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            answers: dict[str, Any] = operation.setdefault("responses", {})
            added = dict(_COMMON_ERRORS)
            if operation.get("security"):
                added[401] = _AUTH_ERROR
            if "{" in path:
                added[404] = ("Nothing at this path (the message says what).", {})
            if "requestBody" in operation:
                added[413] = (f"The body is over {max_body_bytes(path)} bytes.", {})
            for status, (description, headers) in added.items():
                answer = answers.setdefault(str(status), {"description": description})
                if headers:
                    answer.setdefault("headers", headers)
            for code, answer in answers.items():
                if code.startswith(("4", "5")):
                    answer["content"] = {"application/json": {"schema": _ERROR_REF}}
    return document


_STATUSES = {status.value for status in HTTPStatus}


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "message": message, **extra})


def create_app(
    *,
    title: str,
    description: str,
    runtime: Runtime,
    tokens: TokenBook,
    routers: Sequence[APIRouter],
    uses: Sequence[object] = (),
    prepare: Sequence[Callable[[], Awaitable[None]]] = (),
    background: Sequence[Periodic] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    upload_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """The service's HTTP app; starting it starts the runtime, stopping it stops the runtime.

    `routers` are module-level routers whose routes get the service's use cases through `provide`
    from `uses` (one object per class); `prepare` runs before the runtime starts consuming (indexes
    that make handlers safe); `background` work runs while the app runs. A request body is at most
    `max_body_bytes`, except on the paths `upload_limits` gives a limit of their own. The OpenAPI
    document names every error each operation can answer (`document_errors`).
    """

    keys = idempotency.MongoRecordTable(runtime.database[idempotency.COLLECTION])
    records = idempotency.IdempotencyRecords(keys)
    expiry = Periodic(
        "idempotency-expiry",
        lambda: keys.remove_expired(records.expired_by()),
        records.settings.sweep_interval_s,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start(prepare=(keys.ensure_indexes, *prepare))
        for work in (*background, expiry):
            work.start()
        try:
            yield
        finally:
            for work in (*background, expiry):
                await stop_within(work.name, work.stop())
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="1",
        lifespan=lifespan,
        # FastAPI's own telemetry would wrap every request once more: three spans of its own steps
        # (dependencies, endpoint, serialization), metrics and log records, about a millisecond
        # of CPU per request. `HttpTracing` makes the one server span a flow needs (decision 41).
        telemetry=_NO_FRAMEWORK_TELEMETRY,
    )
    app.state.tokens = tokens
    app.state.runtime = runtime
    app.state.uses = {type(used): used for used in uses}
    app.state.idempotency = records
    # From the inside out: writes with an Idempotency-Key answered once, what no route may see,
    # the size limit (so the edge reads a bounded body), a JSON 500 for anything unexpected, and
    # the span (outermost: refusals are traced too).
    app.add_middleware(idempotency.IdempotentWrites)
    app.add_middleware(EdgeValidation)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, larger=upload_limits)
    app.add_middleware(ServerErrors)
    app.add_middleware(HttpTracing, tracer=runtime.tracer)

    @app.exception_handler(Refused)
    async def refused(_: Request, error: Refused) -> JSONResponse:
        return _error(error.status, type(error).__name__.lower(), str(error))

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, error: Unauthenticated) -> JSONResponse:
        response = _error(401, "unauthenticated", str(error))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in error.errors()
        ]
        summary = "; ".join(f"{d['where']}: {d['problem']}" for d in details)
        return _error(422, "invalid_request", summary, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def framework(_: Request, error: StarletteHTTPException) -> JSONResponse:
        """FastAPI's and Starlette's own answers (unknown path, method not allowed, a body that
        does not parse) in the same JSON body as every refusal."""
        reason = HTTPStatus(error.status_code).phrase if error.status_code in _STATUSES else "error"
        response = _error(error.status_code, reason.lower().replace(" ", "_"), str(error.detail))
        response.headers.update(error.headers or {})
        return response

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        """The process answers."""
        return {"status": "live"}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        """The broker and the store answer; asked together, each for at most 0.8 s, so the answer
        comes within 1 s in every state and names what is down."""
        kafka, store = await asyncio.gather(
            _within("kafka ping", runtime.broker.ping(timeout=READY_CHECK_SECONDS)),
            _within("store ping", _store_answers(runtime)),
        )
        checks = {"kafka": kafka, "store": store}
        status = 200 if all(checks.values()) else 503
        return JSONResponse(
            status_code=status, content={"status": "ready" if status == 200 else "not ready", **checks}
        )

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics of this instance: consumption, dead letters, lag, outbox, overdue work."""
        try:
            await runtime.refresh_metrics()
        except Exception:
            log.warning("could not read the outbox backlog for the metrics", exc_info=True)
        return Response(runtime.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/asyncapi.json", tags=["events"])
    async def asyncapi_document() -> JSONResponse:
        """The AsyncAPI 3.0 document of this service's event edge: the topics it sends to and
        receives from, each event type's schema (the contract's), key and headers."""
        return JSONResponse(_asyncapi_of(app))

    @app.get("/asyncapi", tags=["events"], response_class=HTMLResponse)
    async def asyncapi_page() -> HTMLResponse:
        """The AsyncAPI document's operations and event types as a page, linking the JSON."""
        return HTMLResponse(asyncapi.page(_asyncapi_of(app)))

    # Every service serves the operator's endpoints (spans, dead letters); imported here because
    # they are built on this module's `Caller` and `refusals`.
    from regstd.runtime import operations

    for router in (*routers, operations.router):
        app.include_router(router)
    # The Idempotency-Key header first, then every error named with the one body (by $ref).
    idempotency.document(app, refusals)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate(), body_limits(max_body_bytes, upload_limits))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it
    return app


def _asyncapi_of(app: FastAPI) -> asyncapi.Document:
    # Built on first request, when every subscription is wired; the same answer after.
    if getattr(app.state, "asyncapi", None) is None:
        app.state.asyncapi = asyncapi.app_document(app)
    document: asyncapi.Document = app.state.asyncapi
    return document


async def _within(what: str, check: Awaitable[bool]) -> bool:
    try:
        return await asyncio.wait_for(check, READY_CHECK_SECONDS)
    except TimeoutError:
        log.warning("%s gave no answer within %s s", what, READY_CHECK_SECONDS)
        return False
    except Exception:
        log.warning("%s failed", what, exc_info=True)
        return False


async def _store_answers(runtime: Runtime) -> bool:
    try:
        await runtime.database.command("ping")
    except Exception:
        log.warning("store ping failed", exc_info=True)
        return False
    return True


def _exit_on_signal(signum: int, _: FrameType | None) -> None:
    raise SystemExit(0 if signum == signal.SIGTERM else 128 + signum)


def serve_http(settings: RuntimeSettings, host: str, port: int, build: Callable[[], FastAPI]) -> None:
    """A commanding service's whole entry point: logs, tracing, then serve HTTP until interrupted.

    uvicorn shuts down gracefully on SIGTERM or SIGINT and then raises the signal again with the
    handler it found at start; this one turns that into a normal exit (0 after SIGTERM).
    """
    configure_logging(settings.service_name, settings.log_level)
    # The first line a process logs: its imports are done (start-up is measured from here on).
    log.info("starting", extra={"service": settings.service_name})
    configure_tracing(settings.service_name, spans_dir=settings.spans_dir)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    # No WebSocket protocol: no route takes one, and loading it is part of every start.
    uvicorn.run(build(), host=host, port=port, log_config=None, access_log=False, ws="none")


S = TypeVar("S", bound=RuntimeSettings)


def serve_service(settings: S, wire: Callable[[S, TokenBook], FastAPI]) -> None:
    """Run one instance of a service until SIGTERM or SIGINT: its app wired from its settings and the
    token book they name (without one it authenticates nobody)."""
    serve_http(
        settings,
        settings.http_host,
        settings.http_port,
        lambda: wire(settings, TokenBook.load_or_empty(settings.tokens_file)),
    )
