"""The harmonization service's HTTP API: the adoption registry and decisions, limit imports, and
assessments with their reports.

Any authenticated principal reads. A member's regulator decides only for its own region, imports
only its own region's limits; a regulator runs an assessment.
"""

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor
from regstd.contracts.harmonization import AdoptionDecision
from regstd.contracts.publication import PartyNumber
from regstd.harmonization.adoption import (
    DecisionRequest,
    EcoStandard,
    SourceStatus,
    registry_rows,
    summary_markdown,
    yearly_summary,
)
from regstd.harmonization.assessment import POLICIES, Policy, report_csv, report_html, report_markdown
from regstd.harmonization.handlers import Adoptions, Analysis
from regstd.harmonization.limits import MEDIA, ImportRejected, Medium
from regstd.kernel.errors import Invalid
from regstd.runtime.http import Caller, Command, refusals

_READ = refusals(
    {
        401: "No bearer token, or an unknown one.",
        404: "No such standard or assessment.",
        422: "A malformed request; the message says why.",
    }
)
_WRITE = _READ | refusals(
    {
        403: "Not the regulator of that region (cities and operators only read).",
        409: "Already decided otherwise, or the source was withdrawn or superseded.",
    }
)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class DecisionView(_View):
    """A member's recorded decision."""

    member: str
    decision: AdoptionDecision
    modifications: list[str]
    reason: str | None
    scope: str | None
    effective_date: date | None
    decided_by: Actor
    decided_at: datetime


class EcoStandardView(_View):
    """An eco standard offered for adoption: its source, the members offered it, their decisions."""

    standard_id: str
    numbers: list[PartyNumber]
    title_zh: str
    category: str
    sources: list[str] = Field(description="The parties that published it.")
    published_area: str
    adoption_area: str
    publication_date: date
    implementation_date: date
    offered_at: datetime
    offered_to: list[str]
    decisions: list[DecisionView]
    adopters: list[str]
    pending: list[str]
    source_status: SourceStatus

    @classmethod
    def of(cls, s: EcoStandard) -> "EcoStandardView":
        return cls(
            standard_id=s.id,
            numbers=list(s.numbers),
            title_zh=s.title_zh,
            category=s.category,
            sources=list(s.sources),
            published_area=s.published_area,
            adoption_area=s.area,
            publication_date=s.publication_date,
            implementation_date=s.implementation_date,
            offered_at=s.offered_at,
            offered_to=list(s.members),
            decisions=[
                DecisionView(
                    member=d.member,
                    decision=d.decision,
                    modifications=list(d.modifications),
                    reason=d.reason,
                    scope=d.scope,
                    effective_date=d.effective_date,
                    decided_by=d.by,
                    decided_at=d.at,
                )
                for m in s.members
                if (d := s.decisions.get(m)) is not None
            ],
            adopters=s.adopters,
            pending=s.pending,
            source_status=s.status,
        )


class RecordDecision(Command):
    """A member's decision on an offered eco standard."""

    member: str = Field(pattern=r"^[0-9]{2}$", description="Your region's code: you decide only for it.")
    decision: AdoptionDecision
    modifications: list[str] = Field(
        default_factory=list, max_length=100, description="The differences (adopt_with_modifications)."
    )
    reason: str | None = Field(default=None, max_length=2000, description="Why (required to decline).")
    scope: str | None = Field(
        default=None, max_length=2000, description="Where it applies in your region (required to adopt)."
    )
    effective_date: date | None = Field(default=None, description="From when it applies (required to adopt).")


class RunAssessment(Command):
    """What to compare: regions, media, the policy proposing unified values, optional imports."""

    regions: list[str] = Field(min_length=1, max_length=40)
    media: list[Medium] = Field(default_factory=lambda: list(MEDIA), min_length=1)
    policy: Policy = "strictest"
    imports: dict[str, str] = Field(
        default_factory=dict, description="Region → import id; a region not named uses its latest import."
    )


def router(adoptions: Adoptions, analysis: Analysis) -> APIRouter:
    """The routes of the harmonization service."""
    api = APIRouter()

    # -- adoption ------------------------------------------------------------------------------

    @api.get("/adoptions/standards", tags=["adoption"], summary="Eco standards offered for adoption",
             response_model=list[EcoStandardView], responses=_READ)  # fmt: skip
    async def offered(
        _: Caller,
        member: Annotated[str | None, Query(description="Offered to this member.")] = None,
        source: Annotated[str | None, Query(description="Published by this member.")] = None,
    ) -> list[EcoStandardView]:
        """Every eco standard offered for adoption, with the members' decisions."""
        adoptions.check_member(member)
        adoptions.check_member(source)
        return [EcoStandardView.of(s) for s in await adoptions.standards.find(member=member, source=source)]

    @api.get("/adoptions/standards/{standard_id}", tags=["adoption"], summary="One offered eco standard",
             response_model=EcoStandardView, responses=_READ)  # fmt: skip
    async def one(_: Caller, standard_id: str) -> EcoStandardView:
        """An eco standard with its offers, decisions, adopters and pending members."""
        return EcoStandardView.of(await adoptions.get(standard_id))

    @api.post(
        "/adoptions/standards/{standard_id}/decisions",
        tags=["adoption"],
        summary="Record your region's decision",
        response_model=EcoStandardView,
        responses=_WRITE,
    )
    async def decide(standard_id: str, body: RecordDecision, caller: Caller) -> EcoStandardView:
        """Adopt as is, adopt with modifications (the differences) or decline (a reason), with scope and
        effective date. Only the member's own regulator decides for it (403 otherwise, nothing
        recorded). A member decides once: the identical decision again is answered with the record,
        a different one is refused (409)."""
        request = DecisionRequest(
            member=body.member,
            decision=body.decision,
            modifications=tuple(body.modifications),
            reason=body.reason,
            scope=body.scope,
            effective_date=body.effective_date,
        )
        return EcoStandardView.of(await adoptions.decide(standard_id, request, caller))

    @api.get("/adoptions/registry", tags=["adoption"], summary="Who adopted which standard",
             responses=_READ)  # fmt: skip
    async def registry(
        _: Caller,
        member: Annotated[str | None, Query(description="Decisions of this member.")] = None,
        source: Annotated[str | None, Query(description="On standards published by this member.")] = None,
        decision: Annotated[list[AdoptionDecision] | None, Query(description="Only these decisions.")] = None,
    ) -> list[dict[str, Any]]:
        """Every recorded decision: who adopted (or declined) which standard, since when (effective
        date), where it applies (scope), and whether the source is still in force."""
        adoptions.check_member(member)
        adoptions.check_member(source)
        found = await adoptions.standards.find(source=source)
        rows = registry_rows(found, member=member, source=source, decisions=decision)
        return [_json(asdict(r)) for r in rows]

    @api.get("/adoptions/adopted-elsewhere/{member}", tags=["adoption"],
             summary="Which of a member's eco standards are adopted elsewhere", responses=_READ)  # fmt: skip
    async def adopted_elsewhere(_: Caller, member: str) -> list[dict[str, Any]]:
        """The member's own eco standards with the members that adopted each, since when and where."""
        adoptions.check_member(member)
        out = []
        for s in await adoptions.standards.find(source=member):
            rows = registry_rows([s], decisions=["adopt", "adopt_with_modifications"])
            out.append({
                "standard_id": s.id, "numbers": [n.model_dump() for n in s.numbers], "title_zh": s.title_zh,
                "source_status": s.status, "adopted_by": [_json(asdict(r)) for r in rows],
            })  # fmt: skip
        return out

    @api.get("/adoptions/summary/{year}", tags=["adoption"], summary="Yearly summary for the white paper",
             responses=_READ)  # fmt: skip
    async def summary(
        _: Caller,
        year: int,
        format: Annotated[
            Literal["json", "markdown"], Query(description="json or a markdown table.")
        ] = "json",
    ) -> Response:
        """Per member and per standard: offers, adoptions (as is, with modifications), declines, pending."""
        if not 1949 <= year <= 9999:
            raise Invalid(f"year {year} is out of range")
        made = yearly_summary(await adoptions.standards.find(), year, adoptions.reference, adoptions.area)
        if format == "markdown":
            return PlainTextResponse(summary_markdown(made), media_type="text/markdown; charset=utf-8")
        return JSONResponse(_json(asdict(made)))

    # -- difference analysis -------------------------------------------------------------------

    @api.post(
        "/limits/imports",
        tags=["difference analysis"],
        summary="Import your region's limits",
        responses=_WRITE | refusals({422: "Bad rows: every one with its line and reason; nothing imported."}),
    )
    async def import_limits(
        request: Request,
        caller: Caller,
        format: Annotated[
            Literal["csv", "json"] | None, Query(description="Default: from Content-Type.")
        ] = None,
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
            done = await analysis.import_limits(text, fmt, caller)
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

    @api.get("/limits/imports", tags=["difference analysis"], summary="Imports", responses=_READ)
    async def imports(_: Caller, region: str | None = None) -> list[dict[str, Any]]:
        """Every import (without its rows), newest first per region."""
        return [_json(d) for d in await analysis.imports.listing(region)]

    @api.post("/assessments", tags=["difference analysis"], summary="Run an assessment", responses=_WRITE)
    async def run(body: RunAssessment, caller: Caller) -> dict[str, Any]:
        """Compare the chosen regions' limits for the chosen media; the same inputs give the same
        assessment (its id follows from them) and publish `AssessmentCompleted` once."""
        if body.policy not in POLICIES:
            raise Invalid(f"unknown policy {body.policy}")
        done = await analysis.run(body.regions, body.media, body.policy, caller, body.imports)
        return _summary(done)

    @api.get("/assessments/{assessment_id}", tags=["difference analysis"], summary="An assessment's report",
             responses=_READ)  # fmt: skip
    async def report(
        _: Caller,
        assessment_id: str,
        format: Annotated[Literal["json", "csv", "markdown", "html"], Query()] = "json",
    ) -> Response:
        """The report as JSON (with who asked and when), CSV, Markdown or a self-contained HTML page."""
        done = await analysis.get(assessment_id)
        if format == "html":
            # The page carries no scripts and loads nothing; the policy says so to the browser too.
            return HTMLResponse(
                report_html(done["report"]),
                headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
            )
        if format == "csv":
            return PlainTextResponse(report_csv(done["report"]), media_type="text/csv; charset=utf-8")
        if format == "markdown":
            return PlainTextResponse(
                report_markdown(done["report"]), media_type="text/markdown; charset=utf-8"
            )
        return JSONResponse({**_summary(done), "report": done["report"]})

    return api


def _summary(done: dict[str, Any]) -> dict[str, Any]:
    report = done["report"]
    summary: dict[str, Any] = _json({
        "assessment_id": done["_id"],
        "regions": report["regions"],
        "media": report["media"],
        "policy": report["policy"],
        "imports": report["imports"],
        "inputs_digest": report["inputs_digest"],
        "report_digest": done["report_digest"],
        "parameters": len(report["parameters"]),
        "findings": len(report["findings"]),
        "requested_by": done["requested_by"],
        "completed_at": done["completed_at"],
    })  # fmt: skip
    return summary


def _json(value: Any) -> Any:
    """Dates and moments as ISO strings, tuples as lists, for a JSON answer."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
