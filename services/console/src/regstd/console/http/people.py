"""The partner city's page."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from regstd.console.app.city import CityCases
from regstd.console.http.web import admitted, render

router = APIRouter()


def city_cases(request: Request) -> CityCases:
    """The wired city cases."""
    found: CityCases = request.app.state.city
    return found


@router.get("/city")
async def city(request: Request) -> Response:
    """A partner city: its subscriptions (areas, categories), what its feed delivered and when, and
    the feed URL."""
    me = admitted(request, "city")
    if isinstance(me, Response):
        return me
    cases = city_cases(request)
    return render(
        request, "city.html", subscription=cases.subscription(me), received=await cases.received(me)
    )
