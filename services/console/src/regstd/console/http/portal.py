"""The public portal: no sign-in. The catalogue of published standards, searchable, a standard's
page and the Atom feeds per area and city. It reads with the portal's read-only token."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from regstd.console.app.ports import Refusal
from regstd.console.http.web import cases, principals, render

router = APIRouter()
FILTERS = ("q", "area", "party", "category", "year", "status")


@router.get("/")
async def catalogue(request: Request) -> Response:
    """The catalogue, filtered by the query; with `HX-Request` only the results (htmx search)."""
    query = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    found = await cases(request).catalogue(principals(request).reader_token(), query)
    template = "results.html" if request.headers.get("hx-request") else "portal.html"
    feeds = {
        "areas": {
            a: cases(request).gateway.url("publication", f"/feeds/{a}.atom")
            for a in cases(request).reference.areas
        },
        "cities": {
            c: cases(request).gateway.url("publication", f"/feeds/cities/{c}.atom")
            for c in cases(request).reference.partner_cities
        },
    }
    return render(request, template, query=query, found=found, feeds=feeds)


@router.get("/standards/{standard_id}")
async def standard(request: Request, standard_id: str) -> Response:
    """A published standard: its designations, dates, text link and checksum, filings and reviews;
    for a party's regulator, the forms to record its filing, the disclosure and its review."""
    return await show_standard(request, standard_id)


async def show_standard(request: Request, standard_id: str, refusal: Refusal | None = None) -> Response:
    """The standard's page, with a refusal of one of its forms when there was one."""
    reader = principals(request).reader_token()
    found = await cases(request).standard(reader, standard_id)
    life = await cases(request).life(reader, standard_id)
    return render(
        request,
        "standard.html",
        status_code=refusal.status if refusal else 200,
        standard=found,
        life=life,
        refusal=refusal,
    )
