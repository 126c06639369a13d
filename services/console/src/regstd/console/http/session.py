"""Sign-in and sign-out. Locally one chooses a principal of the token book or pastes a token; the
session (a signed cookie) keeps the token. Production signs in with an OpenID Connect provider
(decision 0032): only this router changes."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from regstd.console.http.web import back_to, checked_form, principals, render, signed_in

router = APIRouter()


def _home(kind: str) -> str:
    return {"regulator": "/desk", "city": "/city", "operator": "/operator"}.get(kind, "/")


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    """The sign-in form: the token book's principals, or a pasted token."""
    return render(request, "signin.html", choices=principals(request).choices(), problem=None)


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Sign in with a token; the session keeps it, signed."""
    fields = await checked_form(request)
    token = str(fields.get("pasted") or fields.get("token") or "").strip()
    me = principals(request).who(token) if token else None
    if me is None:
        return render(
            request,
            "signin.html",
            status_code=403,
            choices=principals(request).choices(),
            problem="unknown_token",
        )
    request.session["token"] = me.token
    target = str(request.query_params.get("next") or _home(me.kind))
    return back_to(target if target.startswith("/") and not target.startswith("//") else "/")


@router.post("/signout")
async def signout(request: Request) -> Response:
    """Forget the session's token."""
    await checked_form(request)
    request.session.pop("token", None)
    return back_to("/")


@router.get("/me")
async def me(request: Request) -> Response:
    """The signed-in principal's own page."""
    who = signed_in(request)
    return back_to(_home(who.kind) if who else "/signin")
