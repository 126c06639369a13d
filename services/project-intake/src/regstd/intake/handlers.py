"""The use cases of project intake: load a project, let the domain decide, save it with its events.

Every change of a project is one versioned save of its document with the events it produced (the
outbox); a concurrent change makes the handler load again and decide again. Published standards,
heard from the publication service, are kept in a table of their own for the overlap check, each
event applied once. The runtime's clock scheduler fires the project clocks (ballot deadlines, the end
of public comment, the cycle-time target) through `decide_clocks`; with several instances running,
the versioned save lets exactly one of them store each happening.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from regstd.contracts.common import RegionCode, TextReference
from regstd.contracts.envelope import EventModel
from regstd.contracts.intake import Position, ProjectClock, Stage
from regstd.contracts.publication import StandardPublished
from regstd.contracts.reference import Reference
from regstd.intake.domain import (
    ClockRules,
    Project,
    ProjectId,
    Proposal,
    Status,
    check_proposal,
    clock_names,
    new_project_id,
)
from regstd.intake.overlap import Candidate, find_overlaps
from regstd.intake.settings import IntakeSettings
from regstd.kernel.clocks import OVERDUE
from regstd.kernel.clocks import Clock as DeadlineClock
from regstd.kernel.errors import Conflict, Invalid, NotFound
from regstd.kernel.principals import Principal
from regstd.kernel.time import Now, china_date, utc_now
from regstd.runtime.events import Delivery, new_event
from regstd.runtime.store import META_FIELDS, AggregateStore, Change, Loaded, VersionConflict
from regstd.runtime.telemetry import annotate

log = logging.getLogger(__name__)

Clock = Now
"""The service's time (`utc_now` in production, a controllable clock in tests)."""
Decision = Callable[[Project, datetime], list[EventModel]]

_HIDDEN = dict.fromkeys(META_FIELDS - {"_id"}, False)


@dataclass(frozen=True)
class Policy:
    """The configurable rules the handlers pass to the domain."""

    clocks: ClockRules = field(default_factory=ClockRules)
    overlap_threshold: float = 0.25
    overlap_limit: int = 5
    overlap_title_weight: float = 0.7

    @classmethod
    def of(cls, settings: IntakeSettings) -> "Policy":
        return cls(
            clocks=settings.clock_rules(),
            overlap_threshold=settings.overlap_threshold,
            overlap_limit=settings.overlap_limit,
            overlap_title_weight=settings.overlap_title_weight,
        )


@dataclass(frozen=True)
class Filters:
    """What a project listing may be narrowed to."""

    status: Status | None = None
    area: str | None = None
    party: RegionCode | None = None


class Intake:
    """The project-intake use cases over the two stores."""

    def __init__(
        self,
        projects: AggregateStore,
        standards: AggregateStore,
        reference: Reference,
        policy: Policy,
        *,
        clock: Clock = utc_now,
        new_id: Callable[[], ProjectId] = new_project_id,
        attempts: int = 5,
    ) -> None:
        self.projects = projects
        self.standards = standards
        self.reference = reference
        self.policy = policy
        self.clock = clock
        self.new_id = new_id
        self.attempts = attempts

    async def ensure_indexes(self) -> None:
        """The indexes of the listing (idempotent); the clock scheduler makes its own."""
        await self.projects.collection.create_index([("proposed_at", DESCENDING)], name="proposed_at")

    # -- commands ------------------------------------------------------------------------------

    async def propose(self, proposal: Proposal, by: Principal) -> Project:
        """Store a new project with its overlap matches; its 立项 ballot opens at once."""
        check_proposal(proposal, self.reference, by)  # refuse before reading anything
        if proposal.supersedes is not None:
            await self._check_revised(proposal)
        matches = find_overlaps(
            proposal.title_zh,
            proposal.scope,
            await self._candidates(),
            threshold=self.policy.overlap_threshold,
            limit=self.policy.overlap_limit,
            title_weight=self.policy.overlap_title_weight,
        )
        for _ in range(self.attempts):
            now = self.now()
            project, events = Project.propose(
                proposal,
                project_id=self.new_id(),
                reference=self.reference,
                proposer=by,
                now=now,
                overlap_matches=matches,
                rules=self.policy.clocks,
            )
            try:
                await self.projects.save(
                    project.project_id, project.to_document(), loaded=None, events=self._pending(events, now)
                )
            except VersionConflict:
                continue  # the id was taken: draw another
            annotate(project_id=project.project_id, area=proposal.area, party=by.code)
            log.info("project proposed", extra={"project_id": project.project_id, "overlaps": len(matches)})
            return project
        raise Conflict("could not find a free project id; try again")

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
        return await self._change(
            project_id,
            lambda project, now: project.record_position(
                stage=stage,
                party=party,
                position=position,
                reason=reason,
                by=by,
                now=now,
                rules=self.policy.clocks,
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

    def decide_clocks(self, loaded: Loaded, now: datetime) -> Change | None:
        """The clock scheduler's decision for one project whose clocks are due (see runtime.clocks):
        a project stored before projects had clocks gets them here, from its history."""
        project = Project.from_document(loaded.state)
        events = project.check_clocks(now, self.policy.clocks)
        document = project.to_document()
        if not events and document == {k: loaded.state.get(k) for k in document}:
            return None
        for event in events:
            log.info(
                "project clock changed",
                extra={"project_id": project.project_id, "event": type(event).__name__},
            )
        return document, self._pending(events, now)

    # -- queries -------------------------------------------------------------------------------

    async def project(self, project_id: ProjectId) -> Project:
        """One project; NotFound when there is none."""
        loaded = await self.projects.load(project_id)
        if loaded is None:
            raise NotFound(f"no project {project_id}")
        return Project.from_document(loaded.state)

    async def search(self, filters: Filters, *, limit: int, offset: int) -> tuple[list[Project], int]:
        """Projects matching the filters, newest first, with how many match in all."""
        query: dict[str, Any] = {}
        if filters.status:
            query["status"] = filters.status
        if filters.area:
            query["area"] = filters.area
        if filters.party:
            query["parties"] = filters.party
        total = await self.projects.collection.count_documents(query)
        cursor = (
            self.projects.collection.find(query, projection=_HIDDEN)
            .sort([("proposed_at", DESCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [Project.from_document(doc) async for doc in cursor], total

    async def overdue(self, kind: ProjectClock, *, area: str | None) -> list[tuple[Project, DeadlineClock]]:
        """Projects with an overdue clock of this kind (as the scheduler last found), with that clock."""
        if area is not None and area not in self.reference.areas:
            raise Invalid(f"unknown area {area!r}; the areas are {', '.join(sorted(self.reference.areas))}")
        names = clock_names(kind)
        query: dict[str, Any] = {OVERDUE: {"$in": names}}
        if area is not None:
            query["area"] = area
        found = []
        async for doc in self.projects.collection.find(query, projection=_HIDDEN):
            project = Project.from_document(doc)
            found += [(project, c) for c in project.clocks if c.name in names and c.state == "overdue"]
        return found

    # -- events from publication ---------------------------------------------------------------

    async def on_standard_published(self, delivery: Delivery[StandardPublished]) -> None:
        """Remember a published standard for the overlap check; each event takes effect once."""
        standard = delivery.data

        def remember(loaded: Loaded | None) -> Change | None:
            if loaded is not None and loaded.state.get("published_at", standard.published_at) > (
                standard.published_at
            ):
                return None  # an older publication of a standard we know a newer one of
            return _standard_row(standard), []

        await self.standards.apply_once(standard.standard_id, delivery.id, remember)

    # -- inside --------------------------------------------------------------------------------

    async def _check_revised(self, proposal: Proposal) -> None:
        """A revision names a published standard of the same area and parties (it keeps its number)."""
        revised = await self.standards.load(proposal.supersedes or "")
        if revised is None:
            raise Invalid(f"supersedes names {proposal.supersedes}, which is not a published standard")
        area, parties = revised.state["area"], revised.state["parties"]
        if area != proposal.area or set(parties) != set(proposal.parties):
            raise Invalid(
                f"a revision of {proposal.supersedes} keeps its number, so it needs its area ({area}) "
                f"and parties ({', '.join(parties)})"
            )

    async def _change(self, project_id: ProjectId, decide: Decision) -> Project:
        project, _ = await self._load_decide_save(project_id, decide)
        return project

    async def _load_decide_save(
        self, project_id: ProjectId, decide: Decision
    ) -> tuple[Project, list[EventModel]]:
        """Load, decide, save with the events; on a concurrent change load and decide again."""
        for _ in range(self.attempts):
            loaded = await self.projects.load(project_id)
            if loaded is None:
                raise NotFound(f"no project {project_id}")
            project = Project.from_document(loaded.state)
            now = self.now()
            events = decide(project, now)
            if not events:
                return project, []  # nothing changed: nothing to store
            try:
                await self.projects.save(
                    project_id, project.to_document(), loaded=loaded, events=self._pending(events, now)
                )
            except VersionConflict:
                continue
            return project, events
        raise Conflict(f"project {project_id} kept changing while this was recorded; try again")

    def now(self) -> datetime:
        """The clock's time in UTC, to the millisecond: what the store keeps of a moment."""
        now = self.clock().astimezone(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def today(self) -> date:
        """Today's date in China Standard Time, by the clock: the date deadlines count."""
        return china_date(self.now())

    @staticmethod
    def _pending(events: Sequence[EventModel], now: datetime) -> list[Any]:
        return [new_event(e, now=now) for e in events]

    async def _candidates(self) -> list[Candidate]:
        """What a proposal is compared with: live projects, and published standards (a project that
        became a published standard counts once, as the standard)."""
        standards = [doc async for doc in self.standards.collection.find({}, projection=_HIDDEN)]
        published_projects = {doc.get("project_id") for doc in standards}
        found = [
            Candidate(
                kind="standard",
                ref=doc["_id"],
                title_zh=doc["title_zh"],
                number=doc.get("number"),
            )
            for doc in standards
        ]
        projects = self.projects.collection.find(
            {"status": {"$ne": "rejected"}}, projection={"title_zh": True, "scope": True}
        )
        found += [
            Candidate(kind="project", ref=doc["_id"], title_zh=doc["title_zh"], scope=doc["scope"])
            async for doc in projects
            if doc["_id"] not in published_projects
        ]
        return found


def _standard_row(standard: StandardPublished) -> dict[str, Any]:
    return {
        "project_id": standard.project_id,
        "area": standard.area,
        "parties": list(standard.parties),
        "title_zh": standard.title_zh,
        "title_en": standard.title_en,
        "category": standard.category,
        "number": " = ".join(n.number for n in standard.numbers),
        "published_at": standard.published_at,
    }
