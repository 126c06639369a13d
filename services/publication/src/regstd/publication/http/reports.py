"""HTTP routes of the area report and the Atom feeds.

The report (`GET /reports/{area}`, JSON or CSV) is read by any authenticated principal, like the rest
of the catalogue. The feeds (`GET /feeds/{area}.atom`, `GET /feeds/cities/{city}.atom`) are public:
they carry only what publication announces to everyone anyway (a standard's numbers, title, dates,
filings and status), and a feed reader cannot easily send a bearer token (decision 17).
"""

import hashlib
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from regstd.publication.app.reports import ReportCases
from regstd.publication.domain.feed import ATOM_MEDIA_TYPE, FeedPage, atom_xml
from regstd.publication.domain.report import AreaReport, Granularity, Section, report_csv
from regstd.publication.http.shared import READ_REFUSALS
from regstd.runtime.http import Caller, provide

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


Reports = Annotated[ReportCases, Depends(provide(ReportCases))]

Categories = Annotated[
    list[str] | None,
    Query(alias="category", max_length=20, description="Only these categories (repeat); default all."),
]
Page = Annotated[int, Query(ge=1, le=100_000, description="Page of the feed, 1 = newest entries.")]
_FEED_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/atom+xml": {}}, "description": "An Atom (RFC 4287) feed page."},
    404: READ_REFUSALS[404],
    422: READ_REFUSALS[422],
}


router = APIRouter()


@router.get(
    "/reports/{area}",
    tags=["reports"],
    summary="An area's publications, cycle times, coming reviews and missing filings",
    response_model=AreaReport,
    responses={200: {"content": {"text/csv": {}}}, **READ_REFUSALS},
)
async def report(
    reports: Reports,
    request: Request,
    _: Caller,
    area: Annotated[str, Path(max_length=32, description="Cooperation area id, e.g. chengyu.")],
    from_year: Annotated[
        int | None, Query(alias="from", ge=1949, le=9999, description="First year (default: first).")
    ] = None,
    to_year: Annotated[
        int | None, Query(alias="to", ge=1949, le=9999, description="Last year (default: this year).")
    ] = None,
    granularity: Annotated[Granularity, Query(description="Periods within a year.")] = "quarter",
    review_window_days: Annotated[
        int | None, Query(ge=0, le=3660, description="Reviews due within this many days.")
    ] = None,
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="Default: from the Accept header.")
    ] = None,
    section: Annotated[
        Section, Query(description="For CSV: periods, cycle_times, reviews or filings.")
    ] = "periods",
) -> Response:
    """Standards published per year and quarter (or month); the cycle time from project approval
    (立项) to publication (发布) against the area's target (mean, median, p90, distribution);
    reviews (复审) due within the window; filings (备案) due and not recorded. As JSON, or one
    section as CSV with `Accept: text/csv` or `?format=csv`."""
    made = await reports.report(
        area,
        from_year=from_year,
        to_year=to_year,
        granularity=granularity,
        review_window_days=review_window_days,
    )
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        return Response(report_csv(made, section), media_type=CSV_MEDIA_TYPE)
    return JSONResponse(made.model_dump(mode="json"))


@router.get(
    "/feeds/{area}.atom",
    tags=["feeds"],
    summary="Atom feed of an area's publications and status changes (public)",
    response_class=Response,
    responses=_FEED_RESPONSES,
)
async def area_feed(
    reports: Reports,
    request: Request,
    area: Annotated[str, Path(max_length=32)],
    category: Categories = None,
    page: Page = 1,
    limit: Annotated[int | None, Query(ge=1, le=200, description="Entries per page.")] = None,
) -> Response:
    """Published, filed, text disclosed, review concluded, abolished and superseded, newest first.
    No token needed: standards are public documents."""
    found = reports.area(area)
    made = await reports.feed_page(
        [area],
        category or (),
        page=page,
        limit=limit,
        key=f"area/{area}",
        title=f"{found.name_zh} {found.name_en}: local standards",
        subtitle=f"Publications and status changes of the joint and submitted standards of {area}.",
    )
    return _atom(reports, request, made, category, limit, alternate=f"/standards?area={area}")


@router.get(
    "/feeds/cities/{city}.atom",
    tags=["feeds"],
    summary="Atom feed for a partner city: its areas, optionally some categories (public)",
    response_class=Response,
    responses=_FEED_RESPONSES,
)
async def city_feed(
    reports: Reports,
    request: Request,
    city: Annotated[str, Path(max_length=16, description="The partner city's code, e.g. 510100.")],
    category: Categories = None,
    page: Page = 1,
    limit: Annotated[int | None, Query(ge=1, le=200, description="Entries per page.")] = None,
) -> Response:
    """The feed a partner city reads instead of a Kafka consumer: the areas it takes part in
    (reference data), optionally only some categories."""
    partner = reports.partner_city(city)
    made = await reports.feed_page(
        list(partner.areas),
        category or (),
        page=page,
        limit=limit,
        key=f"city/{city}",
        title=f"{partner.name_zh} ({city}): local standards of {', '.join(partner.areas)}",
        subtitle="Publications and status changes for a partner city.",
    )
    return _atom(reports, request, made, category, limit, alternate="/standards")


def _atom(
    reports: ReportCases,
    request: Request,
    made: FeedPage,
    categories: list[str] | None,
    limit: int | None,
    *,
    alternate: str,
) -> Response:
    """The Atom document of a feed page with its links, and an ETag a reader may send back."""
    base = (reports.policy.public_base_url or str(request.base_url)).rstrip("/")
    wanted = sorted(set(categories or ()))

    def page_url(n: int) -> str:
        params: list[tuple[str, str | int]] = [("category", c) for c in wanted]
        params += [("limit", limit)] if limit else []
        params += [("page", n)] if n > 1 else []
        return f"{base}{request.url.path}" + (f"?{urlencode(params)}" if params else "")

    body = atom_xml(
        made,
        self_url=page_url(made.page),
        page_url=page_url,
        alternate_url=base + alternate,
        standard_url=lambda standard_id: f"{base}/standards/{standard_id}",
    )
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type=ATOM_MEDIA_TYPE, headers={"ETag": etag})
