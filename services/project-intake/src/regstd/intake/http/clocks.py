"""HTTP routes of the project clocks: which projects are past a deadline, and by how long.

Any authenticated principal reads (decision 8). A project's own clocks are in `GET /projects/{id}`
(`deadlines`); this router lists across projects, by what the clock scheduler last found.
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import RegionCode
from regstd.contracts.intake import ProjectClock
from regstd.intake.domain.project import Status
from regstd.intake.http import Cases
from regstd.kernel.clocks import ClockView
from regstd.runtime.http import Caller, refusals


class OverdueProject(BaseModel):
    """A project with one clock past its deadline."""

    model_config = ConfigDict(frozen=True)

    project_id: str
    title_zh: str
    area: str
    parties: list[RegionCode]
    status: Status
    clock: ClockView = Field(description="The overdue clock, with its deadline and days overdue.")


class OverdueProjects(BaseModel):
    """Projects past a clock's deadline, the longest overdue first."""

    model_config = ConfigDict(frozen=True)

    as_of: date = Field(description="The date (China Standard Time) the days overdue are counted to.")
    clock: ProjectClock
    area: str | None
    items: list[OverdueProject]


router = APIRouter()
"""The routes of the project clocks."""


@router.get(
    "/projects/overdue",
    tags=["clocks"],
    summary="Projects past a deadline, with how many days",
    response_model=OverdueProjects,
    responses=refusals({401: "No bearer token, or an unknown one.", 422: "An unknown area or clock."}),
)
async def overdue_projects(
    _: Caller,
    intake: Cases,
    area: Annotated[str | None, Query(max_length=32, description="Only this cooperation area.")] = None,
    clock: Annotated[
        ProjectClock,
        Query(
            description="cycle_time (project approval to final approval, the area's target), "
            "ballot or public_comment."
        ),
    ] = "cycle_time",
) -> OverdueProjects:
    """Projects whose clock of this kind went overdue and is not met yet, the longest overdue
    first: by default those past their area's cycle-time target (制定周期, 18 months unless the
    area has its own), with the days past it today. Any authenticated principal may read."""
    today = intake.today()
    found = await intake.overdue(clock, area=area)
    items = [
        OverdueProject(
            project_id=project.project_id,
            title_zh=project.title_zh,
            area=project.area,
            parties=project.parties,
            status=project.status,
            clock=ClockView.of(overdue, today),
        )
        for project, overdue in found
    ]
    items.sort(key=lambda item: (-item.clock.days_overdue, item.project_id))
    return OverdueProjects(as_of=today, clock=clock, area=area, items=items)
