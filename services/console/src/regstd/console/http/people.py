"""The partner city's page and the operator's page."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from regstd.console.http.web import admitted, cases, render

router = APIRouter()


@router.get("/city")
async def city(request: Request) -> Response:
    """A partner city: its areas, what was published for it, and its feed URL."""
    me = admitted(request, "city")
    if isinstance(me, Response):
        return me
    received = await cases(request).received(me)
    partner = cases(request).reference.partner_cities.get(me.code)
    feed = cases(request).gateway.url("publication", f"/feeds/cities/{me.code}.atom")
    return render(request, "city.html", partner=partner, received=received, feed=feed)


@router.get("/operator")
async def operator(request: Request) -> Response:
    """Consumer lag, outbox age and overdue clocks per service; dead letters to come."""
    me = admitted(request, "operator")
    if isinstance(me, Response):
        return me
    return render(request, "operator.html", health=await cases(request).health(me))
