"""Projects past their cycle-time target (制定周期): approved as a project (立项) and not finally
approved (批准) when the target, in calendar months after the project approval, has passed.

A read model for the area report (`regstd report`, which combines it with publication's
`GET /reports/{area}`): publication knows only published standards, so the projects still under way
are intake's to list. The target is the reference data's `cycle_time_target_months` (18), replaced
per area by `REGSTD_CYCLE_TIME_TARGET_MONTHS_BY_AREA` (the same variables publication reads, so both
services judge by one target).
"""

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from regstd.contracts.reference import Reference, load_reference
from regstd.intake.domain import Project, Status, china_date
from regstd.intake.handlers import Intake
from regstd.runtime.clocks import add_months
from regstd.runtime.errors import NotFound
from regstd.runtime.http import Caller
from regstd.runtime.store import META_FIELDS

UNDER_WAY: tuple[Status, ...] = tuple(
    s for s in get_args(Status) if s not in ("awaiting_project_approval", "finally_approved", "rejected")
)
"""A project's cycle runs from its project approval until its final approval (or rejection)."""


class CycleTimeTargets(BaseSettings):
    """The cycle-time target per area, from `REGSTD_*` variables (defaults from the reference data)."""

    model_config = SettingsConfigDict(env_prefix="REGSTD_", extra="ignore", frozen=True)

    cycle_time_target_months: int = Field(
        default_factory=lambda: int(load_reference().rule_value("cycle_time_target_months")), ge=1
    )
    cycle_time_target_months_by_area: dict[str, int] = Field(default_factory=dict)

    def of(self, area: str) -> int:
        """The target of an area in months."""
        return self.cycle_time_target_months_by_area.get(area, self.cycle_time_target_months)


class OverdueProject(BaseModel):
    """A project under way past its cycle-time target."""

    model_config = ConfigDict(frozen=True)

    project_id: str
    area: str
    parties: list[str]
    title_zh: str
    status: Status
    project_approved_on: date = Field(description="CST date the project-approval ballot (立项) passed.")
    target_on: date = Field(description="The last day within the target.")
    days_overdue: int = Field(ge=1)


class OverdueProjects(BaseModel):
    """An area's projects past their cycle-time target, longest overdue first."""

    area: str
    as_of: date
    cycle_time_target_months: int
    items: list[OverdueProject]


def overdue_projects(projects: Iterable[Project], today: date, target_months: int) -> list[OverdueProject]:
    """The projects under way whose target date lies before today."""
    found = []
    for p in projects:
        if p.status not in UNDER_WAY or p.project_approved_at is None:
            continue
        approved_on = china_date(p.project_approved_at)
        target_on = add_months(approved_on, target_months)
        if today > target_on:
            found.append(
                OverdueProject(
                    project_id=p.project_id,
                    area=p.area,
                    parties=list(p.parties),
                    title_zh=p.title_zh,
                    status=p.status,
                    project_approved_on=approved_on,
                    target_on=target_on,
                    days_overdue=(today - target_on).days,
                )
            )
    return sorted(found, key=lambda o: (-o.days_overdue, o.project_id))


def reports_router(
    intake: Intake, reference: Reference, targets: CycleTimeTargets, clock: Callable[[], datetime]
) -> APIRouter:
    """The route of the overdue-projects listing."""
    api = APIRouter(tags=["reports"])
    hidden: dict[str, Any] = dict.fromkeys(META_FIELDS - {"_id"}, False)

    @api.get("/reports/{area}/overdue-projects", response_model=OverdueProjects)
    async def overdue(
        _: Caller,
        area: Annotated[str, Path(max_length=32, description="Cooperation area id, e.g. chengyu.")],
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> OverdueProjects:
        """Projects of the area approved (立项) more than the target's months ago and not finally
        approved, longest overdue first. Any authenticated principal may read."""
        if area not in reference.areas:
            raise NotFound(f"no area {area!r}; known: {', '.join(sorted(reference.areas))}")
        cursor = intake.projects.collection.find(
            {"area": area, "status": {"$in": list(UNDER_WAY)}}, projection=hidden
        )
        projects = [Project.from_document(doc) async for doc in cursor]
        today = china_date(clock())
        target = targets.of(area)
        return OverdueProjects(
            area=area,
            as_of=today,
            cycle_time_target_months=target,
            items=overdue_projects(projects, today, target)[:limit],
        )

    return api
