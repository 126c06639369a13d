"""Wiring: settings -> token book and session secret -> the services' gateway -> page cases ->
routers, styles and scripts; `main` serves it."""

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regstd.console.adapters.services import HttpGateway
from regstd.console.adapters.tokenbook import SERVICES, LocalBook
from regstd.console.app.city import CityCases
from regstd.console.app.operations import OperatorCases
from regstd.console.app.pages import ConsoleCases
from regstd.console.app.ports import Refusal, ServiceName
from regstd.console.http import desk, operator, people, portal, regulator, session
from regstd.console.http.i18n import translate
from regstd.console.http.web import CsrfRefused, lang_of, refused, render
from regstd.console.settings import ConsoleSettings
from regstd.contracts.reference import load_reference

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    # styles and scripts come only from the console itself, never a CDN (decision 0031)
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class BodyLimit:
    """Refuse a request body over the limit (413) before a route sees any of it: by its declared
    length, else by reading it (to the limit at most) and handing the route what was read. `larger`
    gives a path a limit of its own (the limits upload)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _too_large(limit)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        read: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return read.pop() if read else await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> Response:
    return PlainTextResponse(f"The request body is over {limit} bytes.", status_code=413)


def session_secret(settings: ConsoleSettings) -> str:
    """The configured secret, or (local mode) one generated once into the secret file."""
    if settings.session_secret:
        return settings.session_secret
    path = settings.secret_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def endpoints(settings: ConsoleSettings, book: LocalBook) -> dict[ServiceName, str]:
    """The services' addresses: the settings' where given, else the token book's."""
    found = book.endpoints()
    given: dict[ServiceName, str | None] = {
        "project-intake": settings.intake_url,
        "publication": settings.publication_url,
        "harmonization": settings.harmonization_url,
    }
    for name in SERVICES:
        url = given[name] or found.get(name)
        if url is None:
            raise SystemExit(
                f"no address for {name}: start the stack (make up) so {settings.tokens_file} names it, "
                f"or set REGSTD_CONSOLE_{name.split('-')[-1].upper()}_URL"
            )
        found[name] = url
    return found


def build(settings: ConsoleSettings, gateway: HttpGateway | None = None) -> FastAPI:
    """The console's web application."""
    book = LocalBook(settings.tokens_file, settings.portal_token)
    services = gateway or HttpGateway(endpoints(settings, book), settings.timeout_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await services.aclose()

    app = FastAPI(title="regstd console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.cases = ConsoleCases(services, load_reference())
    app.state.operations = OperatorCases(services, settings.trace_ui())
    app.state.city = CityCases(services, load_reference())
    app.state.principals = book
    for router in (
        portal.router,
        session.router,
        desk.router,
        regulator.router,
        people.router,
        operator.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "http" / "static"), name="static")
    htmx = settings.assets_dir / "htmx.org" / "dist"
    if not htmx.is_dir():
        log.warning("htmx is not installed (run `make console-assets`): pages work without it")
    app.mount("/assets/htmx", StaticFiles(directory=htmx, check_dir=False), name="htmx")

    # One place turns a service's refusal into the page that shows it, whichever call of a page
    # met it (nothing was changed).
    @app.exception_handler(Refusal)
    async def service_refused(request: Request, refusal: Refusal) -> Response:
        return refused(request, refusal)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _: CsrfRefused) -> Response:
        message = translate("csrf_refused", lang_of(request))
        return render(request, "refused.html", status_code=403, refusal=Refusal(403, message))

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> dict[str, str]:
        # the console keeps nothing: serving is being ready; a service that is down shows in its pages
        return {"status": "ready"}

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            # a page with a stricter policy of its own keeps it (the sandboxed assessment report)
            if name not in response.headers:
                response.headers[name] = value
        return response

    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        larger={"/limits/imports": settings.max_upload_bytes},
    )
    # added last, so it runs first: every route sees the session
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="regstd_session",
        same_site="lax",
        https_only=settings.secure_cookies,
        max_age=12 * 3600,
    )
    return app


def main() -> None:
    """Serve the console until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = ConsoleSettings()
    uvicorn.run(build(settings), host=settings.http_host, port=settings.http_port, log_config=None)
