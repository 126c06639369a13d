"""The use cases of project intake: get a project, let the domain decide, save it with its events.

Every change goes through a unit of work (`regstd.runtime.unit_of_work`): one versioned save of the
project's document with the events it produced (the outbox), decided again on a concurrent change.
Published standards, heard from the publication service, are kept by their own unit of work for the
overlap check and for revisions (with their status: abolished, withdrawn or superseded ones are not
revised), each event applied once; what publication did with a finally approved project (published,
or refused with its reason) is kept on the project, once per event. The runtime's clock scheduler fires the
project clocks (ballot deadlines, the end of public comment, the cycle-time target) through
`decide_clocks`; with several instances running, the versioned save lets exactly one of them store
each happening.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from regstd.contracts.common import RegionCode, TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import OverlapMatch, Position, ProjectClock, Stage
from regstd.contracts.publication import (
    ApprovalRefused,
    NumberNotIssued,
    StandardPublished,
    StandardSuperseded,
    StandardWithdrawn,
)
from regstd.contracts.reference import Reference
from regstd.intake.app.ports import Filters, OverlapIndex, ProjectQueries, StandardQueries
from regstd.intake.domain.clocks import ClockRules, clock_names
from regstd.intake.domain.overlap import Candidate, candidates_of, find_overlaps
from regstd.intake.domain.overlap_index import DEFAULT_CANDIDATES, Terms, rank
from regstd.intake.domain.project import Decided, Project
from regstd.intake.domain.proposal import ProjectId, Proposal, check_proposal, check_revision, new_project_id
from regstd.intake.domain.publication import PublicationOutcome
from regstd.intake.domain.published import (
    PublishedStandard,
    Remembered,
    abolish,
    not_issued,
    remember,
    supersede,
)
from regstd.intake.settings import IntakeSettings
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import Clock
from regstd.kernel.errors import Conflict, Invalid
from regstd.kernel.principals import Principal
from regstd.kernel.time import china_date
from regstd.runtime.events import Delivery
from regstd.runtime.telemetry import annotate
from regstd.runtime.unit_of_work import Decision, UnitOfWork

log = logging.getLogger(__name__)

Ending = TypeVar("Ending", StandardWithdrawn, NumberNotIssued, StandardSuperseded)
"""An event that ends a remembered standard's currency."""


@dataclass(frozen=True)
class Policy:
    """The configurable rules the use cases pass to the domain."""

    clocks: ClockRules = field(default_factory=ClockRules)
    overlap_threshold: float = 0.25
    overlap_limit: int = 5
    overlap_title_weight: float = 0.7
    overlap_candidates: int = DEFAULT_CANDIDATES

    @classmethod
    def of(cls, settings: IntakeSettings, calendar: WorkingDayCalendar) -> "Policy":
        """The rules as the settings say, deadlines counted on the runtime's calendar."""
        return cls(
            clocks=settings.clock_rules(calendar),
            overlap_threshold=settings.overlap_threshold,
            overlap_limit=settings.overlap_limit,
            overlap_title_weight=settings.overlap_title_weight,
            overlap_candidates=settings.overlap_candidates,
        )


class Intake:
    """The project-intake use cases: projects and the published standards they are checked against."""

    def __init__(
        self,
        projects: UnitOfWork[Project],
        standards: UnitOfWork[PublishedStandard],
        *,
        listing: ProjectQueries,
        published: StandardQueries,
        overlaps: OverlapIndex,
        reference: Reference,
        policy: Policy,
        new_id: Callable[[], ProjectId] = new_project_id,
    ) -> None:
        """`projects` and `standards` change one aggregate each; `listing` and `published` read many;
        `overlaps` finds what a proposal may overlap with."""
        self.projects = projects
        self.standards = standards
        self.listing = listing
        self.published = published
        self.overlaps = overlaps
        self.reference = reference
        self.policy = policy
        self.new_id = new_id

    # -- commands ------------------------------------------------------------------------------

    async def propose(self, proposal: Proposal, by: Principal) -> Project:
        """Store a new project with its overlap matches; its 立项 ballot opens at once."""
        check_proposal(proposal, self.reference, by)  # refuse before reading anything
        # A request sent with an Idempotency-Key draws its id from the key: a retry after a crash
        # finds the project its first execution stored (decision 28).
        seed = self.projects.request_seed()
        project_id = self.new_id() if seed is None else new_project_id(seed)
        # Indexed before it is saved, while the check reads: a crash (or a refused revision) leaves a
        # posting of no project, which the check drops, never a project the index misses (decision 35).
        matches, _ = await asyncio.gather(
            self.preview_overlaps(proposal, by),
            self.overlaps.add(
                [Candidate(kind="project", ref=project_id, title_zh=proposal.title_zh, scope=proposal.scope)]
            ),
        )
        project = await self.projects.create(
            project_id,
            lambda now: Project.propose(
                proposal,
                project_id=project_id,
                reference=self.reference,
                proposer=by,
                now=now,
                overlap_matches=matches,
                rules=self.policy.clocks,
            ),
        )
        if project is None:  # 48 random bits drawn twice: the caller tries again
            raise Conflict(f"the new project's id {project_id} is taken; try again")
        annotate(project_id=project_id, area=proposal.area, party=by.code)
        log.info("project proposed", extra={"project_id": project_id, "overlaps": len(matches)})
        return project

    async def preview_overlaps(self, proposal: Proposal, by: Principal) -> list[OverlapMatch]:
        """The overlap matches the proposal would get, refused as the proposal would be; nothing is
        stored. Only the candidates the overlap index names are read (decision 35)."""
        check_proposal(proposal, self.reference, by)  # refuse before reading anything
        if proposal.supersedes is not None:
            check_revision(proposal, await self.standards.find(proposal.supersedes))
        query = Terms.of(proposal.title_zh, proposal.scope)
        ranked = rank(
            query,
            await self.overlaps.postings(query),
            limit=self.policy.overlap_candidates,
            title_weight=self.policy.overlap_title_weight,
        )
        standard_ids = {ref for kind, ref in ranked if kind == "standard"}
        projects, standards = await asyncio.gather(
            self.listing.overlap_candidates([ref for kind, ref in ranked if kind == "project"]),
            self.published.among(standard_ids),
        )
        # A project that became a standard counts as the standard (`candidates_of`): read it too.
        became = {standard_id for _, standard_id in projects if standard_id is not None} - standard_ids
        if became:
            standards += await self.published.among(became)
        candidates = candidates_of(standards, [p for p, _ in projects])
        return find_overlaps(
            proposal.title_zh,
            proposal.scope,
            candidates,
            threshold=self.policy.overlap_threshold,
            limit=self.policy.overlap_limit,
            title_weight=self.policy.overlap_title_weight,
        )

    async def record_position(
        self,
        project_id: ProjectId,
        *,
        stage: Stage,
        party: RegionCode,
        position: Position,
        reason: str | None,
        by: Principal,
    ) -> Project:
        """A party's regulator records its position in a ballot."""
        annotate(project_id=project_id, party=party, ballot_stage=stage)
        rules = self.policy.clocks
        return await self._change(
            project_id,
            lambda p, now: p.record_position(
                stage=stage, party=party, position=position, reason=reason, by=by, now=now, rules=rules
            ),
        )

    async def start_drafting(self, project_id: ProjectId, *, by: Principal) -> Project:
        """Joint drafting begins."""
        return await self._change(project_id, lambda p, now: p.start_drafting(by=by, now=now))

    async def open_public_comment(
        self, project_id: ProjectId, *, closes_on: date | None, by: Principal
    ) -> Project:
        """The public comment period opens."""
        rules = self.policy.clocks
        return await self._change(
            project_id,
            lambda p, now: p.open_public_comment(by=by, now=now, closes_on=closes_on, rules=rules),
        )

    async def amend_public_comment(
        self, project_id: ProjectId, *, closes_on: date, reason: str | None, by: Principal
    ) -> Project:
        """A party's regulator moves the closing date of the open comment period."""
        rules = self.policy.clocks
        return await self._change(
            project_id,
            lambda p, now: p.amend_public_comment(
                by=by, now=now, closes_on=closes_on, reason=reason, rules=rules
            ),
        )

    async def close_public_comment(self, project_id: ProjectId, *, by: Principal) -> Project:
        """The public comment period closes; technical review begins."""
        return await self._change(project_id, lambda p, now: p.close_public_comment(by=by, now=now))

    async def record_review_conclusion(
        self, project_id: ProjectId, *, party: RegionCode, conclusion: str, passed: bool, by: Principal
    ) -> Project:
        """A party's regulator records its technical review conclusion."""
        return await self._change(
            project_id,
            lambda p, now: p.record_review_conclusion(
                party=party, conclusion=conclusion, passed=passed, by=by, now=now
            ),
        )

    async def submit_for_final_approval(
        self, project_id: ProjectId, *, text: TextReference, by: Principal
    ) -> Project:
        """The final text goes to the 批准 ballot."""
        rules = self.policy.clocks
        return await self._change(
            project_id,
            lambda p, now: p.submit_for_final_approval(text=text, by=by, now=now, rules=rules),
        )

    # -- clocks --------------------------------------------------------------------------------

    def decide_clocks(self, project: Project, now: datetime) -> Decided:
        """The clock scheduler's decision for one project whose clocks are due: a project stored
        before projects had clocks gets them here, from its history."""
        checked, events = project.check_clocks(now, self.policy.clocks)
        for event in events:
            log.info(
                "project clock changed",
                extra={"project_id": project.project_id, "event": type(event).__name__},
            )
        return checked, events

    # -- queries -------------------------------------------------------------------------------

    async def project(self, project_id: ProjectId) -> Project:
        """One project; NotFound when there is none."""
        return await self.projects.get(project_id)

    async def search(self, filters: Filters, *, limit: int, offset: int) -> tuple[list[Project], int]:
        """Projects matching the filters, newest first, with how many match in all."""
        return await self.listing.search(filters, limit=limit, offset=offset)

    async def overdue(self, kind: ProjectClock, *, area: str | None) -> list[tuple[Project, Clock]]:
        """Projects with an overdue clock of this kind (as the scheduler last found), with that clock."""
        if area is not None and area not in self.reference.areas:
            raise Invalid(f"unknown area {area!r}; the areas are {', '.join(sorted(self.reference.areas))}")
        names = clock_names(kind)
        return [
            (project, clock)
            for project in await self.listing.with_overdue_clocks(names, area=area)
            for clock in project.clocks
            if clock.name in names and clock.state == "overdue"
        ]

    async def refused_by_publication(self) -> dict[str, int]:
        """How many finally approved projects publication refused, by area; every area named."""
        return dict.fromkeys(self.reference.areas, 0) | await self.listing.refused_by_publication()

    # -- events from publication ---------------------------------------------------------------

    async def on_standard_published(self, delivery: Delivery[StandardPublished]) -> None:
        """Remember a published standard for the overlap check and revisions, and show it on the
        project it came from; each event takes effect once on each.

        The overlap index gets the standard's own postings only when no project of intake names it:
        a project's postings were added when it was proposed, and the check reads a project that
        became a standard as that standard (`candidates_of`), under the same title. So the standards
        of intake's own projects cost no index writes (decision 45)."""
        standard = delivery.data
        shown = standard.project_id is not None and await self._record_publication(
            standard.project_id, delivery.id, PublicationOutcome.published(standard)
        )
        if not shown:
            # Indexed before it is remembered, as a project before it is saved (decision 35).
            await self.overlaps.add(
                [Candidate(kind="standard", ref=standard.standard_id, title_zh=standard.title_zh)]
            )
        await self.standards.apply_once(
            standard.standard_id, delivery.id, lambda known, _: remember(known, standard)
        )

    async def on_standard_withdrawn(self, delivery: Delivery[StandardWithdrawn]) -> None:
        """A remembered standard was abolished: no revision may target it any more."""
        await self._end_standard(delivery, abolish)

    async def on_number_not_issued(self, delivery: Delivery[NumberNotIssued]) -> None:
        """A remembered standard's number was withdrawn as not issued: no revision may target it."""
        await self._end_standard(delivery, not_issued)

    async def on_standard_superseded(self, delivery: Delivery[StandardSuperseded]) -> None:
        """A remembered standard was superseded: a revision targets its successor instead."""
        await self._end_standard(delivery, supersede)

    async def _end_standard(
        self, delivery: Delivery[Ending], end: Callable[[PublishedStandard | None, Ending], Remembered]
    ) -> None:
        event = delivery.data
        await self.standards.apply_once(event.standard_id, delivery.id, lambda known, _: end(known, event))

    async def on_approval_refused(self, delivery: Delivery[ApprovalRefused]) -> None:
        """Publication will not number a finally approved project: the project shows why."""
        refused = delivery.data
        log.warning(
            "publication refused a final approval",
            extra={"project_id": refused.project_id, "rule": refused.rule},
        )
        await self._record_publication(refused.project_id, delivery.id, PublicationOutcome.refused(refused))

    async def _record_publication(
        self, project_id: ProjectId, event_id: str, outcome: PublicationOutcome
    ) -> bool:
        """Record publication's answer on the project; whether the project shows it (now, or from an
        earlier delivery of the same event)."""
        # An answer about a project intake does not have (an approval it never made) or one not
        # finally approved changes nothing here: publication's refusal already says so.
        shown = True  # unless `decide` finds otherwise: an event already processed was recorded

        def decide(project: Project | None, _: datetime) -> tuple[Project, list[EventModel]] | None:
            nonlocal shown
            recorded = None if project is None else project.record_publication(outcome)
            shown = recorded is not None
            return None if recorded is None else (recorded, [])

        if not await self.projects.apply_once(project_id, event_id, decide) and not shown:
            # DEBUG: a catalogue loaded into publication alone would log one line per standard.
            log.debug(
                "publication outcome left as it was",
                extra={"project_id": project_id, "outcome": outcome.outcome},
            )
        return shown

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The service's time in UTC, to the millisecond: what the store keeps of a moment."""
        return self.projects.now()

    def today(self) -> date:
        """Today's date in China Standard Time, by the clock: the date deadlines count."""
        return china_date(self.now())

    async def _change(self, project_id: ProjectId, decide: Decision[Project]) -> Project:
        return (await self.projects.change(project_id, decide)).aggregate
