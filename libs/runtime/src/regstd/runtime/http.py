"""The HTTP side every commanding service shares: one FastAPI app whose lifespan starts and stops
the service's runtime (broker, relay, consumers), bearer authentication, strict command models, a
request size limit, errors with a clear message, a server span per request, Prometheus metrics at
`/metrics`, and health and readiness endpoints."""

import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import FrameType
from typing import Annotated, Any, TypeVar

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regstd.kernel.errors import Refused
from regstd.kernel.principals import Principal
from regstd.runtime import telemetry
from regstd.runtime.auth import TokenBook
from regstd.runtime.bootstrap import Runtime, stop_within
from regstd.runtime.logs import configure_logging
from regstd.runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from regstd.runtime.periodic import Periodic
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.telemetry import configure_tracing

log = logging.getLogger(__name__)

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
    """Refuse a request body over the limit with 413, before any of it reaches a route."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"error": "too_large", "message": f"request body over {self.max_bytes} bytes"}
        ).encode()
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

_REFUSAL_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                "required": ["error", "message"],
            }
        }
    }
}


def refusals(described: Mapping[int, str]) -> Responses:
    """The OpenAPI answers of refusals: each status with what it means on this route, and the
    `{"error", "message"}` body every refusal of every service has (`_error` below)."""
    return {status: {"description": text, **_REFUSAL_BODY} for status, text in described.items()}


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
) -> FastAPI:
    """The service's HTTP app; starting it starts the runtime, stopping it stops the runtime.

    `routers` are module-level routers whose routes get the service's use cases through `provide`
    from `uses` (one object per class); `prepare` runs before the runtime starts consuming (indexes
    that make handlers safe); `background` work runs while the app runs.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for step in prepare:
            await step()
        await runtime.start()
        for work in background:
            work.start()
        try:
            yield
        finally:
            for work in background:
                await stop_within(work.name, work.stop())
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    app.state.tokens = tokens
    app.state.runtime = runtime
    app.state.uses = {type(used): used for used in uses}
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(HttpTracing, tracer=runtime.tracer)  # outermost: refusals are traced too

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

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        """The process answers."""
        return {"status": "live"}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        """The broker and the store answer."""
        checks = {
            "kafka": await runtime.broker.ping(timeout=2.0),
            "store": await _store_answers(runtime),
        }
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

    for router in routers:
        app.include_router(router)
    return app


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
    configure_tracing(settings.service_name, spans_dir=settings.spans_dir)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    uvicorn.run(build(), host=host, port=port, log_config=None, access_log=False)


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
