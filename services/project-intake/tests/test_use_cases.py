"""The use cases of project intake over in-memory stores: what each one stores through the unit of
work, and what it refuses before storing anything."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from regstd.contracts.common import TextReference
from regstd.contracts.intake import BallotOpened, PositionRecorded, ProjectProposed
from regstd.contracts.publication import PartyNumber, StandardPublished
from regstd.intake.app.ports import Filters
from regstd.kernel.errors import Conflict, Invalid, NotFound
from regstd.runtime.testing import MovableClock, delivered

from .conftest import NOW, REGULATORS, SHA, proposal
from .memory import MemoryIntake

R = REGULATORS


def published(
    standard_id: str, title_zh: str, *, project_id: str | None = None, **overrides: Any
) -> StandardPublished:
    fields: dict[str, Any] = {
        "standard_id": standard_id,
        "project_id": project_id,
        "area": "chengyu",
        "parties": ["50", "51"],
        "numbers": [
            PartyNumber(party="50", number="DB50/T 10003—2025"),
            PartyNumber(party="51", number="DB51/T 10003—2025"),
        ],
        "sequence": 10003,
        "year": 2025,
        "title_zh": title_zh,
        "category": "transport",
        "kind": "recommended",
        "publication_date": date(2025, 6, 1),
        "implementation_date": date(2025, 9, 1),
        "text": TextReference(location="https://texts.example/std.pdf", sha256=SHA),
        "published_at": datetime(2025, 6, 1, 2, 0, tzinfo=UTC),
    }
    return StandardPublished.model_validate(fields | overrides)


def ids(*names: str) -> Any:
    drawn = iter(names)
    return lambda: next(drawn)


async def test_a_proposal_is_stored_with_its_events_and_its_overlaps() -> None:
    memory = MemoryIntake(clock=lambda: NOW, new_id=ids("prj-a", "prj-b"))
    intake = memory.intake
    await intake.on_standard_published(
        delivered(published("std-1", "成渝地区高速公路沥青路面养护技术规范"), event_id="e1")
    )
    first = await intake.propose(proposal(), R["50"])
    assert first.project_id == "prj-a"
    assert [m.ref for m in first.overlap_matches] == ["std-1"]
    assert [p.type for p in memory.project_store.outbox] == [
        ProjectProposed.event_type,
        BallotOpened.event_type,
    ]

    second = await intake.propose(proposal(), R["51"])
    assert {(m.kind, m.ref) for m in second.overlap_matches} == {("standard", "std-1"), ("project", "prj-a")}
    assert memory.project_store.states()["prj-b"]["proposed_at"] == NOW


async def test_a_project_that_became_a_standard_counts_once_as_the_standard() -> None:
    memory = MemoryIntake(clock=lambda: NOW, new_id=ids("prj-a", "prj-b"))
    intake = memory.intake
    await intake.propose(proposal(), R["50"])
    await intake.on_standard_published(
        delivered(published("std-a", "川渝地区公路沥青路面养护技术规范", project_id="prj-a"), event_id="e1")
    )
    second = await intake.propose(proposal(), R["50"])
    assert [(m.kind, m.ref) for m in second.overlap_matches] == [("standard", "std-a")]


async def test_a_taken_project_id_is_refused_and_stores_nothing_more() -> None:
    memory = MemoryIntake(clock=lambda: NOW, new_id=ids("prj-a", "prj-a"))
    await memory.intake.propose(proposal(), R["50"])
    with pytest.raises(Conflict, match="prj-a is taken; try again"):
        await memory.intake.propose(proposal(), R["50"])
    assert len(memory.project_store.outbox) == 2


async def test_a_revision_needs_a_published_standard_of_the_same_area_and_parties() -> None:
    memory = MemoryIntake(clock=lambda: NOW)
    intake = memory.intake
    with pytest.raises(Invalid, match="supersedes names std-9, which is not a published standard"):
        await intake.propose(proposal(supersedes="std-9"), R["50"])
    await intake.on_standard_published(
        delivered(
            published("std-9", "长三角 隧道照明设计规范", area="yrd", parties=["31", "32"]), event_id="e1"
        )
    )
    with pytest.raises(
        Invalid, match=r"keeps its number, so it needs its area \(yrd\) and parties \(31, 32\)"
    ):
        await intake.propose(proposal(supersedes="std-9"), R["50"])
    await intake.on_standard_published(
        delivered(published("std-8", "川渝地区 隧道照明设计规范"), event_id="e2")
    )
    revision = await intake.propose(proposal(parties=["51", "50"], supersedes="std-8"), R["50"])
    assert revision.supersedes == "std-8"


async def test_a_published_standard_is_remembered_once_and_an_older_publication_changes_nothing() -> None:
    memory = MemoryIntake()
    intake = memory.intake
    newer = published("std-1", "新标题", published_at=datetime(2026, 1, 1, tzinfo=UTC))
    await intake.on_standard_published(delivered(newer, event_id="e2"))
    await intake.on_standard_published(delivered(newer, event_id="e2"))
    assert memory.standard_store.documents["std-1"].version == 1, "the repeated delivery had no effect"
    older = published("std-1", "旧标题", published_at=datetime(2025, 1, 1, tzinfo=UTC))
    await intake.on_standard_published(delivered(older, event_id="e1"))
    row = memory.standard_store.states()["std-1"]
    assert (row["title_zh"], row["number"]) == ("新标题", "DB50/T 10003—2025 = DB51/T 10003—2025")
    assert set(row) == {
        "project_id",
        "area",
        "parties",
        "title_zh",
        "title_en",
        "category",
        "number",
        "published_at",
        # issue 13: whether it is still current (a revision targets only a current standard)
        "status",
        "status_since",
        "status_reason",
        "superseded_by",
    }, "the row keeps the fields it always had, and its status"
    assert row["status"] == "published"


async def test_a_position_is_stored_once_and_the_same_position_again_stores_nothing() -> None:
    memory = MemoryIntake(clock=lambda: NOW, new_id=ids("prj-a"))
    intake = memory.intake
    await intake.propose(proposal(), R["50"])

    async def object_() -> None:
        await intake.record_position(
            "prj-a", stage="project_approval", party="51", position="object", reason="范围需收窄", by=R["51"]
        )

    await object_()
    await object_()
    assert memory.project_store.documents["prj-a"].version == 2
    assert len(memory.project_store.events_of(PositionRecorded.event_type)) == 1
    with pytest.raises(NotFound, match="no project prj-x"):
        await intake.start_drafting("prj-x", by=R["50"])


async def test_overdue_projects_are_listed_with_their_clock_after_the_scheduler_s_decision() -> None:
    clock = MovableClock(NOW)
    memory = MemoryIntake(clock=clock, new_id=ids("prj-a", "prj-b"))
    intake = memory.intake
    await intake.propose(proposal(), R["50"])
    await intake.propose(proposal(area="yrd", parties=["31", "32"], title_zh="长三角 河湖管护规范"), R["31"])
    with pytest.raises(Invalid, match="unknown area 'pearl'"):
        await intake.overdue("ballot", area="pearl")
    clock.advance(days=31)
    for project_id in ("prj-a", "prj-b"):
        outcome = await intake.projects.change(project_id, intake.decide_clocks)
        assert outcome.stored
    found = await intake.overdue("ballot", area="chengyu")
    assert [(p.project_id, c.name) for p, c in found] == [("prj-a", "ballot:project_approval")]
    assert await intake.overdue("cycle_time", area=None) == []
    assert intake.today() == (NOW + timedelta(days=31)).date()

    page, total = await intake.search(Filters(area="yrd"), limit=10, offset=0)
    assert ([p.project_id for p in page], total) == (["prj-b"], 1)
