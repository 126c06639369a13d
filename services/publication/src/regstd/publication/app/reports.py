"""The area report and the Atom feeds of publications, over what the catalogue reads. The figures
are computed by `domain/report.py`, the entries by `domain/feed.py`."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from regstd.contracts.reference import Area, PartnerCity, Reference
from regstd.kernel.errors import NotFound
from regstd.kernel.time import Now, china_date, utc_now
from regstd.publication.app.ports import PublishedStandards, RefusedApprovals
from regstd.publication.domain.feed import FeedPage, newest_first, page_of
from regstd.publication.domain.report import AreaReport, Granularity, area_report


@dataclass(frozen=True)
class ReportPolicy:
    """The configurable parts of reports and feeds (from `PublicationSettings`)."""

    target_months: Callable[[str], int]
    review_window_days: int = 180
    feed_page_size: int = 50
    public_base_url: str | None = None


class ReportCases:
    """An area's report; the feed pages of an area or a partner city."""

    def __init__(
        self,
        standards: PublishedStandards,
        reference: Reference,
        policy: ReportPolicy,
        clock: Now = utc_now,
        refusals: RefusedApprovals | None = None,
    ) -> None:
        """`refusals`: the refused approvals the feeds show beside the publications."""
        self.standards = standards
        self.refusals = refusals
        self.reference = reference
        self.policy = policy
        self.clock = clock

    def area(self, area: str) -> Area:
        """The area; NotFound when there is none."""
        found = self.reference.areas.get(area)
        if found is None:
            raise NotFound(f"no area {area!r}; known: {', '.join(sorted(self.reference.areas))}")
        return found

    def partner_city(self, city: str) -> PartnerCity:
        """The partner city; NotFound when there is none."""
        partner = self.reference.partner_cities.get(city)
        if partner is None:
            raise NotFound(f"no partner city {city!r}")
        return partner

    async def report(
        self,
        area: str,
        *,
        from_year: int | None,
        to_year: int | None,
        granularity: Granularity,
        review_window_days: int | None,
    ) -> AreaReport:
        """The report of one area as of today (China Standard Time)."""
        found = self.area(area)
        return area_report(
            found,
            await self.standards.ever_published([area]),
            today=china_date(self.clock()),
            target_months=self.policy.target_months(area),
            review_window_days=self.policy.review_window_days
            if review_window_days is None
            else review_window_days,
            from_year=from_year,
            to_year=to_year,
            granularity=granularity,
        )

    async def feed_page(
        self,
        areas: Sequence[str],
        categories: Sequence[str],
        *,
        page: int,
        limit: int | None,
        key: str,
        title: str,
        subtitle: str,
    ) -> FeedPage:
        """A page (1 = newest) of the feed of these areas, only these categories when some are given."""
        wanted = sorted(set(categories))
        standards = [
            s for s in await self.standards.ever_published(areas) if not wanted or s.category in wanted
        ]
        refused = [] if self.refusals is None else await self.refusals.refused(areas)
        refused = [r for r in refused if not wanted or r.category in wanted]
        return page_of(
            newest_first(standards, refused),
            feed_key=key + (f"?category={','.join(wanted)}" if wanted else ""),
            title=title + (f" ({', '.join(wanted)})" if wanted else ""),
            subtitle=subtitle,
            page=page,
            limit=limit or self.policy.feed_page_size,
            now=self.clock(),
        )
