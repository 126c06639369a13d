"""The holiday arrangements an operator supplies, read from a JSON file into the service's
`WorkingDayCalendar` at start and again whenever the file changes (decision 24).

The State Council announces each year's holiday arrangement (放假安排, with its 调休 working weekend
days) late in the year before; `chinesecalendar` learns it only with a release. Until then the
calendar counts that year by rule and its deadlines are provisional. The operator adds the year to
the file (`REGSTD_HOLIDAY_ARRANGEMENTS`, default `var/holiday-arrangements.json`)::

    {
      "2027": {
        "source": "国务院办公厅关于2027年部分节假日安排的通知",
        "holidays": ["2027-01-01", "2027-02-05", "..."],
        "workdays": ["2027-02-20"]
      }
    }

`holidays` lists every day off of the year (weekend days inside a holiday may be listed or not),
`workdays` the weekend days that are working days; every other weekday is a working day. A year in
the file replaces what `chinesecalendar` says of it. A missing file supplies nothing; a file that
cannot be read stops the service at start, and is ignored (the previous arrangements stay, an error
is logged) when it goes bad later.
"""

import logging
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, RootModel

from regstd.kernel.calendar import Arrangement, WorkingDayCalendar

log = logging.getLogger(__name__)


class YearArrangement(BaseModel):
    """One year in the file."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="", max_length=500, description="The notice it comes from.")
    holidays: list[date] = Field(description="Every day off of the year (放假).")
    workdays: list[date] = Field(
        default_factory=list, description="Weekend days that are working days (调休)."
    )


class ArrangementsFile(RootModel[dict[int, YearArrangement]]):
    """The whole file: years (as JSON keys) to their arrangement."""

    def arrangements(self, path: Path) -> list[Arrangement]:
        """The kernel's arrangements; ValueError naming the year when one cannot be true."""
        found = []
        for year, given in sorted(self.root.items()):
            try:
                found.append(
                    Arrangement(
                        year=year,
                        holidays=frozenset(given.holidays),
                        workdays=frozenset(given.workdays),
                        source=given.source or f"{path}",
                    )
                )
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from error
        return found


def read_arrangements(path: Path) -> list[Arrangement]:
    """The arrangements a file supplies; ValueError (with the file and the reason) when it is not a
    valid arrangements file. A missing file supplies none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        parsed = ArrangementsFile.model_validate_json(text)
    except ValueError as error:
        raise ValueError(f"{path} is not a holiday arrangements file: {error}") from error
    return parsed.arrangements(path)


class ArrangementsWatch:
    """Keeps a calendar's supplied arrangements equal to a file's: `load` at start, `refresh` on
    every round of the service's background work (it reads the file only when it changed)."""

    def __init__(self, path: Path | None, calendar: WorkingDayCalendar) -> None:
        self.path = path
        self.calendar = calendar
        self._seen: tuple[int, int] | None = None

    def _signature(self) -> tuple[int, int] | None:
        assert self.path is not None
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def load(self) -> None:
        """Read the file now; ValueError when it is invalid (the service must not start on it)."""
        if self.path is None:
            return
        signature = self._signature()
        self.calendar.announce(read_arrangements(self.path))
        self._seen = signature
        log.info(
            "holiday arrangements loaded",
            extra={"file": str(self.path), "years": self.calendar.supplied_years},
        )

    async def refresh(self) -> bool:
        """Read the file again if it changed since it was last read; whether the calendar changed.
        An invalid file is logged and leaves the calendar as it was (it is tried again when it
        changes again)."""
        if self.path is None:
            return False
        signature = self._signature()
        if signature == self._seen:
            return False
        self._seen = signature
        try:
            self.load()
        except ValueError:
            log.exception("holiday arrangements not reloaded: the file is invalid; keeping the previous ones")
            return False
        return True
