"""Adoption over storage in memory: offers, decisions (only the member's own regulator, once),
notices to adopters, the registry and the yearly summary."""

from datetime import UTC, date, datetime
from typing import Any

import pytest

from regstd.contracts.common import TextReference
from regstd.contracts.publication import PartyNumber, StandardPublished, StandardSuperseded, StandardWithdrawn
from regstd.contracts.reference import load_reference
from regstd.harmonization.app.adoptions import Adoptions
from regstd.harmonization.domain.adoption import DecisionRequest
from regstd.harmonization.domain.registry import registry_rows, yearly_summary
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.principals import Principal
from regstd.runtime.testing import MemoryAggregateStore, delivered

from .memory import InMemory, events

REFERENCE = load_reference()
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def regulator(code: str) -> Principal:
    return Principal(kind="regulator", code=code, name=f"regulator {code}")


def published(
    sid: str = "std-51-t-3125-2026",
    *,
    category: str = "ecology",
    eco: bool = False,
    parties: tuple[str, ...] = ("51",),
) -> StandardPublished:
    return StandardPublished(
        standard_id=sid,
        project_id=None,
        area="yangtze",
        parties=list(parties),
        numbers=[PartyNumber(party=p, number=f"DB{p}/T 3125—2026") for p in parties],
        sequence=3125,
        year=2026,
        title_zh="生态修复技术规范",
        category=category,
        kind="recommended",
        eco_civilization=eco,
        publication_date=date(2026, 3, 1),
        implementation_date=date(2026, 6, 1),
        text=TextReference(location="https://t.example/x.pdf", sha256="ab" * 32),
        published_at=NOW,
    )


@pytest.fixture
def fakes() -> tuple[MemoryAggregateStore, Adoptions]:
    service = InMemory(REFERENCE, lambda: NOW)
    return service.standards, service.adoptions


ADOPT = DecisionRequest("50", "adopt", scope="全市", effective_date=date(2026, 9, 1))


async def test_an_eco_standard_is_offered_once_to_every_other_member(fakes: Any) -> None:
    store, adoptions = fakes
    event = delivered(published())
    await adoptions.on_published(event)
    await adoptions.on_published(event)  # redelivered
    offers = events(store, "adoption.offered.v1")
    assert sorted(o["member"] for o in offers) == sorted(set(REFERENCE.area("yangtze").parties) - {"51"})
    assert len(offers) == 10


@pytest.mark.parametrize(
    ("category", "eco", "parties", "offered"),
    [
        ("transport", False, ("51",), 0),
        ("transport", True, ("51",), 10),
        ("Environment", False, ("51",), 10),
        ("ecology", False, ("50", "51"), 9),
    ],
)
async def test_what_makes_an_offer(
    fakes: Any, category: str, eco: bool, parties: tuple[str, ...], offered: int
) -> None:
    store, adoptions = fakes
    await adoptions.on_published(delivered(published(category=category, eco=eco, parties=parties)))
    assert len(events(store, "offered.v1")) == offered


async def test_only_the_members_own_regulator_decides_and_only_once(fakes: Any) -> None:
    store, adoptions = fakes
    await adoptions.on_published(delivered(published()))
    sid = "std-51-t-3125-2026"
    with pytest.raises(Forbidden):
        await adoptions.decide(sid, ADOPT, regulator("51"))
    with pytest.raises(Forbidden):
        await adoptions.decide(sid, ADOPT, Principal(kind="city", code="510100", name="成都市"))
    assert events(store, "decided.v1") == []
    with pytest.raises(Conflict):  # its own standard
        await adoptions.decide(
            sid, DecisionRequest("51", "adopt", scope="x", effective_date=date(2026, 9, 1)), regulator("51")
        )
    await adoptions.decide(sid, ADOPT, regulator("50"))
    await adoptions.decide(sid, ADOPT, regulator("50"))  # the same again: nothing new
    with pytest.raises(Conflict):
        await adoptions.decide(sid, DecisionRequest("50", "decline", reason="no"), regulator("50"))
    assert [d["member"] for d in events(store, "decided.v1")] == ["50"]


@pytest.mark.parametrize(
    "request_",
    [
        DecisionRequest("42", "adopt_with_modifications", scope="x", effective_date=date(2026, 9, 1)),
        DecisionRequest("42", "decline"),
        DecisionRequest("42", "adopt", scope="x"),
        DecisionRequest("42", "adopt", effective_date=date(2026, 9, 1)),
        DecisionRequest("42", "adopt", ("a",), scope="x", effective_date=date(2026, 9, 1)),
    ],
)
async def test_incomplete_decisions_are_refused(fakes: Any, request_: DecisionRequest) -> None:
    store, adoptions = fakes
    await adoptions.on_published(delivered(published()))
    with pytest.raises(Invalid):
        await adoptions.decide("std-51-t-3125-2026", request_, regulator("42"))
    assert events(store, "decided.v1") == []


async def test_adopters_are_told_of_a_withdrawal_or_supersession_once(fakes: Any) -> None:
    store, adoptions = fakes
    await adoptions.on_published(delivered(published()))
    await adoptions.on_published(delivered(published("std-other")))
    sid = "std-51-t-3125-2026"
    await adoptions.decide(sid, ADOPT, regulator("50"))
    await adoptions.decide(
        sid,
        DecisionRequest(
            "42", "adopt_with_modifications", ("本地草种",), scope="鄂西", effective_date=date(2026, 10, 1)
        ),
        regulator("42"),
    )
    await adoptions.decide(sid, DecisionRequest("53", "decline", reason="已有"), regulator("53"))
    numbers = [PartyNumber(party="51", number="DB51/T 3125—2026")]
    withdrawal = delivered(
        StandardWithdrawn(
            standard_id=sid,
            area="yangtze",
            parties=["51"],
            numbers=numbers,
            reason="废止",
            effective_date=date(2027, 1, 1),
            withdrawn_at=NOW,
        )
    )
    await adoptions.on_withdrawn(withdrawal)
    await adoptions.on_withdrawn(withdrawal)
    later = StandardSuperseded(
        standard_id=sid,
        area="yangtze",
        parties=["51"],
        numbers=numbers,
        superseded_by="std-51-t-3125-2027",
        superseded_by_numbers=[PartyNumber(party="51", number="DB51/T 3125—2027")],
        effective_date=date(2027, 6, 1),
        superseded_at=NOW,
    )
    await adoptions.on_superseded(delivered(later))  # already withdrawn: nothing more
    notices = events(store, "source-changed.v1")
    assert sorted(n["member"] for n in notices) == ["42", "50"]
    with pytest.raises(Conflict):
        await adoptions.decide(sid, DecisionRequest("43", "decline", reason="x"), regulator("43"))
    await adoptions.on_superseded(delivered(later.model_copy(update={"standard_id": "std-other"})))
    assert len(events(store, "source-changed.v1")) == 2  # std-other has no adopters to tell


async def test_the_registry_and_the_yearly_summary(fakes: Any) -> None:
    _, adoptions = fakes
    await adoptions.on_published(delivered(published()))
    sid = "std-51-t-3125-2026"
    await adoptions.decide(sid, ADOPT, regulator("50"))
    await adoptions.decide(sid, DecisionRequest("53", "decline", reason="已有"), regulator("53"))
    standards = await adoptions.offered()
    assert [(r.member, r.decision) for r in registry_rows(standards, source="51")] == [
        ("50", "adopt"),
        ("53", "decline"),
    ]
    assert [r.member for r in registry_rows(standards, decisions=["adopt"])] == ["50"]
    summary = yearly_summary(standards, 2026, REFERENCE, "yangtze")
    row = summary.standards[0]
    assert (row.offered_to, row.adopted, row.declined, row.pending) == (10, 1, 1, 8)
    members = {m.member: m for m in summary.members}
    assert (members["51"].own_standards_offered, members["51"].adoptions_by_others) == (1, 1)
    assert (members["50"].offers_received, members["50"].adopted) == (1, 1)
    assert yearly_summary(standards, 2025, REFERENCE, "yangtze").standards == []
