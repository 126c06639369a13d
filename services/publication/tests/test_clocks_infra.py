"""The clocks of published standards on the real Kafka and FerretDB, with a clock the test moves:
two instances fire every clock once, and an instance started after the deadlines (a restart) fires
each once too. Events are counted on the topic, by their CloudEvents id."""

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from regstd.contracts.publication import StandardClockChanged, StandardClockRescheduled
from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.publication.main import PublicationService
from regstd.runtime.testing import (
    MovableClock,
    bearer,
    ce,
    eventually,
    invented_arrangement_2027,
    letters,
    outboxes_empty,
    read_topic,
)

from .conftest import Scenario, approval

BEFORE_SPRING_FESTIVAL = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)  # 10:00 CST, Tuesday 10 February 2026


async def _rounds(*services: PublicationService, times: int = 3) -> None:
    """Scheduler rounds of every instance at once, as their background loops would run them."""
    for _ in range(times):
        await asyncio.gather(*(s.clocks.tick() for s in services))


async def test_two_instances_and_a_late_restart_fire_each_clock_once(scenario: Scenario) -> None:
    clock = MovableClock(BEFORE_SPRING_FESTIVAL)
    # The background loops are slowed down so that the test drives the rounds itself.
    first = await scenario.instance(clock, clock_scan_interval_s=3600)
    second = await scenario.instance(clock, clock_scan_interval_s=3600)
    projects = [f"clk-{letters()}" for _ in range(3)]
    await scenario.approve(*(approval(p, approved_at=clock()) for p in projects))
    ids = {f"std-{p}" for p in projects}
    for standard_id in ids:
        await eventually(lambda s=standard_id: _published(first, s), f"{standard_id} published")

    await _rounds(first, second)
    clock.advance(days=29)  # 11 March CST: the disclosure deadline (16 March, 20 working days) is near
    await _rounds(first, second)
    # What a regulator's desk asks the catalogue: its standards with a clock due soon, or overdue.
    assert ids <= await _with_clocks(scenario, first, "due_soon")
    assert ids.isdisjoint(await _with_clocks(scenario, first, "overdue"))
    # Both instances stop; one starts on 10 May, after every filing and disclosure deadline.
    clock.advance(days=60)
    restarted = await scenario.instance(clock, clock_scan_interval_s=3600)
    await _rounds(restarted, second)
    await eventually(
        lambda: outboxes_empty(restarted.queries.collection), "the relays to publish every clock event"
    )
    # What an operator sees: both filings and the disclosure of each standard overdue, no review.
    gauges = await _overdue_gauges(scenario, second)
    assert (gauges["filing"], gauges["text_disclosure"], gauges["review"]) == (6, 3, 0)
    assert ids <= await _with_clocks(scenario, second, "overdue")
    assert ids.isdisjoint(await _with_clocks(scenario, second, "due_soon"))

    expected = {
        (sid, clock_name, happening)
        for sid in ids
        for clock_name, happening in [
            ("text_disclosure", "due_soon"),
            ("filing:50", "overdue"),
            ("filing:51", "overdue"),
            ("text_disclosure", "overdue"),
        ]
    }
    records = await _clock_events(scenario, ids, len(expected))
    seen = Counter(
        (r["standard_id"], r["clock"] + (f":{r['party']}" if r["party"] else ""), r["happening"])
        for r in records
    )
    assert set(seen) == expected
    assert all(n == 1 for n in seen.values()), f"a clock fired more than once: {seen}"
    life = await first.catalogue.get(next(iter(ids)))
    assert life.life is not None
    assert {c.name: c.state for c in life.life.clocks}["review"] == "running"


async def _overdue_gauges(scenario: Scenario, service: PublicationService) -> dict[str, float]:
    """The `regstd_overdue` gauge by kind, as `/metrics` shows it."""
    async with scenario.client(service) as client:
        text = (await client.get("/metrics")).text
    prefix = 'regstd_overdue{kind="'
    return {
        line[len(prefix) :].split('"')[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


async def _with_clocks(scenario: Scenario, service: PublicationService, state: str) -> set[str]:
    """The ids of Chongqing's standards with a clock in this state, as `GET /standards` lists them."""
    async with scenario.client(service) as client:
        answer = await client.get(
            "/standards", params={"party": "50", "clock_state": state, "limit": 200}, headers=bearer("reg-50")
        )
    assert answer.status_code == 200, answer.text
    return {s["standard_id"] for s in answer.json()["items"]}


async def _published(service: PublicationService, standard_id: str) -> bool:
    stored = await service.standards.find(standard_id)
    return stored is not None and stored.status == "published"


async def _clock_events(scenario: Scenario, ids: set[str], expected: int) -> list[dict[str, Any]]:
    """Distinct clock events about these standards; reads a while past the expected count so that a
    duplicate would be seen."""

    def ours(records: list[Any]) -> dict[str, dict[str, Any]]:
        return {
            ce(r)["ce_id"]: json.loads(r.value)
            for r in records
            if r.key is not None
            and r.key.decode() in ids
            and ce(r)["ce_type"] == StandardClockChanged.event_type
        }

    records = await read_topic(
        scenario.stack.kafka_bootstrap,
        PUBLICATION_STANDARDS.name,
        lambda seen: len(ours(seen)) > expected,
        within=10.0,
    )
    return list(ours(records).values())


async def test_a_provisional_deadline_is_rescheduled_once_the_operator_loads_the_year(
    scenario: Scenario, tmp_path: Path
) -> None:
    """Issue 13: published in December 2026, the disclosure deadline reaches 2027, which chinesecalendar
    does not know: it is provisional (not blank) until the operator's file supplies 2027."""
    clock = MovableClock(datetime(2026, 12, 21, 2, 0, tzinfo=UTC))  # 10:00 CST, Monday 21 December 2026
    arrangements = tmp_path / "holiday-arrangements.json"
    service = await scenario.instance(
        clock,
        clock_scan_interval_s=3600,
        holiday_arrangements=arrangements,
        holiday_arrangements_check_interval_s=0.2,
    )
    standard_id = f"std-clk-{letters()}"
    await scenario.approve(approval(standard_id.removeprefix("std-"), approved_at=clock()))
    await eventually(lambda: _published(service, standard_id), f"{standard_id} published")
    assert await _disclosure(scenario, service, standard_id) == ("2027-01-19", True)

    invented = invented_arrangement_2027()
    arrangements.write_text(
        json.dumps(
            {
                "2027": {
                    "source": invented.source,
                    "holidays": sorted(d.isoformat() for d in invented.holidays),
                    "workdays": sorted(d.isoformat() for d in invented.workdays),
                }
            }
        ),
        encoding="utf-8",
    )
    await eventually(lambda: _supplied(service), "the service to read the arrangements file")
    clock.advance(days=1)  # the provisional clock's daily look
    await _rounds(service, times=1)
    assert await _disclosure(scenario, service, standard_id) == ("2027-01-19", False)

    def rescheduled(records: list[Any]) -> list[dict[str, Any]]:
        return [
            json.loads(r.value)
            for r in records
            if r.key is not None
            and r.key.decode() == standard_id
            and ce(r)["ce_type"] == StandardClockRescheduled.event_type
        ]

    records = await read_topic(
        scenario.stack.kafka_bootstrap, PUBLICATION_STANDARDS.name, lambda seen: bool(rescheduled(seen))
    )
    [event] = rescheduled(records)
    assert (event["clock"], event["previous_due_on"], event["due_on"], event["provisional"]) == (
        "text_disclosure", "2027-01-19", "2027-01-19", False,
    )  # fmt: skip


async def _supplied(service: PublicationService) -> bool:
    return service.runtime.calendar.supplied_years == [2027]


async def _disclosure(scenario: Scenario, service: PublicationService, standard_id: str) -> tuple[str, bool]:
    """The text disclosure deadline as `GET /standards/{id}/life` answers it: date and provisional."""
    async with scenario.client(service) as client:
        answer = await client.get(f"/standards/{standard_id}/life", headers=bearer("city-chengdu"))
    assert answer.status_code == 200, answer.text
    [view] = [c for c in answer.json()["clocks"] if c["name"] == "text_disclosure"]
    return view["due_on"], view["provisional"]
