"""The operator's holiday arrangements file: its format, read into the calendar at start and again
when it changes; a bad file stops a start and is ignored (keeping the previous arrangements) later."""

import os
from datetime import date
from pathlib import Path

import pytest

from regstd.kernel.calendar import Deadline, WorkingDayCalendar
from regstd.runtime.arrangements import ArrangementsWatch, read_arrangements
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.settings import RuntimeSettings
from regstd.runtime.testing import invented_arrangement_2027

FIXTURE = Path(__file__).parent / "fixtures" / "holiday-arrangements.json"


def test_the_file_format_reads_into_the_kernel_s_arrangements() -> None:
    [arrangement] = read_arrangements(FIXTURE)
    invented = invented_arrangement_2027()
    assert (arrangement.year, arrangement.holidays, arrangement.workdays) == (
        invented.year, invented.holidays, invented.workdays,
    )  # fmt: skip
    assert arrangement.source.startswith("invented for tests")
    assert not arrangement.provisional
    assert read_arrangements(FIXTURE.parent / "absent.json") == [], "no file, nothing supplied"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "is not a holiday arrangements file"),
        ('{"2027": {"holidays": ["2027-02-30"]}}', "is not a holiday arrangements file"),
        ('{"2027": {"holidays": [], "days_off": []}}', "is not a holiday arrangements file"),
        ('{"2027": {"holidays": ["2028-01-01"]}}', "the 2027 arrangement lists days of another year"),
        ('{"2027": {"holidays": [], "workdays": ["2027-02-19"]}}', "that is a weekday"),
    ],
)
def test_a_file_that_cannot_be_true_is_refused_with_the_reason(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "arrangements.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        read_arrangements(path)
    with pytest.raises(ValueError, match=str(path)):
        ArrangementsWatch(path, WorkingDayCalendar()).load()


async def test_the_calendar_follows_the_file_when_it_changes_and_keeps_it_when_it_goes_bad(
    tmp_path: Path,
) -> None:
    path = tmp_path / "arrangements.json"
    calendar = WorkingDayCalendar()
    watch = ArrangementsWatch(path, calendar)
    watch.load()
    assert calendar.supplied_years == []
    assert calendar.add_working_days(date(2027, 2, 19), 2) == Deadline(date(2027, 2, 23), provisional=True)
    assert not await watch.refresh(), "still no file"

    path.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    assert await watch.refresh()
    assert calendar.supplied_years == [2027]
    assert calendar.add_working_days(date(2027, 2, 19), 2) == Deadline(date(2027, 2, 22), provisional=False)
    assert not await watch.refresh(), "unchanged: not read again"

    path.write_text('{"2027": {"holidays": ["2027-02-30"]}}', encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the file system's resolution
    assert not await watch.refresh()
    assert calendar.supplied_years == [2027], "a bad file leaves the arrangements as they were"

    path.unlink()
    assert await watch.refresh()
    assert calendar.supplied_years == [], "the file removed, the years are counted by rule again"


def test_the_setting_names_the_file_with_a_default_under_var(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = RuntimeSettings(service_name="s", mongo_database="d")
    assert settings.holiday_arrangements == Path("var/holiday-arrangements.json")
    monkeypatch.setenv("REGSTD_HOLIDAY_ARRANGEMENTS", str(FIXTURE))
    assert RuntimeSettings(service_name="s", mongo_database="d").holiday_arrangements == FIXTURE


async def test_the_runtime_hands_its_services_a_calendar_read_from_the_file(tmp_path: Path) -> None:
    settings = RuntimeSettings(service_name="s", mongo_database="d", holiday_arrangements=FIXTURE)
    runtime = Runtime(settings)
    assert runtime.calendar.supplied_years == [2027]
    assert runtime.arrangements.calendar is runtime.calendar
    await runtime.stop()

    bad = tmp_path / "arrangements.json"
    bad.write_text('{"2027": {"holidays": ["2027-02-30"]}}', encoding="utf-8")
    with pytest.raises(ValueError, match="is not a holiday arrangements file"):
        Runtime(RuntimeSettings(service_name="s", mongo_database="d", holiday_arrangements=bad))
