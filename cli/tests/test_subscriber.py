"""A partner city's subscription without a broker: it subscribes only to areas it belongs to, and
a filter that accepts more than the earlier ones offers to replay what they skipped; the ledger
delivers each standard once. (Against the real broker: `test_subscriber_infra.py`.)"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from regstd.cli.main import app
from regstd.cli.subscriber import (
    CityLedger,
    CitySubscriber,
    Filter,
    SubscriptionRefused,
    member_areas,
)
from regstd.contracts.publication import StandardPublished
from regstd.contracts.reference import PartnerCity, load_reference
from regstd.runtime.events import Delivery
from regstd.runtime.testing import delivered

from .standards import standard

REFERENCE = load_reference()
YAAN = REFERENCE.partner_cities["511800"]  # 雅安市, Sichuan: chengyu and yangtze, not yrd


def delivery(area: str, sequence: int, category: str) -> Delivery[StandardPublished]:
    return delivered(standard(area, sequence, category), offset=sequence)


def test_a_city_subscribes_only_to_areas_it_belongs_to(tmp_path: Path) -> None:
    # Regression (issue 13): 雅安 could subscribe to the Yangtze River Delta.
    ledger = CityLedger(tmp_path / "yaan.sqlite")
    try:
        assert CitySubscriber(YAAN, ledger, reference=REFERENCE).areas == {"chengyu", "yangtze"}
        assert CitySubscriber(YAAN, ledger, areas=["chengyu"]).areas == {"chengyu"}
        with pytest.raises(SubscriptionRefused) as refused:
            CitySubscriber(YAAN, ledger, areas=["chengyu", "yrd"], reference=REFERENCE)
        assert str(refused.value) == (
            "雅安市 (511800) does not belong to yrd: it is in chengyu, yangtze (reference data), and a "
            "city subscribes only to areas it belongs to"
        )
    finally:
        ledger.close()


def test_a_city_record_without_areas_belongs_to_its_provinces_areas() -> None:
    unlisted = PartnerCity(code="320500", name_zh="苏州市", region="32", areas=())
    assert member_areas(unlisted, REFERENCE) == ("yangtze", "yrd")
    assert member_areas(YAAN, REFERENCE) == ("chengyu", "yangtze")
    gaozhu = REFERENCE.partner_cities["gaozhu"]  # its record says chengyu only: the record counts
    assert member_areas(gaozhu, REFERENCE) == ("chengyu",)


def test_subscribe_refuses_an_area_the_city_is_not_in_with_exit_code_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["subscribe", "--city", "511800", "--area", "yrd", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert "雅安市 (511800) does not belong to yrd: it is in chengyu, yangtze" in result.output
    assert not (tmp_path / "cities").exists()  # refused before anything was opened


def test_filters_compare_as_sets_of_what_they_accept() -> None:
    chengyu_transport = Filter(frozenset({"chengyu"}), frozenset({"transport"}))
    both_all = Filter(frozenset({"chengyu", "yangtze"}), None)
    assert both_all.covers(chengyu_transport)
    assert not chengyu_transport.covers(both_all)
    assert both_all.beyond(chengyu_transport) == "areas yangtze and categories all"
    assert (chengyu_transport & both_all) == chengyu_transport
    assert Filter(frozenset({"chengyu"}), frozenset({"transport", "ecology"})).beyond(chengyu_transport) == (
        "categories ecology"
    )


async def test_a_wider_filter_offers_the_skipped_and_a_replay_delivers_each_once(tmp_path: Path) -> None:
    printed: list[str] = []
    path = tmp_path / "yaan.sqlite"
    topic = [delivery("chengyu", 1, "transport"), delivery("chengyu", 2, "ecology"),
             delivery("yangtze", 3, "ecology"), delivery("chengyu", 4, "transport")]  # fmt: skip

    async def subscribe(categories: tuple[str, ...], *, replayed: bool, read: int) -> None:
        """One run of the subscriber: the filter recorded, then `read` events of the topic from
        where this run starts (0 after a replay)."""
        ledger = CityLedger(path)
        try:
            city = CitySubscriber(
                YAAN, ledger, areas=["chengyu"], categories=categories, announce=printed.append
            )
            city.start(replayed=replayed)
            for event in topic[:read]:
                await city.receive(event)
        finally:
            ledger.close()

    await subscribe(("transport",), replayed=False, read=4)
    assert [line.split("  ")[0] for line in printed] == [
        "[511800 雅安市] DB50/T 1—2026 = DB51/T 1—2026",
        "[511800 雅安市] DB50/T 4—2026 = DB51/T 4—2026",
    ]

    printed.clear()
    await subscribe((), replayed=False, read=0)  # widened to every category; the group is at the end
    assert printed == [
        "[511800 雅安市] this filter now also accepts categories all, which an earlier filter skipped: "
        "standards published before are not delivered unless you run again with --replay-skipped"
    ]
    printed.clear()
    await subscribe((), replayed=False, read=0)  # offered again until replayed
    assert len(printed) == 1
    assert "--replay-skipped" in printed[0]

    printed.clear()
    await subscribe((), replayed=True, read=4)  # the group rewound: the whole topic again
    assert printed[0].startswith("[511800 雅安市] replaying the topic from its beginning for areas chengyu")
    assert [line.split("  ")[0] for line in printed[1:]] == [
        "[511800 雅安市] DB50/T 2—2026 = DB51/T 2—2026"
    ]  # once; not 3 (yangtze)

    printed.clear()
    await subscribe((), replayed=False, read=4)  # a redelivery after the replay: nothing again, no offer
    assert printed == []
    ledger = CityLedger(path)
    try:
        assert [sid for sid, _, _ in ledger.standards()] == [
            "std-chengyu-1",
            "std-chengyu-4",
            "std-chengyu-2",
        ]
        assert ledger.covered() == Filter(frozenset({"chengyu"}), None)
    finally:
        ledger.close()

    printed.clear()
    await subscribe(("ecology",), replayed=False, read=0)  # narrowed: nothing skipped to offer
    await subscribe((), replayed=False, read=0)  # widened again: what ecology-only skipped is offered
    assert len(printed) == 1
    assert "accepts categories all" in printed[0]
