"""The area report, pure: what an area published per period, how long its standards took from project
approval (立项) to publication (发布) against the cycle-time target, which reviews (复审) come due and
which filings (备案) are missing. No I/O: the standards and today's date come in as values.

Definitions (the tests compute the same figures on their own from these words):

- A standard counts as published in the period of its publication date (China Standard Time), whatever
  became of it later (superseded, abolished). Numbered standards not yet published and numbers
  withdrawn before publication do not count.
- Cycle time: from the China Standard Time date the project-approval ballot passed to the publication
  date, in days. Only standards made by an intake project have one (a single-region submission has
  no project). It is *within target* when the standard was published on or before the date `target`
  calendar months after the project approval; months are calendar months (`add_months`), so the
  distribution's buckets `(a, b] months` and the target use the same yardstick.
- Mean months: mean days divided by the mean length of a month (365.2425 / 12 days).
- Median: the middle value (the mean of the two middle ones for an even count); p90: the nearest-rank
  90th percentile (the value at rank ⌈0.9·n⌉ in ascending order).
- Upcoming reviews: open review clocks of standards in force due on or before today plus the window
  (an overdue review is listed too, with negative days left: it still has to be done).
- Missing filings: open filing clocks (`filing:<party>`, `eco_filing:<party>`) of standards in force
  whose deadline is today or past. A clock is read by its due date, not by the state the scheduler
  last stored, so the report does not depend on when the scheduler ran.

The period statistics and the cycle times cover the years asked for; the reviews and filings are the
state of the whole area today.
"""

import csv
import io
import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.reference import Area
from regstd.kernel.calendar import add_months
from regstd.kernel.errors import Invalid
from regstd.kernel.time import china_date
from regstd.publication.domain.standard import Standard

Granularity = Literal["quarter", "month"]
Section = Literal["periods", "cycle_times", "reviews", "filings"]
SECTIONS: tuple[Section, ...] = ("periods", "cycle_times", "reviews", "filings")

DAYS_PER_MONTH = 365.2425 / 12
BUCKET_BOUNDS = (6, 12, 18, 24, 36)
"""Upper bounds in months of the cycle-time distribution's buckets; the last bucket is open."""
MAX_YEARS = 50
PUBLISHED_STATUSES = ("published", "superseded", "abolished")


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CycleTime(_View):
    """One standard's cycle time, from project approval to publication."""

    standard_id: str
    numbers: list[str]
    title_zh: str
    project_approved_on: date = Field(description="CST date the project-approval ballot (立项) passed.")
    publication_date: date
    days: int
    within_target: bool


class Bucket(_View):
    """How many cycle times fall in `(over_months, up_to_months]` calendar months."""

    label: str
    over_months: int
    up_to_months: int | None = Field(description="None for the last, open bucket.")
    count: int


class CycleStats(_View):
    """Cycle times of the standards published in the report's years."""

    count: int
    mean_days: float | None
    mean_months: float | None
    median_days: float | None
    p90_days: int | None
    min_days: int | None
    max_days: int | None
    within_target: int
    over_target: int
    share_within_target: float | None = Field(description="within_target / count, 0..1.")
    distribution: list[Bucket]


class PeriodRow(_View):
    """What the area published in one year, quarter or month."""

    period: str = Field(description="2024, 2024-Q1 or 2024-03.")
    kind: Literal["year", "quarter", "month"]
    starts_on: date
    ends_on: date
    published: int = Field(description="Standards published in the period (joint and single-region).")
    revisions: int = Field(description="Of which revisions of an earlier standard.")
    with_cycle_time: int = Field(description="Of which made by an intake project (have a cycle time).")
    mean_cycle_days: float | None
    within_target: int
    over_target: int


class ReviewDue(_View):
    """A review (复审) coming due, or overdue."""

    standard_id: str
    numbers: list[str]
    title_zh: str
    due_on: date
    days_left: int = Field(description="Days from today to the deadline; negative when overdue.")


class FilingMissing(_View):
    """A filing (备案) whose deadline is today or past and that no one recorded."""

    standard_id: str
    numbers: list[str]
    title_zh: str
    clock: Literal["filing", "eco_filing"]
    party: str
    due_on: date
    days_overdue: int = Field(description="0 when due today.")


class StandardCounts(_View):
    """The area's standards today, by status (all years)."""

    published: int = Field(
        description="Ever published (not yet in force, in force, superseded or abolished)."
    )
    in_force: int = Field(description="Published and its implementation date (实施日期) has come.")
    not_yet_in_force: int = Field(
        default=0, description="Published, its implementation date still to come (derived from today)."
    )
    superseded: int
    abolished: int
    revision_pending: int = Field(description="Published; the review concluded `revise`.")


class AreaReport(_View):
    """An area's publications, cycle times, coming reviews and missing filings."""

    area: str
    area_name_zh: str
    area_name_en: str
    as_of: date = Field(description="Today in China Standard Time.")
    from_year: int
    to_year: int
    granularity: Granularity
    cycle_time_target_months: int
    review_window_days: int
    standards: StandardCounts
    cycle_time: CycleStats
    periods: list[PeriodRow] = Field(description="Each year, then its quarters or months, in order.")
    cycle_times: list[CycleTime] = Field(description="Per standard published in the years, by date.")
    upcoming_reviews: list[ReviewDue]
    missing_filings: list[FilingMissing]


# ---------------------------------------------------------------------------------------------


def cycle_time(standard: Standard, target_months: int) -> CycleTime | None:
    """A published standard's cycle time; None when it has no project approval (a submission)."""
    if standard.project_approved_at is None or standard.publication_date is None:
        return None
    approved_on = china_date(standard.project_approved_at)
    published_on = standard.publication_date
    return CycleTime(
        standard_id=standard.id,
        numbers=[n.number for n in standard.numbers],
        title_zh=standard.title_zh,
        project_approved_on=approved_on,
        publication_date=published_on,
        days=(published_on - approved_on).days,
        within_target=published_on <= add_months(approved_on, target_months),
    )


def area_report(
    area: Area,
    standards: Iterable[Standard],
    *,
    today: date,
    target_months: int,
    review_window_days: int,
    from_year: int | None = None,
    to_year: int | None = None,
    granularity: Granularity = "quarter",
) -> AreaReport:
    """The report of one area from its standards (any status; other areas' are ignored)."""
    if target_months < 1:
        raise Invalid("the cycle-time target is at least one month")
    if review_window_days < 0:
        raise Invalid("the review window cannot be negative")
    ours = [s for s in standards if s.area == area.id and s.status in PUBLISHED_STATUSES]
    ours = [s for s in ours if s.publication_date is not None]
    years = [s.publication_date.year for s in ours if s.publication_date is not None]
    to_year = today.year if to_year is None else to_year
    if from_year is None:  # from the area's first publication
        from_year = min(min(years), to_year) if years else to_year
    if from_year > to_year:
        raise Invalid(f"the report's first year {from_year} comes after its last year {to_year}")
    if to_year - from_year >= MAX_YEARS:
        raise Invalid(f"a report covers at most {MAX_YEARS} years, not {from_year}–{to_year}")

    in_range = sorted(
        (s for s in ours if s.publication_date and from_year <= s.publication_date.year <= to_year),
        key=lambda s: (s.publication_date, s.id),
    )
    cycles = [c for c in (cycle_time(s, target_months) for s in in_range) if c is not None]
    return AreaReport(
        area=area.id,
        area_name_zh=area.name_zh,
        area_name_en=area.name_en,
        as_of=today,
        from_year=from_year,
        to_year=to_year,
        granularity=granularity,
        cycle_time_target_months=target_months,
        review_window_days=review_window_days,
        standards=_counts(ours, today),
        cycle_time=cycle_stats(cycles),
        periods=_periods(in_range, cycles, from_year, to_year, granularity),
        cycle_times=cycles,
        upcoming_reviews=upcoming_reviews(ours, today, review_window_days),
        missing_filings=missing_filings(ours, today),
    )


def cycle_stats(cycles: Sequence[CycleTime]) -> CycleStats:
    """Mean, median, p90, extremes, the share within target and the distribution by months."""
    days = sorted(c.days for c in cycles)
    within = sum(c.within_target for c in cycles)
    mean = statistics.fmean(days) if days else None
    return CycleStats(
        count=len(days),
        mean_days=None if mean is None else round(mean, 1),
        mean_months=None if mean is None else round(mean / DAYS_PER_MONTH, 2),
        median_days=statistics.median(days) if days else None,
        p90_days=days[math.ceil(0.9 * len(days)) - 1] if days else None,
        min_days=days[0] if days else None,
        max_days=days[-1] if days else None,
        within_target=within,
        over_target=len(days) - within,
        share_within_target=round(within / len(days), 4) if days else None,
        distribution=_distribution(cycles),
    )


def _distribution(cycles: Sequence[CycleTime]) -> list[Bucket]:
    lows = (0, *BUCKET_BOUNDS)
    highs: tuple[int | None, ...] = (*BUCKET_BOUNDS, None)
    counts = [0] * len(lows)
    for c in cycles:
        for i, high in enumerate(highs):
            if high is None or c.publication_date <= add_months(c.project_approved_on, high):
                counts[i] += 1
                break
    return [
        Bucket(
            label=f"≤ {high} months" if low == 0 else f"{low}–{high} months" if high else f"> {low} months",
            over_months=low,
            up_to_months=high,
            count=count,
        )
        for low, high, count in zip(lows, highs, counts, strict=True)
    ]


def _periods(
    standards: Sequence[Standard],
    cycles: Sequence[CycleTime],
    from_year: int,
    to_year: int,
    granularity: Granularity,
) -> list[PeriodRow]:
    rows: list[PeriodRow] = []
    for year in range(from_year, to_year + 1):
        rows.append(_row(str(year), "year", date(year, 1, 1), date(year, 12, 31), standards, cycles))
        step = 3 if granularity == "quarter" else 1
        for first_month in range(1, 13, step):
            start = date(year, first_month, 1)
            end = add_months(start, step) - timedelta(days=1)
            label = f"{year}-Q{(first_month - 1) // 3 + 1}" if step == 3 else f"{year}-{first_month:02d}"
            kind: Literal["quarter", "month"] = "quarter" if step == 3 else "month"
            rows.append(_row(label, kind, start, end, standards, cycles))
    return rows


def _row(
    label: str,
    kind: Literal["year", "quarter", "month"],
    start: date,
    end: date,
    standards: Sequence[Standard],
    cycles: Sequence[CycleTime],
) -> PeriodRow:
    published = [s for s in standards if s.publication_date and start <= s.publication_date <= end]
    timed = [c for c in cycles if start <= c.publication_date <= end]
    within = sum(c.within_target for c in timed)
    return PeriodRow(
        period=label,
        kind=kind,
        starts_on=start,
        ends_on=end,
        published=len(published),
        revisions=sum(s.supersedes is not None for s in published),
        with_cycle_time=len(timed),
        mean_cycle_days=round(statistics.fmean(c.days for c in timed), 1) if timed else None,
        within_target=within,
        over_target=len(timed) - within,
    )


def _counts(standards: Sequence[Standard], today: date) -> StandardCounts:
    current = [s for s in standards if s.status == "published"]
    in_force = sum(s.in_force_on(today) for s in current)
    return StandardCounts(
        published=len(standards),
        in_force=in_force,
        not_yet_in_force=len(current) - in_force,
        superseded=sum(s.status == "superseded" for s in standards),
        abolished=sum(s.status == "abolished" for s in standards),
        revision_pending=sum(bool(s.life and s.life.revision_pending) for s in current),
    )


def upcoming_reviews(standards: Iterable[Standard], today: date, window_days: int) -> list[ReviewDue]:
    """Open review clocks of standards in force due by today plus the window, soonest first."""
    horizon = today + timedelta(days=window_days)
    due: list[ReviewDue] = []
    for s in standards:
        clock = s.life.clock("review") if s.status == "published" and s.life else None
        if clock is None or not clock.is_open or clock.due_on is None or clock.due_on > horizon:
            continue
        due.append(
            ReviewDue(
                standard_id=s.id,
                numbers=[n.number for n in s.numbers],
                title_zh=s.title_zh,
                due_on=clock.due_on,
                days_left=(clock.due_on - today).days,
            )
        )
    return sorted(due, key=lambda r: (r.due_on, r.standard_id))


def missing_filings(standards: Iterable[Standard], today: date) -> list[FilingMissing]:
    """Open filing clocks of standards in force whose deadline is today or past, oldest first."""
    missing: list[FilingMissing] = []
    for s in standards:
        if s.status != "published" or s.life is None:
            continue
        for clock in s.life.clocks:
            name, _, party = clock.name.partition(":")
            if name not in ("filing", "eco_filing") or not clock.is_open or clock.due_on is None:
                continue
            if clock.due_on > today:
                continue
            missing.append(
                FilingMissing(
                    standard_id=s.id,
                    numbers=[n.number for n in s.numbers],
                    title_zh=s.title_zh,
                    clock="filing" if name == "filing" else "eco_filing",
                    party=party,
                    due_on=clock.due_on,
                    days_overdue=(today - clock.due_on).days,
                )
            )
    return sorted(missing, key=lambda f: (f.due_on, f.standard_id, f.clock, f.party))


# ---------------------------------------------------------------------------------------------
# CSV


def report_csv(report: AreaReport, section: Section) -> str:
    """One section of the report as CSV (header row first); numbers joined with ` = `."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    match section:
        case "periods":
            rows: list[BaseModel] = list(report.periods)
        case "cycle_times":
            rows = list(report.cycle_times)
        case "reviews":
            rows = list(report.upcoming_reviews)
        case "filings":
            rows = list(report.missing_filings)
    model: type[BaseModel] = _SECTION_MODELS[section]
    columns = list(model.model_fields)
    writer.writerow(columns)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow(_cell(values[c]) for c in columns)
    return out.getvalue()


_SECTION_MODELS: dict[Section, type[BaseModel]] = {
    "periods": PeriodRow,
    "cycle_times": CycleTime,
    "reviews": ReviewDue,
    "filings": FilingMissing,
}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " = ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
