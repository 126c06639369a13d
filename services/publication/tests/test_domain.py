"""The pure domain: numbers as written and read, dates in China Standard Time, the Standard's rules."""

from datetime import UTC, date, datetime

import pytest

from regstd.contracts.common import Actor
from regstd.contracts.intake import BallotDecided, ProjectProposed
from regstd.contracts.publication import PartyNumber, StandardPublished
from regstd.contracts.reference import load_reference
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.time import china_date
from regstd.publication.domain.approval import record_ballot, record_proposal
from regstd.publication.domain.numbering import (
    Number,
    format_number,
    joint_numbers,
    next_sequence,
    number_key,
    parse_number,
)
from regstd.publication.domain.standard import (
    Standard,
    plan_joint_standard,
    publication_dates,
    standard_id_for,
)
from regstd.runtime.testing import approved_project

from .conftest import approval

REFERENCE = load_reference()
CHONGQING = Actor(kind="regulator", code="50", name="重庆")


# -- formatting ------------------------------------------------------------------------------------


def test_recommended_and_mandatory_numbers() -> None:
    assert format_number("50", "recommended", 10001, 2026) == "DB50/T 10001—2026"
    assert format_number("50", "mandatory", 10001, 2026) == "DB50 10001—2026"


def test_a_two_party_joint_standard_has_one_sequence_under_both_codes() -> None:
    assert [n.number for n in joint_numbers(["50", "51"], "recommended", 10011, 2024)] == [
        "DB50/T 10011—2024",
        "DB51/T 10011—2024",
    ]


def test_a_four_party_joint_standard_has_one_sequence_under_every_code() -> None:
    numbers = joint_numbers(["31", "32", "33", "34"], "mandatory", 310003, 2021)
    assert numbers == (
        PartyNumber(party="31", number="DB31 310003—2021"),
        PartyNumber(party="32", number="DB32 310003—2021"),
        PartyNumber(party="33", number="DB33 310003—2021"),
        PartyNumber(party="34", number="DB34 310003—2021"),
    )


@pytest.mark.parametrize(
    ("region", "sequence", "year"), [("5", 1, 2026), ("50", 0, 2026), ("50", 1, 26), ("5a", 1, 2026)]
)
def test_a_malformed_number_is_not_formatted(region: str, sequence: int, year: int) -> None:
    with pytest.raises(Invalid):
        format_number(region, "recommended", sequence, year)


# -- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "DB50/T 10001—2026",  # em dash, the canonical form
        "DB50/T 10001-2026",  # hyphen-minus
        "DB50/T 10001－2026",  # full-width hyphen-minus
        "DB50/T 10001–2026",  # en dash
        "DB50/T 10001‐2026",  # hyphen
        "DB50/T 10001−2026",  # minus sign
        "db50/t 10001-2026",  # lower case
        "  DB50 / T   10001 — 2026 ",  # extra spaces
        "DB50/T10001-2026",  # missing space
        "ＤＢ５０／Ｔ　１０００１—２０２６",  # full-width letters, digits, slash and space
        "DB50/T 010001-2026",  # a leading zero
    ],
)
def test_every_way_of_writing_a_recommended_number_reads_as_one_key(written: str) -> None:
    assert parse_number(written) == Number("50", "recommended", 10001, 2026)
    assert number_key(written) == "DB50/T 10001—2026"


@pytest.mark.parametrize(
    "written",
    ["DB50 10001—2026", "DB50 10001-2026", "DB50/10001—2026", "db50/10001-2026", "DB50 / 10001 － 2026"],
)
def test_the_mandatory_forms_including_the_informal_slash_read_as_one_key(written: str) -> None:
    assert number_key(written) == "DB50 10001—2026"


def test_recommended_and_mandatory_are_different_numbers() -> None:
    assert number_key("DB50/T 10001-2026") != number_key("DB50/10001-2026")


@pytest.mark.parametrize(
    "written",
    [
        "",
        "DB50/T 10001",
        "DB50/T —2026",
        "GB/T 10001—2026",
        "DB5/T 1—2026",
        "DB5001/T 12—2024",
        "DB50/X 1—2026",
    ],
)
def test_what_is_not_a_provincial_number_is_refused_with_an_example(written: str) -> None:
    with pytest.raises(Invalid, match="DB50/T 10001—2026"):
        parse_number(written)


def test_sequence_zero_is_refused() -> None:
    with pytest.raises(Invalid, match="start at 1"):
        parse_number("DB50/T 0-2026")


# -- dates -----------------------------------------------------------------------------------------


def test_an_approval_at_17_utc_on_new_years_eve_is_published_on_new_years_day_in_china() -> None:
    dates = publication_dates(datetime(2026, 12, 31, 17, 0, tzinfo=UTC), 90)
    assert dates.publication_date == date(2027, 1, 1)
    assert dates.year == 2027
    assert dates.implementation_date == date(2027, 4, 1)


def test_the_day_in_china_changes_at_16_utc() -> None:
    assert china_date(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert china_date(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == date(2027, 1, 1)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        china_date(datetime(2026, 1, 1))


# -- planning --------------------------------------------------------------------------------------


def test_a_plan_puts_the_parties_in_the_areas_order_and_names_the_block() -> None:
    plan = plan_joint_standard(approval("p1", area="yrd", parties=("33", "31", "32")), REFERENCE)
    assert plan.parties == ("31", "32", "33")
    assert plan.block_first == 310001
    assert plan.standard_id == "std-p1"


@pytest.mark.parametrize(
    ("area", "parties", "problem"),
    [
        ("nowhere", ("50", "51"), "unknown cooperation area"),
        ("yangtze", ("50", "51"), "no joint number block"),
        ("chengyu", ("50", "31"), "not parties of area chengyu"),
        ("chengyu", ("50", "50"), "parties repeat"),
        ("chengyu", ("50",), "at least 2 parties"),
    ],
)
def test_an_approval_that_can_never_be_numbered_is_refused_before_a_number_is_spent(
    area: str, parties: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(Invalid, match=problem):
        plan_joint_standard(approval("p1", area=area, parties=parties), REFERENCE)


def test_a_long_project_id_still_gives_a_standard_id_within_the_contracts_limit() -> None:
    long_id = "p" * 64
    assert len(standard_id_for(long_id)) <= 64
    assert standard_id_for(long_id) == standard_id_for(long_id)
    assert standard_id_for(long_id) != standard_id_for("q" * 64)


def test_the_next_sequence_follows_the_highest_or_starts_the_block() -> None:
    assert next_sequence(None, 10001) == 10001
    assert next_sequence(10007, 10001) == 10008
    with pytest.raises(Invalid):
        next_sequence(5, 10001)


# -- the Standard ----------------------------------------------------------------------------------


def numbered(delay_days: int = 0, at: datetime = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) -> Standard:
    plan = plan_joint_standard(approval("p1"), REFERENCE)
    return Standard.numbered(plan, 10007, at=at, publication_delay_days=delay_days)


def test_publication_fixes_the_dates_and_the_year_of_every_number() -> None:
    standard = numbered(delay_days=0).publish(datetime(2026, 12, 31, 17, 0, tzinfo=UTC), 90)
    assert standard.status == "published"
    assert [n.number for n in standard.numbers] == ["DB50/T 10007—2027", "DB51/T 10007—2027"]
    assert (standard.publication_date, standard.implementation_date) == (date(2027, 1, 1), date(2027, 4, 1))
    event = standard.published_event()
    assert isinstance(event, StandardPublished)
    assert event.year == 2027
    assert event.sequence == 10007
    assert event.published_at == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)


def test_a_delayed_standard_waits_until_the_start_of_its_day_in_china() -> None:
    standard = numbered(delay_days=3, at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    assert standard.status == "numbered"
    assert standard.publish_due_on == date(2026, 11, 25)
    assert not standard.is_due(datetime(2026, 11, 24, 15, 59, tzinfo=UTC))
    assert standard.is_due(datetime(2026, 11, 24, 16, 0, tzinfo=UTC))


def test_a_numbered_standard_is_withdrawn_by_a_partys_regulator_only() -> None:
    standard = numbered(delay_days=3)
    at = datetime(2026, 12, 31, 18, 0, tzinfo=UTC)
    with pytest.raises(Forbidden):
        standard.withdraw("duplicate", Actor(kind="regulator", code="31"), at)
    with pytest.raises(Forbidden):
        standard.withdraw("duplicate", Actor(kind="city", code="510100"), at)
    with pytest.raises(Invalid, match="reason"):
        standard.withdraw("   ", CHONGQING, at)
    withdrawn = standard.withdraw("the drafting group found a duplicate", CHONGQING, at)
    assert withdrawn.status == "withdrawn"
    event = withdrawn.not_issued_event()
    assert (event.sequence, event.reason, event.withdrawn_by.code) == (
        10007,
        "the drafting group found a duplicate",
        "50",
    )
    with pytest.raises(Conflict, match="already withdrawn"):
        withdrawn.withdraw("again", CHONGQING, at)
    with pytest.raises(Conflict, match="withdrawn before publication"):
        withdrawn.publish(at, 90)


def test_a_published_standard_cannot_be_withdrawn_or_published_again() -> None:
    published = numbered().publish(datetime(2026, 12, 31, 17, 0, tzinfo=UTC), 90)
    with pytest.raises(Conflict, match="only a numbered, unpublished standard"):
        published.withdraw("late", CHONGQING, datetime(2027, 1, 2, tzinfo=UTC))
    with pytest.raises(Conflict, match="already published"):
        published.publish(datetime(2027, 1, 2, tzinfo=UTC), 90)


@pytest.mark.parametrize("stage", ["numbered", "published", "withdrawn"])
def test_a_standard_survives_its_stored_form(stage: str) -> None:
    standard = numbered(delay_days=2)
    if stage == "published":
        standard = standard.publish(datetime(2027, 1, 3, tzinfo=UTC), 90)
    if stage == "withdrawn":
        standard = standard.withdraw("reason", CHONGQING, datetime(2027, 1, 1, tzinfo=UTC))
    assert Standard.from_dict(standard.id, standard.to_dict()) == standard


def test_only_the_final_approval_ballot_of_a_proposed_project_is_recorded() -> None:
    a = approval("p1")
    proposed, project_ballot, final_ballot, _ = approved_project(a)
    assert isinstance(proposed, ProjectProposed)
    assert isinstance(project_ballot, BallotDecided)
    assert isinstance(final_ballot, BallotDecided)
    record = record_proposal(None, proposed)
    assert record_ballot(record, project_ballot) is None, "no approval is checked against 立项"
    assert record_ballot(None, final_ballot) is None, "a project never seen proposed"
    kept = record_ballot(record, final_ballot)
    assert kept is not None
    assert kept.ballots == (("final_approval", "passed"),)
    assert kept.passed("final_approval")
