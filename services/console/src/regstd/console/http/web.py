"""What every page shares: the templates, the language, the session's principal, the CSRF token,
form parsing, and showing a service's refusal in the page."""

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile as StarletteUpload

from regstd.console.app.pages import ConsoleCases
from regstd.console.app.ports import Principals, Refusal, SignedIn
from regstd.console.http.i18n import LANGS, Lang, translate
from regstd.console.http.local_time import china_time

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.filters["cst"] = china_time  # every moment a page shows, in China time
LANG_COOKIE = "regstd_lang"


def cases(request: Request) -> ConsoleCases:
    """The wired page cases."""
    found: ConsoleCases = request.app.state.cases
    return found


def principals(request: Request) -> Principals:
    """Who may sign in, and the portal's reader token."""
    found: Principals = request.app.state.principals
    return found


def lang_of(request: Request) -> Lang:
    """`?lang=` first, then the language cookie, then Chinese."""
    for asked in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if asked in LANGS:
            return asked
    return "zh"


def signed_in(request: Request) -> SignedIn | None:
    """The session's principal; a token the book no longer knows signs the session out."""
    token = request.session.get("token")
    if not token:
        return None
    me = principals(request).who(token)
    if me is None:
        request.session.pop("token", None)
    return me


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use; every form posts it back."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def form_of(request: Request) -> dict[str, Any]:
    """An url-encoded form; a field given more than once (checkboxes) becomes a list."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    fields: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key in fields:
            fields[key] = [*(fields[key] if isinstance(fields[key], list) else [fields[key]]), value]
        else:
            fields[key] = value
    return fields


class CsrfRefused(Exception):
    """A form post without this session's CSRF token."""


async def checked_form(request: Request) -> dict[str, Any]:
    """The posted form, after its CSRF token (field `csrf` or header `X-CSRF-Token`) matched."""
    fields = await form_of(request)
    _check_csrf(request, fields.get("csrf"))
    return fields


def _check_csrf(request: Request, sent: Any) -> None:
    """Refuse a post whose CSRF token (the form's, else the `X-CSRF-Token` header) is not the
    session's."""
    sent = sent or request.headers.get("x-csrf-token") or ""
    expected = request.session.get("csrf") or ""
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise CsrfRefused


@dataclass(frozen=True)
class Upload:
    """A file posted with a multipart form, and the form's other fields."""

    filename: str
    content: bytes
    fields: dict[str, str]


async def checked_upload(request: Request, field: str) -> Upload:
    """A multipart form with one file in `field`, after its CSRF token matched (as `checked_form`).
    The body's size was bounded before it was read (`main.BodyLimit`)."""
    form = await request.form(max_files=1, max_fields=20)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    _check_csrf(request, fields.get("csrf"))
    upload = form.get(field)
    if isinstance(upload, StarletteUpload):
        return Upload(upload.filename or "", await upload.read(), fields)
    return Upload("", b"", fields)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's language, with the principal, the CSRF token and `t()`."""
    lang = lang_of(request)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "me": signed_in(request),
            "lang": lang,
            "other_lang": "en" if lang == "zh" else "zh",
            "t": lambda key: translate(key, lang),
            "csrf": csrf_token(request),
            "reference": cases(request).reference,
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def refused(
    request: Request, refusal: Refusal, template: str = "refused.html", **context: Any
) -> HTMLResponse:
    """The service's refusal in plain words, with the status it gave (nothing was changed)."""
    status = refusal.status if 400 <= refusal.status < 600 else 502
    return render(request, template, status_code=status, refusal=refusal, **context)


def back_to(path: str) -> Response:
    """After a successful post: see the result (303, so a reload does not post again)."""
    return RedirectResponse(path, status_code=303)


def sign_in_first(request: Request) -> Response:
    """A page that needs a principal: to the sign-in page, coming back afterwards."""
    return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)


def admitted(request: Request, kind: str | None = None) -> SignedIn | Response:
    """The session's principal if it is of that kind; else the sign-in page (nobody signed in) or
    a 403 page (a principal of another kind)."""
    me = signed_in(request)
    if me is None:
        return sign_in_first(request)
    if kind is not None and me.kind != kind:
        return refused(request, Refusal(403, f"this page is for a {kind}, not a {me.kind}"))
    return me
