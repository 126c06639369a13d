"""The regulator's desk and the project pages: read, vote, propose, advance.

Every form posts to the console, which calls intake with the signed-in principal's token; a
refusal (403, 409, 422) is shown in the page with the service's own message and the status it gave.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from regstd.console.app.pages import ballot_clock, timeline
from regstd.console.app.ports import Refusal, SignedIn
from regstd.console.http.web import admitted, back_to, cases, checked_form, refused, render

router = APIRouter()


@router.get("/desk")
async def desk(request: Request) -> Response:
    """Ballots awaiting my region's position, my open projects, and the proposal form."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    page = await cases(request).desk(me)
    return render(request, "desk.html", desk=page, partners=cases(request).partners_of(me.code))


async def _project_page(
    request: Request, me: SignedIn, project_id: str, refusal: Refusal | None = None
) -> Response:
    project = await cases(request).project(me, project_id)
    standard = await cases(request).standard_of(me, project)
    stage = {
        "awaiting_project_approval": "project_approval",
        "awaiting_final_approval": "final_approval",
    }.get(project["status"])
    return render(
        request,
        "project.html",
        status_code=refusal.status if refusal else 200,
        project=project,
        standard=standard,
        stage=stage,
        clock=ballot_clock(project, stage) if stage else None,
        events=timeline(project),
        refusal=refusal,
    )


@router.get("/projects/{project_id}")
async def project_page(request: Request, project_id: str) -> Response:
    """A project: its state, ballots with every position, actions, and the timeline."""
    me = admitted(request)
    if isinstance(me, Response):
        return me
    return await _project_page(request, me, project_id)


async def _act(request: Request, project_id: str, act: Any) -> Response:
    me = admitted(request)
    if isinstance(me, Response):
        return me
    fields = await checked_form(request)
    try:
        await act(me, fields)
    except Refusal as refusal:
        return await _project_page(request, me, project_id, refusal)
    return back_to(f"/projects/{project_id}")


@router.post("/projects/{project_id}/positions/{stage}")
async def record_position(request: Request, project_id: str, stage: str) -> Response:
    """Record my region's approve, reject or object, with a reason."""

    async def act(me: SignedIn, fields: dict[str, Any]) -> None:
        await cases(request).record_position(
            me, project_id, stage, str(fields.get("position", "")), str(fields.get("reason", "")).strip()
        )

    return await _act(request, project_id, act)


@router.post("/projects/{project_id}/steps/{step}")
async def advance(request: Request, project_id: str, step: str) -> Response:
    """Start drafting, open or close public comment."""

    async def act(me: SignedIn, _: dict[str, Any]) -> None:
        await cases(request).advance(me, project_id, step)

    return await _act(request, project_id, act)


@router.post("/projects/{project_id}/review")
async def review(request: Request, project_id: str) -> Response:
    """Record my region's technical review conclusion."""

    async def act(me: SignedIn, fields: dict[str, Any]) -> None:
        passed = fields.get("passed") == "yes"
        await cases(request).review(me, project_id, str(fields.get("conclusion", "")), passed)

    return await _act(request, project_id, act)


@router.post("/projects/{project_id}/submission")
async def submit(request: Request, project_id: str) -> Response:
    """Submit the final text (its location and digest) for final approval."""

    async def act(me: SignedIn, fields: dict[str, Any]) -> None:
        await cases(request).submit(
            me, project_id, str(fields.get("location", "")).strip(), str(fields.get("sha256", "")).strip()
        )

    return await _act(request, project_id, act)


@router.post("/projects/{project_id}/close-date")
async def amend_close_date(request: Request, project_id: str) -> Response:
    """Move the closing date of the open public comment period, with an optional reason."""

    async def act(me: SignedIn, fields: dict[str, Any]) -> None:
        await cases(request).amend_close_date(
            me, project_id, str(fields.get("closes_on", "")).strip(), str(fields.get("reason", "")).strip()
        )

    return await _act(request, project_id, act)


async def _proposal_form(request: Request) -> tuple[SignedIn | Response, dict[str, Any]]:
    # The form is on the regulator's desk: another principal gets a 403 page, not a desk of its own.
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me, {}
    fields = await checked_form(request)
    parties = fields.get("parties", [])
    fields["parties"] = parties if isinstance(parties, list) else [parties]
    return me, fields


async def _desk_with_form(
    request: Request,
    me: SignedIn,
    fields: dict[str, Any],
    *,
    refusal: Refusal | None = None,
    preview: list[dict[str, Any]] | None = None,
) -> Response:
    """The desk again, with what was typed in the proposal form and a refusal or the overlaps found."""
    try:
        page = await cases(request).desk(me)
    except Refusal as error:
        return refused(request, error)
    return render(
        request,
        "desk.html",
        status_code=refusal.status if refusal else 200,
        desk=page,
        partners=cases(request).partners_of(me.code),
        refusal=refusal,
        typed=fields,
        preview=preview,
    )


@router.post("/projects/overlaps")
async def preview_overlaps(request: Request) -> Response:
    """Check the proposal form's overlaps before submitting: the desk again with what was typed and
    the matches intake finds (or its refusal); nothing is proposed."""
    me, fields = await _proposal_form(request)
    if isinstance(me, Response):
        return me
    try:
        matches = await cases(request).preview_overlaps(me, fields)
    except Refusal as refusal:
        return await _desk_with_form(request, me, fields, refusal=refusal)
    return await _desk_with_form(request, me, fields, preview=matches)


@router.post("/projects")
async def propose(request: Request) -> Response:
    """Propose a joint project; on a refusal the desk shows the message and keeps what was typed."""
    me, fields = await _proposal_form(request)
    if isinstance(me, Response):
        return me
    try:
        created = await cases(request).propose(me, fields)
    except Refusal as refusal:
        return await _desk_with_form(request, me, fields, refusal=refusal)
    return back_to(f"/projects/{created['project_id']}")


async def desk_refused(
    request: Request, me: SignedIn, refusal: Refusal, typed: dict[str, Any] | None = None
) -> Response:
    """The desk with a refusal of one of its forms (and what was typed in the proposal form)."""
    return await _desk_with_form(request, me, typed or {}, refusal=refusal)
