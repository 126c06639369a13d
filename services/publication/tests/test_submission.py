"""Single-region submissions over storage in memory: the region's own number, published once,
refused clearly."""

from datetime import UTC, date, datetime

import pytest

from regstd.contracts.publication import StandardPublished
from regstd.contracts.reference import load_reference
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.principals import Principal
from regstd.publication.app.submissions import SubmissionCases
from regstd.publication.domain.submission import reserved_from

from .conftest import PRINCIPALS, submission
from .memory import Memory

REFERENCE = load_reference()
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Holders:
    def __init__(self, holder: str | None) -> None:
        self.held_by = holder

    async def holder(self, _: str) -> str | None:
        return self.held_by


def make(holder: str | None = None) -> tuple[Memory, SubmissionCases]:
    kept = Memory(lambda: NOW)
    return kept, SubmissionCases(kept.standards, Holders(holder), REFERENCE, designations=kept.designations)


async def test_a_region_publishes_its_own_standard_once() -> None:
    kept, submissions = make()
    stored, created = await submissions.submit(submission(), PRINCIPALS["reg-51"])
    again, created_again = await submissions.submit(submission("db51/t 3125-2026"), PRINCIPALS["reg-51"])
    assert (created, created_again) == (True, False)
    assert again == stored
    events = kept.events(StandardPublished)
    assert len(events) == 1
    data = events[0].data
    assert (data["project_id"], data["parties"], data["sequence"]) == (None, ["51"], 3125)
    assert data["numbers"] == [{"party": "51", "number": "DB51/T 3125—2026"}]
    assert data["eco_civilization"] is True
    # Its statutory clocks start with the publication, as a joint standard's do.
    assert stored.life is not None
    assert {clock.name for clock in stored.life.clocks} == {"filing:51", "text_disclosure", "review"}
    with pytest.raises(Conflict):
        await submissions.submit(submission(title_zh="别的标题"), PRINCIPALS["reg-51"])


@pytest.mark.parametrize(
    ("who", "changes", "refusal"),
    [
        ("reg-50", {}, Forbidden),
        ("city-chengdu", {}, Forbidden),
        ("reg-51", {"number": "DB51/T 10001—2026"}, Invalid),  # chengyu's joint block
        ("reg-51", {"number": "DB51/T 3125—2025"}, Invalid),  # not the publication year
        ("reg-51", {"kind": "mandatory"}, Invalid),
        ("reg-51", {"area": "yrd"}, Invalid),  # not a member
        ("reg-51", {"area": "nowhere"}, Invalid),
        ("reg-51", {"implementation_date": date(2026, 2, 1)}, Invalid),
        ("reg-51", {"number": "GB 3095—2012"}, Invalid),
    ],
)
async def test_refusals_change_nothing(
    who: str, changes: dict[str, object], refusal: type[Exception]
) -> None:
    kept, submissions = make()
    with pytest.raises(refusal):
        await submissions.submit(submission(**changes), PRINCIPALS[who])
    assert kept.store.documents == {}


async def test_a_number_another_standard_carries_is_refused() -> None:
    kept, submissions = make(holder="std-prj-123")
    with pytest.raises(Conflict):
        await submissions.submit(submission(), Principal(kind="regulator", code="51", name="四川"))
    assert kept.store.documents == {}


def test_the_joint_blocks_a_region_takes_part_in_are_reserved() -> None:
    assert reserved_from("51", REFERENCE) == 10001
    assert reserved_from("31", REFERENCE) == 310001
    assert reserved_from("53", REFERENCE) is None
