"""Entry point and wiring of the publication service: one place that builds the runtime, the
stores, the consumer of final approvals, the background loop and the HTTP app."""

import logging
from typing import get_args

from regstd.contracts import EventModel
from regstd.contracts.intake import BallotDecided, ProjectFinallyApproved, ProjectProposed
from regstd.contracts.publication import ClockName
from regstd.contracts.reference import Reference, load_reference
from regstd.contracts.topics import INTAKE_PROJECTS
from regstd.kernel.time import Now, utc_now
from regstd.publication.adapters.allocator import BlockAllocator
from regstd.publication.adapters.approvals import PROJECTS, REFUSALS, RefusalQueries
from regstd.publication.adapters.catalogue import Catalogue
from regstd.publication.adapters.designations import DesignationRegistry
from regstd.publication.adapters.standards import CODEC, StandardQueries
from regstd.publication.app.life import LifeCases
from regstd.publication.app.projects import ProjectRecords
from regstd.publication.app.publishing import PublishingCases
from regstd.publication.app.reports import ReportCases, ReportPolicy
from regstd.publication.app.submissions import SubmissionCases
from regstd.publication.domain.approval import ProjectRecord, Refusal
from regstd.publication.domain.standard import Policy, Standard
from regstd.publication.http import blocks, life, reports, standards, submissions
from regstd.publication.settings import PublicationSettings
from regstd.runtime.asyncapi import DOCUMENTED_BOOTSTRAP, Document, app_document
from regstd.runtime.auth import TokenBook
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.consumer import Handler
from regstd.runtime.http import create_app, serve_service
from regstd.runtime.periodic import Periodic
from regstd.runtime.scheduler import ClockScheduler
from regstd.runtime.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

CLOCK_KINDS: tuple[str, ...] = get_args(ClockName)
"""The kinds of a published standard's clocks, each a label of the `regstd_overdue` gauge."""

DESCRIPTION = """\
Numbering, publication and the catalogue of joint local standards.

A finally approved joint project (`ProjectFinallyApproved` on `regstd.intake.projects.v1`, for a
project whose proposal and passed final ballot publication saw there first) gets the
next sequence number of its area's block (chengyu from 10001, yrd from 310001) under every party's
code — `DB50/T 10001—2026` = `DB51/T 10001—2026` — and is published with its publication and
implementation dates in China Standard Time (`StandardPublished` on
`regstd.publication.standards.v1`). Numbers are gap-free, unique and never reused; a number withdrawn
before publication is recorded as not issued; a designation is never on two standards. An
approval that breaks a rule is refused (`ApprovalRefused`, shown in the area's feed), never lost.

Send a token from the token book as `Authorization: Bearer <token>`. Any principal may read; only a
regulator of one of a standard's parties may withdraw it. The Atom feeds (`/feeds/…`) need no token:
they carry what publication announces publicly (decision 17).
"""


def subscriptions(projects: ProjectRecords, publishing: PublishingCases) -> dict[type[EventModel], Handler]:
    """What publication takes from intake's topic, and the use case each event goes to."""
    return {
        # One key, one partition: the proposal and the ballots come before the approval.
        ProjectProposed: projects.on_project_proposed,
        BallotDecided: projects.on_ballot_decided,
        ProjectFinallyApproved: publishing.on_final_approval,
    }


class PublicationService:
    """One instance of the service, wired: runtime, stores, use cases, catalogue and HTTP app."""

    def __init__(
        self,
        settings: PublicationSettings,
        tokens: TokenBook,
        *,
        reference: Reference | None = None,
        clock: Now = utc_now,
        runtime: Runtime | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime or Runtime(settings)
        self.reference = reference or load_reference()
        store = self.runtime.aggregate_store("standards")
        self.standards = UnitOfWork[Standard](store, CODEC, kind="standard", clock=clock)
        self.queries = StandardQueries(store)
        self.allocator = BlockAllocator(self.runtime.database["allocations"], standards=store.collection)
        self.runtime.on_stop(self.allocator.hints_raised)
        self.catalogue = Catalogue(store.collection, self.allocator, self.reference, clock)
        self.designations = DesignationRegistry(self.runtime.database["designations"])
        projects = self.runtime.aggregate_store("projects")
        self.projects = ProjectRecords(
            UnitOfWork[ProjectRecord](projects, PROJECTS, kind="project", clock=clock)
        )
        refusals = self.runtime.aggregate_store("refusals")
        self.refused = RefusalQueries(refusals.collection)
        policy = Policy(
            implementation_offset_days=settings.implementation_offset_days,
            publication_delay_days=settings.publication_delay_days,
            life=settings.life_policy(self.runtime.calendar),
        )
        metrics = self.runtime.metrics
        self.publishing = PublishingCases(
            self.standards,
            self.queries,
            self.allocator,
            self.reference,
            policy,
            projects=self.projects.projects,
            refusals=UnitOfWork[Refusal](refusals, REFUSALS, kind="refused approval", clock=clock),
            designations=self.designations,
            holders=self.catalogue,
            on_refused=lambda rule: metrics.approvals_refused.labels(rule).inc(),
        )
        self.life = LifeCases(self.standards, policy.life)
        self.submissions = SubmissionCases(
            self.standards,
            self.catalogue,
            self.reference,
            policy.life,
            designations=self.designations,
            max_implementation_days=settings.submission_max_implementation_days,
        )
        self.reports = ReportCases(
            self.catalogue,
            self.reference,
            ReportPolicy(
                target_months=settings.cycle_time_target,
                review_window_days=settings.report_review_window_days,
                feed_page_size=settings.feed_page_size,
                public_base_url=settings.public_base_url,
            ),
            clock,
            refusals=self.refused,
        )
        self.clocks = ClockScheduler(store, self.standards, self.life.decide_clocks)
        self.runtime.watch_overdue(self.clocks.overdue_counts, kinds=CLOCK_KINDS)
        self.runtime.consume(
            INTAKE_PROJECTS,
            settings.consumer_group,
            subscriptions(self.projects, self.publishing),
        )
        self.app = create_app(
            title="regstd publication",
            description=DESCRIPTION,
            runtime=self.runtime,
            tokens=tokens,
            routers=[standards.router, blocks.router, life.router, submissions.router, reports.router],
            uses=[self.catalogue, self.publishing, self.life, self.submissions, self.reports],
            # The unique indexes make numbering safe: they exist before the consumer starts.
            prepare=[self.ensure_indexes],
            background=[
                Periodic("publication-loop", self.publishing.tick, settings.publish_loop_interval_s),
                Periodic("clocks", self.clock_round, settings.clock_scan_interval_s),
            ],
        )

    async def ensure_indexes(self) -> None:
        """Create the indexes of both collections (idempotent)."""
        await self.allocator.ensure_indexes()
        await self.queries.ensure_indexes()
        await self.clocks.ensure_indexes()
        await self.refused.ensure_indexes()

    async def clock_round(self) -> None:
        """Fire the due clocks of published standards and finish supersessions."""
        await self.clocks.tick()
        await self.publishing.complete_supersessions()


def main() -> None:
    """Run one instance of the service until SIGTERM or SIGINT."""
    serve_service(PublicationSettings(), lambda settings, tokens: PublicationService(settings, tokens).app)


def asyncapi() -> Document:
    """The service's AsyncAPI document as `make schemas` exports it (no broker or store contacted)."""
    return app_document(PublicationService(PublicationSettings(), TokenBook([])).app, DOCUMENTED_BOOTSTRAP)
