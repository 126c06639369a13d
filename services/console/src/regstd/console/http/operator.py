"""The operator's pages: service figures, a flow's waterfall, dead letters and their replay."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from regstd.console.app.operations import SERVICES, OperatorCases
from regstd.console.http.web import admitted, cases, checked_form, render

router = APIRouter(prefix="/operator")


def operations(request: Request) -> OperatorCases:
    """The wired operator cases."""
    found: OperatorCases = request.app.state.operations
    return found


@router.get("")
async def overview(request: Request) -> Response:
    """Consumer lag, outbox age and overdue clocks per service; the flow search; dead letters' link."""
    me = admitted(request, "operator")
    if isinstance(me, Response):
        return me
    return render(request, "operator.html", health=await cases(request).health(me))


@router.get("/flows")
async def flow(request: Request, q: str = "", store: bool = False) -> Response:
    """A flow found by standard number, project id or trace id, as a waterfall across services."""
    me = admitted(request, "operator")
    if isinstance(me, Response):
        return me
    query = q.strip()
    found = await operations(request).flow(me, query, store_calls=store) if query else None
    return render(request, "flow.html", query=query, store=store, flow=found)


@router.get("/dead-letters")
async def dead_letters(request: Request) -> Response:
    """Every service's dead letters, per consumed topic, newest first, each with a replay button."""
    me = admitted(request, "operator")
    if isinstance(me, Response):
        return me
    return render(request, "dead_letters.html", listed=await operations(request).dead_letters(me))


@router.get("/dead-letters/replay")
async def confirm_replay(request: Request, service: str, letter: str) -> Response:
    """The replay's confirmation, in words: which letter goes back to which topic, and that it is
    re-published once however often it is asked."""
    me = admitted(request, "operator")
    if isinstance(me, Response):
        return me
    found = await operations(request).letter(me, service, letter)
    return render(request, "replay_confirm.html", service=service, letter=found)


@router.post("/dead-letters/replay")
async def replay(request: Request) -> Response:
    """Replay one letter (after the confirmation); the answer says whether it was sent now or before."""
    me = admitted(request, "operator")
    if isinstance(me, Response):
        return me
    form = await checked_form(request)
    service, letter = str(form.get("service", "")), str(form.get("letter", ""))
    done = await operations(request).replay(me, service, letter)
    return render(request, "replayed.html", service=service, done=done, services=SERVICES)
