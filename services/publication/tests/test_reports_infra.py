"""The report query and the feeds on the real FerretDB: a seeded data set played through a running
instance's use cases, then read over HTTP; figures expected from the plan."""

from typing import Any

import feedparser

from regstd.runtime.testing import bearer

from .conftest import Scenario
from .dataset import AS_OF, SetClock, cst_date, plan, play
from .expectations import expected, feed_moments
from .test_reports import rfc4287_problems


async def test_the_report_and_the_feeds_from_the_store(scenario: Scenario) -> None:
    clock = SetClock()
    service = await scenario.instance(clock=clock, clock_scan_interval_s=3600.0)
    planned = plan(seed=4242, count=50)  # the unit tests take the 320; this is about the store
    await play(planned, service.publishing, service.life, clock, service.projects)
    today = cst_date(AS_OF)

    async with scenario.client() as client:
        answer = await client.get("/reports/chengyu", params={"from": 2019}, headers=bearer("city-chengdu"))
        assert answer.status_code == 200, answer.text
        report: dict[str, Any] = answer.json()
        want = expected(planned, "chengyu", today=today, target=18, window=180, years=range(2019, 2027))
        assert report["standards"]["published"] == want.published > 20
        assert (report["standards"]["superseded"], report["standards"]["abolished"]) == (
            want.superseded,
            want.abolished,
        )
        assert report["cycle_time"]["count"] == len(want.cycle_days)
        assert report["cycle_time"]["within_target"] == want.within_target
        assert report["cycle_time"]["median_days"] == want.median_days
        years = {r["period"]: r["published"] for r in report["periods"] if r["kind"] == "year"}
        assert {k: v for k, v in years.items() if v} == want.per_year
        assert [(r["standard_id"], r["due_on"]) for r in report["upcoming_reviews"]] == [
            (i, d.isoformat()) for i, d in want.reviews
        ]
        assert [
            (f["standard_id"], f["clock"], f["party"], f["due_on"]) for f in report["missing_filings"]
        ] == [(i, c, p, d.isoformat()) for i, c, p, d in want.filings]

        refused = await client.get("/reports/chengyu")
        assert refused.status_code == 401

        ids: list[str] = []
        page = 1
        while page:
            feed = await client.get("/feeds/yrd.atom", params={"limit": 100, "page": page})  # no token
            assert feed.status_code == 200, feed.text
            parsed = feedparser.parse(feed.content)
            assert not parsed.bozo, parsed.get("bozo_exception")
            assert rfc4287_problems(feed.content) == []
            ids += [e.id for e in parsed.entries]
            page = page + 1 if any(link.rel == "next" for link in parsed.feed.links) else 0
        assert len(ids) == len(set(ids)) == len(feed_moments(planned, {"yrd"}))

        city = await client.get("/feeds/cities/500101.atom", params={"limit": 200})
        parsed = feedparser.parse(city.content)
        assert not parsed.bozo
        assert len(parsed.entries) == min(200, len(feed_moments(planned, {"chengyu", "yangtze"})))
