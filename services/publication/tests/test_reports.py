"""The area report and the Atom feeds over a seeded data set of hundreds of standards (2019–2026,
chengyu and yrd) played through the use cases with fakes for storage. Expected figures come from the
plan (`expectations.py`), never from the code under test; the feed is read back with feedparser and
checked against RFC 4287's required elements."""

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import httpx
import pytest

from regstd.contracts.reference import load_reference
from regstd.kernel.time import china_date
from regstd.publication.domain.feed import atom_xml, newest_first, page_of
from regstd.publication.domain.report import SECTIONS, area_report, report_csv
from regstd.publication.domain.standard import Standard
from regstd.publication.main import PublicationService
from regstd.publication.settings import PublicationSettings
from regstd.runtime.testing import bearer

from .conftest import TOKENS
from .dataset import AS_OF, Planned, SetClock, cst_date, plan, play
from .expectations import expected, feed_moments, status
from .memory import memory

ATOM = "{http://www.w3.org/2005/Atom}"
SEED, COUNT = 20260630, 320
TODAY = cst_date(AS_OF)


async def _played(seed: int, count: int) -> tuple[list[Planned], list[Standard]]:
    clock = SetClock()
    kept = memory(clock)
    planned = plan(seed, count)
    await play(planned, kept.publishing, kept.life, clock, kept.projects)
    return planned, kept.all()


@pytest.fixture(scope="module")
async def dataset() -> tuple[list[Planned], list[Standard]]:
    return await _played(SEED, COUNT)


def test_the_data_set_is_realistic(dataset: tuple[list[Planned], list[Standard]]) -> None:
    planned, standards = dataset
    assert len(standards) == len(planned) > COUNT  # the originals and their revisions
    years = {china_date(s.published_at).year for s in standards if s.published_at}
    assert years == set(range(2019, 2027))
    by_status = {
        st: sum(s.status == st for s in standards) for st in ("published", "superseded", "abolished")
    }
    assert by_status == {st: sum(status(p) == st for p in planned) for st in by_status}
    assert min(by_status.values()) >= 5, by_status
    assert sum(len(s.life.filings) for s in standards if s.life) == sum(len(p.filings) for p in planned)


@pytest.mark.parametrize(
    ("area", "target", "window", "years", "granularity"),
    [
        ("chengyu", 18, 180, range(2019, 2027), "quarter"),
        ("yrd", 12, 365, range(2022, 2027), "month"),
    ],
)
def test_the_report_says_what_the_plan_implies(
    dataset: tuple[list[Planned], list[Standard]],
    area: str,
    target: int,
    window: int,
    years: range,
    granularity: Any,
) -> None:
    planned, standards = dataset
    report = area_report(
        load_reference().area(area),
        standards,
        today=TODAY,
        target_months=target,
        review_window_days=window,
        from_year=years.start,
        to_year=years.stop - 1,
        granularity=granularity,
    )
    want = expected(planned, area, today=TODAY, target=target, window=window, years=years)

    counts = report.standards
    assert (
        counts.published,
        counts.in_force,
        counts.not_yet_in_force,
        counts.superseded,
        counts.abolished,
        counts.revision_pending,
    ) == (
        want.published,
        want.in_force,
        want.not_yet_in_force,
        want.superseded,
        want.abolished,
        want.revision_pending,
    )
    cycle = report.cycle_time
    assert want.not_yet_in_force > 0, "the data set has standards published, not yet in force"
    assert cycle.count == len(want.cycle_days) > 50
    assert cycle.mean_days == pytest.approx(want.mean_days, abs=0.05)
    assert cycle.mean_months == pytest.approx(want.mean_days / (365.2425 / 12), abs=0.005)
    assert cycle.median_days == want.median_days
    assert cycle.p90_days == want.p90_days
    assert (cycle.min_days, cycle.max_days) == (min(want.cycle_days), max(want.cycle_days))
    assert (cycle.within_target, cycle.over_target) == (want.within_target, cycle.count - want.within_target)
    assert 0 < cycle.within_target < cycle.count  # the data set has both
    assert sum(b.count for b in cycle.distribution) == cycle.count
    # the buckets and the target use the same yardstick: buckets up to the target hold the within
    assert sum(b.count for b in cycle.distribution if b.up_to_months and b.up_to_months <= target) == (
        want.within_target
    )

    years_rows = {r.period: r for r in report.periods if r.kind == "year"}
    assert list(years_rows) == [str(y) for y in years]
    assert {k: r.published for k, r in years_rows.items() if r.published} == want.per_year
    assert {k: r.revisions for k, r in years_rows.items() if r.revisions} == want.revisions_per_year
    subs = [r for r in report.periods if r.kind != "year"]
    assert len(subs) == len(years) * (4 if granularity == "quarter" else 12)
    if granularity == "quarter":
        assert {r.period: r.published for r in subs if r.published} == want.per_quarter
    for year, row in years_rows.items():
        assert row.published == sum(r.published for r in subs if r.period.startswith(year))

    assert [(r.standard_id, r.due_on) for r in report.upcoming_reviews] == want.reviews
    assert want.reviews, "the data set has reviews coming due"
    assert any(r.days_left < 0 for r in report.upcoming_reviews) or area == "yrd"
    assert [(f.standard_id, f.clock, f.party, f.due_on) for f in report.missing_filings] == want.filings
    assert len(want.filings) > 10
    assert all(f.days_overdue == (TODAY - f.due_on).days for f in report.missing_filings)


def test_each_csv_section_has_the_rows_of_the_json(dataset: tuple[list[Planned], list[Standard]]) -> None:
    _, standards = dataset
    report = area_report(
        load_reference().area("chengyu"), standards, today=TODAY, target_months=18, review_window_days=180
    )
    lists: dict[str, list[Any]] = {
        "periods": report.periods,
        "cycle_times": report.cycle_times,
        "reviews": report.upcoming_reviews,
        "filings": report.missing_filings,
    }
    for section in SECTIONS:
        rows = list(csv.DictReader(io.StringIO(report_csv(report, section))))
        assert len(rows) == len(lists[section]) > 0
        first = lists[section][0].model_dump(mode="json")
        assert rows[0].keys() == first.keys()
    periods = list(csv.DictReader(io.StringIO(report_csv(report, "periods"))))
    assert sum(int(r["published"]) for r in periods if r["kind"] == "year") == report.standards.published
    cycles = list(csv.DictReader(io.StringIO(report_csv(report, "cycle_times"))))
    assert cycles[0]["numbers"] == " = ".join(report.cycle_times[0].numbers)


def test_a_report_refuses_years_in_the_wrong_order(dataset: tuple[list[Planned], list[Standard]]) -> None:
    from regstd.kernel.errors import Invalid

    with pytest.raises(Invalid, match="comes after"):
        area_report(
            load_reference().area("chengyu"),
            dataset[1],
            today=TODAY,
            target_months=18,
            review_window_days=10,
            from_year=2026,
            to_year=2020,
        )


# ---------------------------------------------------------------------------------------------
# The feed


def rfc4287_problems(document: bytes) -> list[str]:
    """The required elements of RFC 4287 §4.1.1 and §4.1.2, checked on the XML itself."""
    root = ET.fromstring(document)
    problems = []
    if root.tag != f"{ATOM}feed":
        return [f"root is {root.tag}"]
    for tag in ("id", "title", "updated"):
        if len(root.findall(f"{ATOM}{tag}")) != 1:
            problems.append(f"feed needs exactly one {tag}")
    entries = root.findall(f"{ATOM}entry")
    feed_author = root.find(f"{ATOM}author/{ATOM}name") is not None
    if not [link for link in root.findall(f"{ATOM}link") if link.get("rel") == "self"]:
        problems.append("feed has no self link")
    for entry in entries:
        entry_id = entry.findtext(f"{ATOM}id")
        for tag in ("id", "title", "updated"):
            if len(entry.findall(f"{ATOM}{tag}")) != 1:
                problems.append(f"entry {entry_id} needs exactly one {tag}")
        if not feed_author and entry.find(f"{ATOM}author/{ATOM}name") is None:
            problems.append(f"entry {entry_id} has no author and neither has the feed")
        if entry.find(f"{ATOM}content") is None and entry.find(f"{ATOM}summary") is None:
            problems.append(f"entry {entry_id} has neither content nor summary")
        alternates = [(link.get("type"), link.get("hreflang")) for link in entry.findall(f"{ATOM}link")
                      if link.get("rel", "alternate") == "alternate"]  # fmt: skip
        if len(alternates) != len(set(alternates)):
            problems.append(f"entry {entry_id} repeats an alternate link of one type")
    for value in [root.findtext(f"{ATOM}updated")] + [e.findtext(f"{ATOM}updated") for e in entries]:
        try:
            datetime.fromisoformat(value or "")
        except ValueError:
            problems.append(f"{value!r} is not an RFC 3339 date")
    return problems


def _feed(standards: list[Standard], areas: set[str], page: int = 1, limit: int = 50) -> bytes:
    made = page_of(
        newest_first(s for s in standards if s.area in areas),
        feed_key="test",
        title="测试 <feed> & co",
        subtitle="s",
        page=page,
        limit=limit,
        now=AS_OF,
    )
    return atom_xml(
        made,
        self_url=f"http://pub/feeds/x.atom?page={page}",
        page_url=lambda n: f"http://pub/feeds/x.atom?page={n}",
        alternate_url="http://pub/standards",
        standard_url=lambda i: f"http://pub/standards/{i}",
    )


def _json_link(entry: Any) -> str:
    [href] = [
        link.href for link in entry.links if link.rel == "alternate" and link.type == "application/json"
    ]
    return str(href)


def test_the_area_feed_is_valid_atom_newest_first(dataset: tuple[list[Planned], list[Standard]]) -> None:
    planned, standards = dataset
    document = _feed(standards, {"chengyu"}, limit=60)
    parsed = feedparser.parse(document)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert rfc4287_problems(document) == []
    assert parsed.feed.title == "测试 <feed> & co"
    moments = feed_moments(planned, {"chengyu"})
    assert len(parsed.entries) == 60
    got = [datetime(*e.updated_parsed[:6], tzinfo=UTC) for e in parsed.entries]
    assert got == [m.replace(microsecond=0) for m in moments[:60]]
    assert datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC) == moments[0].replace(microsecond=0)
    by_id = {s.id: s for s in standards}
    for entry in parsed.entries:
        standard_id = _json_link(entry).rsplit("/", 1)[1]
        standard = by_id[standard_id]
        numbers = " = ".join(n.number for n in standard.numbers)
        assert entry.title.endswith(f": {numbers} {standard.title_zh}"), entry.title
        assert entry.link == standard.text.location  # what a feed reader opens: the text
        assert entry.published == entry.updated
    assert {link.rel for link in parsed.feed.links} >= {"self", "first", "next", "alternate"}


def test_every_happening_has_one_entry_across_the_pages(
    dataset: tuple[list[Planned], list[Standard]],
) -> None:
    planned, standards = dataset
    moments = feed_moments(planned, {"yrd"})
    ids: list[str] = []
    page = 1
    while True:
        parsed = feedparser.parse(_feed(standards, {"yrd"}, page=page, limit=200))
        assert not parsed.bozo
        ids += [e.id for e in parsed.entries]
        rels = {link.rel for link in parsed.feed.links}
        assert ("previous" in rels) == (page > 1)
        if "next" not in rels:
            break
        page += 1
    assert page > 1
    assert len(ids) == len(set(ids)) == len(moments)
    kinds = {t.term for t in (parsed.entries[-1].tags or [])}
    assert kinds & {"published", "filed", "text_disclosed", "review_concluded", "abolished", "superseded"}


def test_status_changes_and_escaping_survive_a_real_parser(
    dataset: tuple[list[Planned], list[Standard]],
) -> None:
    planned, standards = dataset
    parsed = feedparser.parse(_feed(standards, {"chengyu", "yrd"}, limit=200_000))
    assert not parsed.bozo
    by_kind: dict[str, list[Any]] = {}
    for entry in parsed.entries:
        kind = next(t.term for t in entry.tags if t.scheme == "urn:regstd:happening")
        by_kind.setdefault(kind, []).append(entry)
    assert len(by_kind["abolished"]) == sum(p.outcome == "abolish" for p in planned)
    assert len(by_kind["superseded"]) == sum(p.revised_by is not None for p in planned)
    assert len(by_kind["review_concluded"]) == sum(p.review_at is not None for p in planned)
    assert len(by_kind["published"]) == len(planned)
    for entry in by_kind["superseded"]:
        old = next(p for p in planned if _json_link(entry).endswith(f"/{p.standard_id}"))
        successor = {link.href for link in entry.links if link.rel == "successor-version"}
        assert successor == {f"http://pub/standards/std-{old.revised_by}"}
    odd = [e for e in by_kind["published"] if "“甲&乙” <试行>" in e.title]
    assert len(odd) == sum("<试行>" in p.title_zh for p in planned)
    disclosed = by_kind["text_disclosed"][0]
    assert any(link.href.endswith("?a=1&b=<2>") for link in disclosed.links if link.rel == "enclosure")


async def test_entry_ids_are_the_same_in_another_store_built_from_the_same_plan(
    dataset: tuple[list[Planned], list[Standard]],
) -> None:
    _, again = await _played(SEED, 40)
    first = {e.id: e.key for e in newest_first(dataset[1])}
    second = {e.id: e.key for e in newest_first(again)}
    shared = {i: k for i, k in second.items() if k.rsplit("/", 1)[0] in {s.id for s in dataset[1]}}
    assert shared
    assert all(first.get(i) == k for i, k in shared.items() if k.endswith("/published"))


# ---------------------------------------------------------------------------------------------
# HTTP, without infrastructure: the catalogue's query is replaced by the data set


@pytest.fixture
def client(
    dataset: tuple[list[Planned], list[Standard]], monkeypatch: pytest.MonkeyPatch
) -> httpx.AsyncClient:
    settings = PublicationSettings(mongo_url="mongodb://127.0.0.1:9/", mongo_database="unused")
    service = PublicationService(settings, TOKENS, clock=SetClock(AS_OF))

    async def ever_published(areas: list[str]) -> list[Standard]:
        return [s for s in dataset[1] if s.area in areas]

    async def refused(areas: list[str]) -> list[object]:
        return []

    monkeypatch.setattr(service.catalogue, "ever_published", ever_published)
    monkeypatch.setattr(service.refused, "refused", refused)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://publication")


async def test_the_report_needs_a_token_and_any_principal_reads_it(client: httpx.AsyncClient) -> None:
    assert (await client.get("/reports/chengyu")).status_code == 401
    assert (await client.get("/reports/chengyu", headers=bearer("guess"))).status_code == 401
    for token in ("city-chengdu", "ops", "reg-31"):
        answer = await client.get("/reports/chengyu", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        assert answer.json()["cycle_time_target_months"] == 18
        assert answer.json()["as_of"] == TODAY.isoformat()


async def test_the_report_as_csv_by_accept_or_format(client: httpx.AsyncClient) -> None:
    by_accept = await client.get(
        "/reports/chengyu", params={"from": 2020, "to": 2021}, headers=bearer("ops") | {"Accept": "text/csv"}
    )
    assert by_accept.status_code == 200
    assert by_accept.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(by_accept.text)))
    assert [r["period"] for r in rows if r["kind"] == "year"] == ["2020", "2021"]
    by_param = await client.get(
        "/reports/chengyu", params={"format": "csv", "section": "filings"}, headers=bearer("ops")
    )
    assert by_param.text.splitlines()[0].startswith("standard_id,numbers,title_zh,clock,party,due_on")


async def test_report_refusals_are_clear(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/reports/atlantis", headers=bearer("ops"))
    assert unknown.status_code == 404
    assert "known: chengyu" in unknown.json()["message"]
    backwards = await client.get("/reports/chengyu", params={"from": 2026, "to": 2020}, headers=bearer("ops"))
    assert backwards.status_code == 422
    assert "comes after" in backwards.json()["message"]
    bad = await client.get("/reports/chengyu", params={"granularity": "week"}, headers=bearer("ops"))
    assert bad.status_code == 422


async def test_the_feeds_are_public_and_valid(client: httpx.AsyncClient) -> None:
    answer = await client.get("/feeds/chengyu.atom", params={"limit": 30})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo
    assert rfc4287_problems(answer.content) == []
    assert len(parsed.entries) == 30
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == "http://publication/feeds/chengyu.atom?limit=30"
    assert links["next"] == "http://publication/feeds/chengyu.atom?limit=30&page=2"
    assert _json_link(parsed.entries[0]).startswith("http://publication/standards/std-")

    again = await client.get("/feeds/chengyu.atom", params={"limit": 30})
    assert [e.id for e in feedparser.parse(again.content).entries] == [e.id for e in parsed.entries]
    cached = await client.get(
        "/feeds/chengyu.atom", params={"limit": 30}, headers={"If-None-Match": answer.headers["etag"]}
    )
    assert cached.status_code == 304


async def test_a_city_feed_covers_its_areas_and_the_categories_asked(
    client: httpx.AsyncClient, dataset: tuple[list[Planned], list[Standard]]
) -> None:
    planned, _ = dataset
    answer = await client.get("/feeds/cities/510100.atom", params={"category": "transport", "limit": 200})
    assert answer.status_code == 200
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo
    assert "成都市" in parsed.feed.title
    moments = feed_moments(planned, {"chengyu", "yangtze"}, {"transport"})
    assert len(parsed.entries) == min(200, len(moments))
    for entry in parsed.entries:
        terms = {(t.scheme, t.term) for t in entry.tags}
        assert ("urn:regstd:category", "transport") in terms
        assert ("urn:regstd:area", "chengyu") in terms
    other = await client.get("/feeds/cities/510100.atom", params={"category": "tourism", "limit": 5})
    assert feedparser.parse(other.content).feed.id != parsed.feed.id


async def test_unknown_feeds_are_404_and_bad_paging_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/feeds/atlantis.atom")).status_code == 404
    assert (await client.get("/feeds/cities/999999.atom")).status_code == 404
    assert (await client.get("/feeds/chengyu.atom", params={"page": 0})).status_code == 422
    assert (await client.get("/feeds/chengyu.atom", params={"limit": 1000})).status_code == 422


async def test_a_filing_due_today_is_missing_and_a_review_due_at_the_horizon_is_listed() -> None:
    clock = SetClock()
    kept = memory(clock)
    published_at = AS_OF - timedelta(days=60)
    planned = [
        Planned(
            project_id="edge",
            area="chengyu",
            parties=("50", "51"),
            category="transport",
            kind="recommended",
            title_zh="边界",
            project_approved_at=published_at - timedelta(days=300),
            published_at=published_at,
            filings={("50", "national"): published_at + timedelta(days=3)},
        )
    ]
    await play(planned, kept.publishing, kept.life, clock, kept.projects)
    [stored] = kept.all()
    review_due = stored.life.clock("review").due_on  # type: ignore[union-attr]
    assert review_due is not None
    window = (review_due - TODAY).days
    report = area_report(
        load_reference().area("chengyu"), [stored], today=TODAY, target_months=18, review_window_days=window
    )
    assert [(f.party, f.days_overdue) for f in report.missing_filings] == [("51", 0)]
    assert [r.days_left for r in report.upcoming_reviews] == [window]
    narrower = area_report(
        load_reference().area("chengyu"),
        [stored],
        today=TODAY,
        target_months=18,
        review_window_days=window - 1,
    )
    assert narrower.upcoming_reviews == []
    assert report.cycle_time.count == 1
    assert report.cycle_time.within_target == 1
