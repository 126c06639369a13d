"""The regulator's pages beyond ballots: a standard's life (filing, disclosure, review), adoption
decisions, the limits upload and assessments, and the area report with its chart.

As everywhere in the console, each form calls a service with the signed-in principal's token, and
a refusal is shown in the page with the service's words and status, nothing changed.
"""

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from regstd.console.app.ports import Refusal, SignedIn
from regstd.console.http.chart import bar_chart
from regstd.console.http.desk import desk_refused
from regstd.console.http.portal import show_standard
from regstd.console.http.web import (
    admitted,
    back_to,
    cases,
    checked_form,
    checked_upload,
    refused,
    render,
)

router = APIRouter()

REPORT_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"
"""The assessment report is harmonization's own page: shown as it is, it may run nothing, load
nothing and reach nothing of the console (a sandbox is a unique origin: no cookie, no form)."""


# ---- a standard's life ---------------------------------------------------------------------


@router.post("/standards/{standard_id}/life/{action}")
async def record_life(request: Request, standard_id: str, action: str) -> Response:
    """Record my region's filing, the text disclosure, or my region's review conclusion."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    fields = await checked_form(request)
    acts = {
        "filing": cases(request).record_filing,
        "disclosure": cases(request).record_disclosure,
        "review": cases(request).record_standard_review,
    }
    try:
        if action not in acts:
            raise Refusal(404, f"no such action {action!r}: one of {', '.join(acts)}")
        await acts[action](me, standard_id, fields)
    except Refusal as refusal:
        return await show_standard(request, standard_id, refusal)
    return back_to(f"/standards/{standard_id}")


# ---- adoption ------------------------------------------------------------------------------


@router.post("/adoptions/{standard_id}/decision")
async def decide(request: Request, standard_id: str) -> Response:
    """Record my region's decision on an eco standard offered for adoption."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    fields = await checked_form(request)
    try:
        await cases(request).decide_adoption(me, standard_id, fields)
    except Refusal as refusal:
        return await desk_refused(request, me, refusal)
    return back_to("/desk#offers-h")


# ---- limits and assessments ----------------------------------------------------------------


async def _limits_page(request: Request, me: SignedIn, refusal: Refusal | None = None) -> Response:
    return render(
        request,
        "limits.html",
        status_code=refusal.status if refusal else 200,
        imports=await cases(request).imports(me),
        refusal=refusal,
        done=request.query_params.get("imported"),
    )


@router.get("/limits")
async def limits(request: Request) -> Response:
    """The limit imports, the upload form and the assessment form."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    return await _limits_page(request, me)


@router.post("/limits/imports")
async def upload(request: Request) -> Response:
    """Send an uploaded limits file (CSV or JSON) to harmonization as my region's import."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    sent = await checked_upload(request, "file")
    fmt = sent.fields.get("format") or ""
    if fmt not in ("csv", "json"):
        fmt = "json" if sent.filename.lower().endswith(".json") else "csv"
    try:
        if not sent.content:
            raise Refusal(422, "choose a file to upload")
        done = await cases(request).import_limits(me, sent.content, fmt)
    except Refusal as refusal:
        return await _limits_page(request, me, refusal)
    return back_to(f"/limits?imported={done['import_id']}")


@router.post("/limits/assessments")
async def assess(request: Request) -> Response:
    """Run an assessment; its page shows the summary and the report."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    fields = await checked_form(request)
    try:
        done = await cases(request).assess(me, fields)
    except Refusal as refusal:
        return await _limits_page(request, me, refusal)
    return back_to(f"/limits/assessments/{done['assessment_id']}")


@router.get("/limits/assessments/{assessment_id}")
async def assessment(request: Request, assessment_id: str) -> Response:
    """An assessment's summary, with its HTML report shown in a sandboxed frame and linked."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    found = await cases(request).assessment(me, assessment_id)
    return render(request, "assessment.html", assessment=found)


@router.get("/limits/assessments/{assessment_id}/report")
async def assessment_report(request: Request, assessment_id: str) -> Response:
    """Harmonization's HTML report, as it is, under a policy that lets it run and load nothing."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    html = await cases(request).assessment_html(me, assessment_id)
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_POLICY})


# ---- area report ---------------------------------------------------------------------------


@router.get("/reports")
async def reports(request: Request) -> Response:
    """The report of the area chosen in the report's form (`?area=`, with its years and periods),
    or of my region's first area."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    areas = cases(request).areas_of(me.code)
    if not areas:
        return refused(request, Refusal(404, f"region {me.code} takes part in no cooperation area"))
    area = request.query_params.get("area") or areas[0]
    rest = {k: v for k, v in request.query_params.items() if k in ("from", "to", "granularity") and v}
    return back_to(f"/reports/{quote(area, safe='')}" + (f"?{urlencode(rest)}" if rest else ""))


@router.get("/reports/{area}")
async def area_report(request: Request, area: str) -> Response:
    """An area's report: published per period and cycle time against the target, as SVG charts
    and as tables."""
    me = admitted(request, "regulator")
    if isinstance(me, Response):
        return me
    query = {k: request.query_params.get(k, "").strip() for k in ("from", "to", "granularity")}
    report = await cases(request).area_report(me, area, query)
    periods = [
        {**p, "mean_cycle_months": _months(p["mean_cycle_days"])}
        for p in report["periods"]
        if p["kind"] == report["granularity"]
    ]
    target = float(report["cycle_time_target_months"])
    return render(
        request,
        "report.html",
        report=report,
        periods=periods,
        areas=cases(request).areas_of(me.code),
        query=query,
        published_chart=bar_chart([(p["period"], float(p["published"])) for p in periods]),
        cycle_chart=bar_chart([(p["period"], p["mean_cycle_months"]) for p in periods], target=target),
    )


MONTH_DAYS = 365.2425 / 12
"""The mean length of a month, as publication's report counts mean months."""


def _months(days: Any) -> float | None:
    """Mean days as months, one decimal; None stays None."""
    return None if days is None else round(float(days) / MONTH_DAYS, 1)
