"""Entry point and wiring of the project-intake service: one place that builds the runtime, the
stores and their units of work, the use cases, the consumer of published standards, the clock
scheduler of projects and the HTTP app."""

import asyncio
import json
from typing import get_args

from pymongo import AsyncMongoClient

from regstd.contracts import EventModel
from regstd.contracts.intake import ProjectClock
from regstd.contracts.publication import (
    ApprovalRefused,
    NumberNotIssued,
    StandardPublished,
    StandardSuperseded,
    StandardWithdrawn,
)
from regstd.contracts.reference import Reference, load_reference
from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.intake.adapters.documents import PROJECTS, STANDARDS
from regstd.intake.adapters.mongo import MongoProjectQueries, MongoStandardQueries
from regstd.intake.adapters.overlap_index import MongoOverlapIndex, Rebuilt
from regstd.intake.app.intake import Intake, Policy
from regstd.intake.http import clocks, projects
from regstd.intake.settings import IntakeSettings
from regstd.kernel.time import Now, utc_now
from regstd.runtime.asyncapi import DOCUMENTED_BOOTSTRAP, Document, app_document
from regstd.runtime.auth import TokenBook
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.consumer import Handler
from regstd.runtime.http import create_app, serve_service
from regstd.runtime.periodic import Periodic
from regstd.runtime.scheduler import ClockScheduler
from regstd.runtime.store import Document as Stored
from regstd.runtime.unit_of_work import UnitOfWork

DESCRIPTION = """\
Joint standard projects of the regional cooperation areas, from proposal to final approval.

A regulator proposes a project (立项申请) for an area with at least two of its members as parties.
The overlap check compares the title and scope with existing projects and published standards and
shows the matches to the voters. The project-approval ballot (立项) opens at once: every party's
regulator records approve, reject or object. Then: drafting (起草) → public comment (征求意见, at least
30 days by default) → coordinated technical review (协同审查, one conclusion per party) → submission of
the final text → the final-approval ballot (批准). When it passes, `ProjectFinallyApproved` goes to
publication, which publishes it or refuses and says why; the project shows which
(`publication`). Every step is an event on `regstd.intake.projects.v1`, keyed by project id.

Joint projects are for areas with a joint number block (chengyu, yrd). A revision targets a published
standard still current (not abolished, withdrawn or superseded). The comment period closes between
the minimum and the maximum period after its opening (30 and 90 days by default); any party's
regulator may move the closing date within that window while the period is open.

Clocks: each ballot's deadline (30 days), the end of public comment and the cycle-time target (18
months from project approval, per area) say due soon, overdue and met once each
(`ProjectClockChanged`; an overdue ballot also `BallotOverdue`); `GET /projects/overdue` lists the
projects past one.

Send a token from the token book as `Authorization: Bearer <token>`. Any principal may read; only
regulators write, each for its own region, and only in projects its region takes part in. A step out
of order is refused with 409 and says what the project is waiting for.
"""


def subscriptions(intake: Intake) -> dict[type[EventModel], Handler]:
    """What intake takes from publication's topic, and the use case each event goes to."""
    return {
        StandardPublished: intake.on_standard_published,
        StandardWithdrawn: intake.on_standard_withdrawn,
        StandardSuperseded: intake.on_standard_superseded,
        NumberNotIssued: intake.on_number_not_issued,
        ApprovalRefused: intake.on_approval_refused,
    }


class IntakeService:
    """One instance of the service, wired: runtime, stores, use cases, clock scheduler and HTTP app."""

    def __init__(
        self,
        settings: IntakeSettings,
        tokens: TokenBook,
        *,
        reference: Reference | None = None,
        clock: Now = utc_now,
        runtime: Runtime | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime or Runtime(settings)
        self.projects = self.runtime.aggregate_store("projects")
        self.standards = self.runtime.aggregate_store("published_standards")
        listing = MongoProjectQueries(self.projects.collection)
        published = MongoStandardQueries(self.standards.collection)
        self.overlaps = MongoOverlapIndex(
            self.runtime.database["overlap_index"],
            projects=self.projects.collection,
            standards=self.standards.collection,
        )
        work = UnitOfWork(self.projects, PROJECTS, kind="project", clock=clock)
        self.intake = Intake(
            work,
            UnitOfWork(self.standards, STANDARDS, kind="published standard", clock=clock),
            listing=listing,
            published=published,
            overlaps=self.overlaps,
            reference=reference or load_reference(),
            policy=Policy.of(settings, self.runtime.calendar),
        )
        # Projects stored before projects had clocks are adopted on the first round (decision 16).
        self.clocks = ClockScheduler(self.projects, work, self.intake.decide_clocks, adopt_unscheduled=True)
        self.runtime.watch_overdue(self.clocks.overdue_counts, kinds=get_args(ProjectClock))
        self.runtime.watch_count(
            "regstd_projects_refused_by_publication",
            "Finally approved projects that publication refused to number, by area, counted at scrape.",
            "area",
            self.intake.refused_by_publication,
        )
        self.runtime.consume(
            PUBLICATION_STANDARDS,
            settings.consumer_group,
            subscriptions(self.intake),
        )
        self.app = create_app(
            title="regstd project intake",
            description=DESCRIPTION,
            runtime=self.runtime,
            tokens=tokens,
            # The clocks' routes first: `/projects/overdue` is not a project id.
            routers=[clocks.router, projects.router],
            uses=[self.intake],
            # The overlap index is rebuilt before serving when missing or of an older scheme.
            prepare=[
                listing.ensure_indexes,
                self.clocks.ensure_indexes,
                self._overlap_index_built,
            ],
            background=[Periodic("clocks", self.clocks.tick, settings.clock_scan_interval_s)],
        )

    async def _overlap_index_built(self) -> None:
        await self.overlaps.ensure_built()


def main() -> None:
    """Run one instance of the service until SIGTERM or SIGINT."""
    serve_service(IntakeSettings(), lambda settings, tokens: IntakeService(settings, tokens).app)


async def rebuild_overlap_index(settings: IntakeSettings) -> Rebuilt:
    """Rebuild the overlap index of the database the settings name, from its projects and standards."""
    client: AsyncMongoClient[Stored] = AsyncMongoClient(settings.mongo_url)
    try:
        database = client[settings.mongo_database]
        index = MongoOverlapIndex(
            database["overlap_index"],
            projects=database["projects"],
            standards=database["published_standards"],
        )
        return await index.rebuild()
    finally:
        await client.close()


def reindex() -> None:
    """`regstd-intake-reindex`: rebuild the overlap index now (decision 35) and print what it did as
    JSON. A running intake keeps answering meanwhile; intake also rebuilds the index at start when it
    is missing or of an older scheme. For an operator, and for the bench, which loads its records
    straight into the store."""
    done = asyncio.run(rebuild_overlap_index(IntakeSettings()))
    print(
        json.dumps(
            {
                "candidates": done.candidates,
                "terms": done.terms,
                "documents": done.documents,
                "seconds": done.seconds,
            }
        )
    )


def asyncapi() -> Document:
    """The service's AsyncAPI document as `make schemas` exports it (no broker or store contacted)."""
    return app_document(IntakeService(IntakeSettings(), TokenBook([])).app, DOCUMENTED_BOOTSTRAP)
