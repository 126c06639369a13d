"""The difference-analysis routes: a region's limit import, assessments and their reports. Any
authenticated principal reads; a regulator imports only its own region's limits and runs
assessments."""

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import Field, StringConstraints

from regstd.harmonization.app.analysis import Analysis
from regstd.harmonization.domain.assessment import (
    POLICIES,
    Assessment,
    Policy,
    report_csv,
    report_html,
    report_markdown,
)
from regstd.harmonization.domain.limits import (
    FIELDS,
    MAX_FIELD_CHARS,
    MAX_IMPORT_ROWS,
    MEDIA,
    REQUIRED,
    ImportRejected,
    Medium,
)
from regstd.harmonization.http.responses import READ, WRITE
from regstd.kernel.errors import Invalid
from regstd.runtime.http import Caller, Command, provide, refusals

Cases = Annotated[Analysis, Depends(provide(Analysis))]

router = APIRouter(tags=["difference analysis"])


RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
ImportId = Annotated[str, StringConstraints(min_length=1, max_length=100)]

_IMPORT_ROW = {
    "type": "object",
    "description": "One limit; the columns are listed in the service README.",
    # A number is read as its text (a value written 150 or "150").
    "properties": {name: {"type": ["string", "number"], "maxLength": MAX_FIELD_CHARS} for name in FIELDS},
    "required": list(REQUIRED),
    "additionalProperties": False,
}
_IMPORT_ROWS = {"type": "array", "items": _IMPORT_ROW, "minItems": 1, "maxItems": MAX_IMPORT_ROWS}
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file: CSV with a header line, or JSON rows. At most `REGSTD_MAX_IMPORT_BYTES` "
        f"(8 MiB; 413 over it), {MAX_IMPORT_ROWS} rows (`REGSTD_MAX_IMPORT_ROWS`) and {MAX_FIELD_CHARS} "
        "characters a field (422 naming the limit).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "anyOf": [
                        _IMPORT_ROWS,
                        {
                            "type": "object",
                            "properties": {"rows": _IMPORT_ROWS},
                            "required": ["rows"],
                            "additionalProperties": False,
                        },
                    ]
                }
            },
        },
    }
}


class RunAssessment(Command):
    """What to compare: regions, media, the policy proposing unified values, optional imports."""

    regions: list[str] = Field(min_length=1, max_length=40)
    media: list[Medium] = Field(default_factory=lambda: list(MEDIA), min_length=1)
    policy: Policy = "strictest"
    imports: dict[RegionCode, ImportId] = Field(
        default_factory=dict,
        max_length=40,
        description="Region → import id; a region not named uses its latest import.",
    )


@router.post(
    "/limits/imports",
    summary="Import your region's limits",
    responses={201: {"description": "Imported: the import's summary."}}
    | WRITE
    | refusals({422: "Bad rows (each with its line and reason) or over a limit; nothing imported."}),
    openapi_extra=_IMPORT_BODY,
)
async def import_limits(
    cases: Cases,
    request: Request,
    caller: Caller,
    format: Annotated[Literal["csv", "json"] | None, Query(description="Default: from Content-Type.")] = None,
) -> JSONResponse:
    """Send the CSV (a header line naming the columns) or JSON (an array of rows, or
    `{"rows": [...]}`) as the body; the columns are listed in the service README. Every row is
    validated first; one bad row and nothing is
    imported, and the answer names every bad row with its line (CSV) or item number (JSON)."""
    fmt = format or ("csv" if "csv" in request.headers.get("content-type", "") else "json")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as error:
        raise Invalid("the import must be UTF-8 text") from error
    try:
        done = await cases.import_limits(text, fmt, caller)
    except ImportRejected as rejected:
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid_import",
                "message": str(rejected),
                "rows": [{"line": e.line, "reason": e.reason} for e in rejected.errors],
            },
        )
    return JSONResponse(status_code=201 if done.created else 200, content=asdict(done))


@router.get("/limits/imports", summary="Imports", responses=READ)
async def imports(cases: Cases, _: Caller, region: str | None = None) -> list[dict[str, Any]]:
    """Every import (without its rows), newest first per region."""
    listed: list[dict[str, Any]] = jsonable_encoder(await cases.imports_of(region))
    return listed


@router.post("/assessments", summary="Run an assessment", responses=WRITE)
async def run(cases: Cases, body: RunAssessment, caller: Caller) -> dict[str, Any]:
    """Compare the chosen regions' limits for the chosen media; the same inputs give the same
    assessment (its id follows from them) and publish `AssessmentCompleted` once."""
    if body.policy not in POLICIES:
        raise Invalid(f"unknown policy {body.policy}")
    return summary_of(await cases.run(body.regions, body.media, body.policy, caller, body.imports))


@router.get("/assessments/{assessment_id}", summary="An assessment's report", responses=READ)
async def report(
    cases: Cases,
    _: Caller,
    assessment_id: str,
    format: Annotated[Literal["json", "csv", "markdown", "html"], Query()] = "json",
) -> Response:
    """The report as JSON (with who asked and when), CSV, Markdown or a self-contained HTML page."""
    done = await cases.get(assessment_id)
    if format == "html":
        # The page carries no scripts and loads nothing; the policy says so to the browser too.
        return HTMLResponse(
            report_html(done.report),
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )
    if format == "csv":
        return PlainTextResponse(report_csv(done.report), media_type="text/csv; charset=utf-8")
    if format == "markdown":
        return PlainTextResponse(report_markdown(done.report), media_type="text/markdown; charset=utf-8")
    return JSONResponse({**summary_of(done), "report": done.report})


def summary_of(done: Assessment) -> dict[str, Any]:
    """An assessment without its report's rows: what was compared, the digests, who asked, when."""
    report = done.report
    summary: dict[str, Any] = jsonable_encoder(
        {
            "assessment_id": done.id,
            "regions": report["regions"],
            "media": report["media"],
            "policy": report["policy"],
            "imports": report["imports"],
            "inputs_digest": report["inputs_digest"],
            "report_digest": done.report_digest,
            "parameters": len(report["parameters"]),
            "findings": len(report["findings"]),
            "requested_by": done.requested_by,
            "completed_at": done.completed_at,
        }
    )
    return summary
