"""What publication keeps of intake's projects: the proposal and the decided ballots of each, from
intake's topic, so that a final approval is honoured only for a project it saw proposed and
approved (decision 0023). The rules are in `domain/approval.py`."""

from datetime import datetime

from regstd.contracts.intake import BallotDecided, ProjectProposed
from regstd.publication.domain.approval import ProjectRecord, record_ballot, record_proposal
from regstd.runtime.events import Delivery
from regstd.runtime.unit_of_work import Events, UnitOfWork


class ProjectRecords:
    """Records intake's `ProjectProposed` and `BallotDecided`, each event once, per project."""

    def __init__(self, projects: UnitOfWork[ProjectRecord]) -> None:
        self.projects = projects

    async def on_project_proposed(self, delivery: Delivery[ProjectProposed]) -> None:
        """Keep the project's proposal (area, parties, kind, revision target)."""
        proposed = delivery.data
        await self.projects.apply_once(
            proposed.project_id, delivery.id, lambda record, _: (record_proposal(record, proposed), [])
        )

    async def on_ballot_decided(self, delivery: Delivery[BallotDecided]) -> None:
        """Keep a decided ballot of a project seen proposed."""
        decided = delivery.data

        def keep(record: ProjectRecord | None, _: datetime) -> tuple[ProjectRecord, Events] | None:
            kept = record_ballot(record, decided)
            return None if kept is None else (kept, [])

        await self.projects.apply_once(decided.project_id, delivery.id, keep)

    async def find(self, project_id: str) -> ProjectRecord | None:
        """What was seen of a project, or None."""
        return await self.projects.find(project_id)
