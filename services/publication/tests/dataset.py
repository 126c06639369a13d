"""A seeded, realistic data set for the report and feed tests: hundreds of joint standards published
2019–2026 in chengyu and yrd, each with its project approval, filings (some missing), disclosure,
and for the older ones a review (复审) that continues, abolishes, or revises them (the revision then
supersedes them). It is played through the service's own use cases (`PublishingCases`,
`LifeCases`) in time order with a clock the generator sets, so the stored state is what the service
itself would store.

The plan is kept beside the result: the tests compute what the report and the feed must say from
the plan, independently of the code under test.
"""

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from regstd.contracts.common import TextReference
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.kernel.principals import Principal
from regstd.publication.app.life import LifeCases
from regstd.publication.app.projects import ProjectRecords
from regstd.publication.app.publishing import PublishingCases
from regstd.runtime.testing import approved_project

from .conftest import hand_over

CST = timezone(timedelta(hours=8))
AS_OF = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)  # noon in China, 30 June 2026
FIRST = datetime(2019, 1, 2, 2, 0, tzinfo=UTC)
CATEGORIES = ("transport", "agriculture", "services", "environment", "tourism")
YRD = ("31", "32", "33", "34")


class SetClock:
    """The time the generator says it is."""

    def __init__(self, now: datetime = FIRST) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Planned:
    """What the generator decided for one standard."""

    project_id: str
    area: str
    parties: tuple[str, ...]
    category: str
    kind: str
    title_zh: str
    project_approved_at: datetime
    published_at: datetime
    filings: dict[tuple[str, str], datetime] = field(default_factory=dict)
    disclosed_at: datetime | None = None
    review_at: datetime | None = None
    outcome: str | None = None
    supersedes: str | None = None  # the planned predecessor's project id
    revised_by: str | None = None

    @property
    def standard_id(self) -> str:
        return f"std-{self.project_id}"

    @property
    def needs_eco_filing(self) -> bool:
        return self.kind == "mandatory" and self.category == "environment"


def cst_date(moment: datetime) -> date:
    return moment.astimezone(CST).date()


def plan(seed: int, count: int, as_of: datetime = AS_OF) -> list[Planned]:
    """`count` original standards and the revisions their reviews lead to, all before `as_of`."""
    rng = random.Random(seed)
    span = (as_of - timedelta(days=1) - FIRST).total_seconds()
    made: list[Planned] = []
    for i in range(count):
        area = "chengyu" if rng.random() < 0.6 else "yrd"
        parties = ("50", "51") if area == "chengyu" else tuple(sorted(rng.sample(YRD, rng.randint(2, 4))))
        category = rng.choice(CATEGORIES)
        published_at = FIRST + timedelta(seconds=int(rng.random() * span))
        cycle_days = max(120, min(1100, int(rng.gauss(500, 170))))
        odd = " “甲&乙” <试行>" if i % 17 == 0 else ""  # text that must be escaped in XML
        made.append(
            _details(
                rng,
                Planned(
                    project_id=f"p{seed}-{i:04d}",
                    area=area,
                    parties=parties,
                    category=category,
                    kind="mandatory" if category == "environment" and rng.random() < 0.4 else "recommended",
                    title_zh=f"{category}服务规范 第{i}部分{odd}",
                    project_approved_at=published_at - timedelta(days=cycle_days, hours=rng.randint(0, 20)),
                    published_at=published_at,
                ),
                as_of,
            )
        )
    revisions = []
    for old in made:
        if old.outcome != "revise" or old.review_at is None:
            continue
        published_at = old.review_at + timedelta(days=rng.randint(100, 500), hours=rng.randint(0, 8))
        if published_at >= as_of:
            continue
        revision = _details(
            rng,
            Planned(
                project_id=f"{old.project_id}-r",
                area=old.area,
                parties=old.parties,
                category=old.category,
                kind=old.kind,
                title_zh=f"{old.title_zh}（修订）",
                project_approved_at=old.review_at + timedelta(days=rng.randint(10, 60)),
                published_at=published_at,
                supersedes=old.project_id,
            ),
            as_of,
            review=False,
        )
        old.revised_by = revision.project_id
        revisions.append(revision)
    return made + revisions


def _details(rng: random.Random, p: Planned, as_of: datetime, *, review: bool = True) -> Planned:
    authorities = ["national", *(["ecology_environment"] if p.needs_eco_filing else [])]
    for party in p.parties:
        for authority in authorities:
            at = p.published_at + timedelta(days=rng.randint(2, 90), minutes=rng.randint(1, 600))
            if rng.random() < 0.85 and at < as_of:
                p.filings[(party, authority)] = at
    disclosed = p.published_at + timedelta(days=rng.randint(1, 35), minutes=rng.randint(1, 600))
    if rng.random() < 0.9 and disclosed < as_of:
        p.disclosed_at = disclosed
    if review:
        due = _add_years(cst_date(p.published_at) + timedelta(days=90), 5)
        at = datetime(due.year, due.month, due.day, 2, tzinfo=UTC) - timedelta(days=rng.randint(0, 60))
        if at < as_of and rng.random() < 0.75:
            p.review_at = at
            p.outcome = rng.choices(("continue", "abolish", "revise"), weights=(5, 2, 3))[0]
    return p


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def regulator(code: str) -> Principal:
    return Principal(kind="regulator", code=code, name=f"regulator {code}")


async def play(
    planned: list[Planned],
    publishing: PublishingCases,
    life: LifeCases,
    clock: SetClock,
    projects: ProjectRecords,
) -> None:
    """Play the plan through the use cases in time order, then set the clock to `AS_OF`. Each
    approval comes after its project's proposal and passed ballots, as on intake's topic."""

    async def approve(approval: ProjectFinallyApproved) -> None:
        await hand_over(publishing, projects, *approved_project(approval))

    actions: list[tuple[datetime, int, Callable[[], Awaitable[object]]]] = []

    def at(moment: datetime, action: Callable[[], Awaitable[object]]) -> None:
        actions.append((moment, len(actions), action))

    by_project = {p.project_id: p for p in planned}
    for p in planned:
        at(p.published_at, lambda p=p: approve(approval_of(p, by_project)))
        for (party, authority), moment in p.filings.items():
            at(
                moment,
                lambda p=p, party=party, authority=authority, moment=moment: life.record_filing(
                    p.standard_id,
                    party=party,
                    authority=authority,  # type: ignore[arg-type]
                    filing_number=f"备 {cst_date(moment).year}-{p.project_id}-{party}",
                    filed_on=cst_date(moment),
                    caller=regulator(party),
                ),
            )
        if p.disclosed_at is not None:
            at(
                p.disclosed_at,
                lambda p=p: life.record_disclosure(
                    p.standard_id,
                    location=f"https://std.example/{p.project_id}?a=1&b=<2>",
                    disclosed_on=cst_date(p.disclosed_at),  # type: ignore[arg-type]
                    caller=regulator(p.parties[0]),
                ),
            )
        if p.review_at is not None:
            for i, party in enumerate(p.parties):
                at(
                    p.review_at + timedelta(seconds=i),
                    lambda p=p, party=party: life.record_review_conclusion(
                        p.standard_id,
                        outcome=p.outcome,
                        reason=f"{party} 意见",
                        caller=regulator(party),  # type: ignore[arg-type]
                    ),
                )
    for moment, _, action in sorted(actions, key=lambda a: (a[0], a[1])):
        clock.now = moment
        await action()
    clock.now = AS_OF


def approval_of(p: Planned, by_project: dict[str, Planned]) -> ProjectFinallyApproved:
    """The final approval intake would send for a planned standard."""
    return ProjectFinallyApproved.model_validate(
        {
            "project_id": p.project_id,
            "area": p.area,
            "parties": list(p.parties),
            "title_zh": p.title_zh,
            "scope": "适用范围",
            "category": p.category,
            "kind": p.kind,
            "text": TextReference(location=f"https://texts.example/{p.project_id}.pdf", sha256="ab" * 32),
            "project_approved_at": p.project_approved_at,
            "approved_at": p.published_at - timedelta(hours=1),
            "supersedes": None if p.supersedes is None else by_project[p.supersedes].standard_id,
        }
    )
