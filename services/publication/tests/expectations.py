"""What the area report and the feed must say about a planned data set, computed from the plan alone
(not from the code under test), in the words of the report's definitions."""

import calendar
import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .dataset import Planned, cst_date

FILING_DAYS = 60
REVIEW_YEARS = 5
IMPLEMENTATION_DAYS = 90


def months_later(day: date, months: int) -> date:
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def in_force_from(p: Planned) -> date:
    """The implementation date (实施日期): in force from then, not from publication."""
    return cst_date(p.published_at) + timedelta(days=IMPLEMENTATION_DAYS)


def status(p: Planned) -> str:
    if p.outcome == "abolish":
        return "abolished"
    if p.revised_by is not None:
        return "superseded"
    return "published"


@dataclass(frozen=True)
class Expected:
    published: int
    in_force: int
    not_yet_in_force: int
    superseded: int
    abolished: int
    revision_pending: int
    cycle_days: list[int]
    within_target: int
    per_year: dict[str, int]
    per_quarter: dict[str, int]
    revisions_per_year: dict[str, int]
    reviews: list[tuple[str, date]]
    filings: list[tuple[str, str, str, date]]

    @property
    def mean_days(self) -> float:
        return sum(self.cycle_days) / len(self.cycle_days)

    @property
    def median_days(self) -> float:
        ordered = sorted(self.cycle_days)
        n = len(ordered)
        return float(ordered[n // 2]) if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2

    @property
    def p90_days(self) -> int:
        ordered = sorted(self.cycle_days)
        return ordered[math.ceil(len(ordered) * 9 / 10) - 1]


def expected(
    planned: list[Planned],
    area: str,
    *,
    today: date,
    target: int,
    window: int,
    years: range,
) -> Expected:
    mine = [p for p in planned if p.area == area]
    shown = [p for p in mine if cst_date(p.published_at).year in years]
    cycles = [(cst_date(p.published_at), cst_date(p.project_approved_at), p.published_at) for p in shown]
    per_quarter = Counter(
        f"{d.year}-Q{(d.month - 1) // 3 + 1}" for d in (cst_date(p.published_at) for p in shown)
    )
    reviews = []
    filings = []
    for p in mine:
        if status(p) != "published":
            continue
        published_on = cst_date(p.published_at)
        if p.outcome == "continue":
            assert p.review_at is not None
            review_due: date | None = months_later(cst_date(p.review_at), 12 * REVIEW_YEARS)
        elif p.outcome == "revise":
            review_due = None  # met; the revision is awaited
        else:
            review_due = months_later(published_on + timedelta(days=IMPLEMENTATION_DAYS), 12 * REVIEW_YEARS)
        if review_due is not None and review_due <= today + timedelta(days=window):
            reviews.append((p.standard_id, review_due))
        authorities = ["national", *(["ecology_environment"] if p.needs_eco_filing else [])]
        for party in p.parties:
            for authority in authorities:
                due = published_on + timedelta(days=FILING_DAYS)
                if (party, authority) not in p.filings and due <= today:
                    clock = "filing" if authority == "national" else "eco_filing"
                    filings.append((p.standard_id, clock, party, due))
    return Expected(
        published=len(mine),
        in_force=sum(status(p) == "published" and in_force_from(p) <= today for p in mine),
        not_yet_in_force=sum(status(p) == "published" and in_force_from(p) > today for p in mine),
        superseded=sum(status(p) == "superseded" for p in mine),
        abolished=sum(status(p) == "abolished" for p in mine),
        revision_pending=sum(status(p) == "published" and p.outcome == "revise" for p in mine),
        cycle_days=[(pub - appr).days for pub, appr, _ in cycles],
        within_target=sum(pub <= months_later(appr, target) for pub, appr, _ in cycles),
        per_year=dict(Counter(str(cst_date(p.published_at).year) for p in shown)),
        per_quarter=dict(per_quarter),
        revisions_per_year=dict(
            Counter(str(cst_date(p.published_at).year) for p in shown if p.supersedes is not None)
        ),
        reviews=sorted(reviews, key=lambda r: (r[1], r[0])),
        filings=sorted(filings, key=lambda f: (f[3], f[0], f[1], f[2])),
    )


def feed_moments(
    planned: list[Planned], areas: set[str], categories: set[str] | None = None
) -> list[datetime]:
    """Every feed entry's moment for these areas (and categories), newest first."""
    moments: list[datetime] = []
    for p in planned:
        if p.area not in areas or (categories and p.category not in categories):
            continue
        moments.append(p.published_at)
        moments += p.filings.values()
        if p.disclosed_at is not None:
            moments.append(p.disclosed_at)
        if p.review_at is not None:
            # the last party's conclusion decides the joint outcome
            last = p.review_at + timedelta(seconds=len(p.parties) - 1)
            moments.append(last)
            if p.outcome == "abolish":
                moments.append(last)
        if p.revised_by is not None:
            successor = next(q for q in planned if q.project_id == p.revised_by)
            moments.append(successor.published_at)
    return sorted(moments, reverse=True)
