"""Settings of the publication service, from `REGSTD_*` environment variables."""

from pydantic import Field

from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import DayRule, Period
from regstd.publication.domain.life import LifePolicy
from regstd.runtime.settings import RuntimeSettings, reference_rule


class PublicationSettings(RuntimeSettings):
    """The publication service's settings: its own name, its own database and its rules."""

    service_name: str = "publication"
    mongo_database: str = "regstd_publication"
    http_port: int = Field(default=8102, ge=0, le=65535)
    consumer_group: str = Field(
        default="publication", min_length=1, description="Kafka consumer group of the approvals consumer."
    )
    implementation_offset_days: int = Field(
        default=90, ge=0, description="Days from the publication date to the implementation date."
    )
    publication_delay_days: int = Field(
        default=0,
        ge=0,
        description="Days between numbering and publication; 0 publishes at once. While waiting, a "
        "standard is `numbered` and a party's regulator may withdraw it (its number is not issued).",
    )
    submission_max_implementation_days: int = Field(
        default=730,
        ge=0,
        description="A submitted standard's implementation date may lie at most this many days after "
        "its publication date (two years: a longer transition is not a local standard's practice).",
    )
    publish_loop_interval_s: float = Field(
        default=30.0, gt=0, description="How often numbered standards are checked for publication."
    )

    # -- the clocks of a published standard (defaults from the reference data's rules) ------------

    filing_deadline_days: int = Field(
        default_factory=lambda: int(reference_rule("filing_deadline_days_after_publication")),
        ge=0,
        description="Filing (备案) deadline after the publication date (reference: 60, assumed).",
    )
    filing_day_rule: DayRule = Field(default="calendar_days", description="How the filing period counts.")
    text_disclosure_deadline_days: int = Field(
        default_factory=lambda: int(reference_rule("text_disclosure_deadline_working_days")),
        ge=0,
        description="Text disclosure deadline after the publication date "
        "(reference: 20 working days, assumed).",
    )
    text_disclosure_day_rule: DayRule = Field(
        default="working_days", description="How the disclosure period counts (Chinese working days)."
    )
    review_period_years: int = Field(
        default_factory=lambda: int(reference_rule("review_period_years")),
        ge=1,
        description="Review (复审) due this many years after the implementation date (reference: 5).",
    )
    clock_warning_days: dict[str, int] = Field(
        default_factory=lambda: {"filing": 10, "eco_filing": 10, "text_disclosure": 5, "review": 90},
        description="Per clock (filing, eco_filing, text_disclosure, review): days before the deadline "
        "a `due_soon` event is sent.",
    )
    environmental_categories: list[str] = Field(
        default_factory=lambda: ["environment"],
        description="Categories of environmental standards: mandatory ones are filed with the ecology "
        "and environment authority as well.",
    )
    clock_scan_interval_s: float = Field(
        default=60.0, gt=0, description="How often the clocks of published standards are checked."
    )

    # -- reports and feeds ------------------------------------------------------------------------

    cycle_time_target_months: int = Field(
        default_factory=lambda: int(reference_rule("cycle_time_target_months")),
        ge=1,
        description="Cycle-time target, project approval (立项) to publication, in calendar months "
        "(reference: cycle_time_target_months, 18).",
    )
    cycle_time_target_months_by_area: dict[str, int] = Field(
        default_factory=dict,
        description='Per-area targets that replace the default, e.g. {"yrd": 12} (JSON).',
    )
    report_review_window_days: int = Field(
        default=180, ge=0, le=3660, description="The area report lists reviews due within this many days."
    )
    feed_page_size: int = Field(default=50, ge=1, le=200, description="Entries per Atom feed page.")
    public_base_url: str | None = Field(
        default=None,
        description="The URL partners reach this service at, for links in feeds (default: the request's).",
    )

    def cycle_time_target(self, area: str) -> int:
        """The cycle-time target of an area in months."""
        return self.cycle_time_target_months_by_area.get(area, self.cycle_time_target_months)

    def life_policy(self, calendar: WorkingDayCalendar) -> LifePolicy:
        """The clock periods and warnings as the domain takes them, counted on the runtime's calendar."""
        return LifePolicy(
            filing=Period(amount=self.filing_deadline_days, unit=self.filing_day_rule),
            text_disclosure=Period(
                amount=self.text_disclosure_deadline_days, unit=self.text_disclosure_day_rule
            ),
            review=Period(amount=self.review_period_years, unit="years"),
            warning_days=dict(self.clock_warning_days),
            environmental_categories=frozenset(self.environmental_categories),
            calendar=calendar,
        )
