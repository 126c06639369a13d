"""Settings of the project-intake service, from `REGSTD_*` environment variables."""

from typing import Self

from pydantic import Field, field_validator, model_validator

from regstd.contracts.reference import load_reference
from regstd.intake.domain.clocks import ClockRules
from regstd.kernel.calendar import WorkingDayCalendar
from regstd.kernel.clocks import DayRule, Period
from regstd.runtime.settings import RuntimeSettings, reference_rule


class IntakeSettings(RuntimeSettings):
    """The project-intake service's settings: its own name, its own database and its rules."""

    service_name: str = "project-intake"
    mongo_database: str = "regstd_intake"
    http_port: int = Field(default=8101, ge=0, le=65535)
    consumer_group: str = Field(
        default="project-intake",
        min_length=1,
        description="Kafka consumer group of the published-standards consumer.",
    )

    # -- the clocks of a project ------------------------------------------------------------------

    ballot_deadline_days: int = Field(
        default=30, ge=1, description="Days a ballot stays open before it is flagged overdue."
    )
    ballot_day_rule: DayRule = Field(
        default="calendar_days", description="How a ballot's days count: calendar or Chinese working days."
    )
    public_comment_min_days: int = Field(
        default_factory=lambda: int(reference_rule("public_comment_min_days")),
        ge=0,
        description="Shortest public comment period in days (reference data: public_comment_min_days, "
        "assumed); 0 lets a demonstration close comment the day it opens.",
    )
    public_comment_max_days: int = Field(
        default=90,
        ge=0,
        description="Longest public comment period in days, counted like the shortest (assumed: the "
        "reference data has no maximum; decision 25). A closing date beyond it is refused, so that no "
        "party can hold a joint project in comment indefinitely.",
    )
    public_comment_day_rule: DayRule = Field(
        default="calendar_days",
        description="How the comment period's days count: calendar or Chinese working days (with the "
        "holidays and 调休 working weekends).",
    )
    cycle_time_target_months: int = Field(
        default_factory=lambda: int(reference_rule("cycle_time_target_months")),
        ge=1,
        description="Cycle-time target (制定周期) from project approval (reference data: 18 months).",
    )
    cycle_time_target_months_by_area: dict[str, int] = Field(
        default_factory=dict,
        description='Per area, a target other than the default, e.g. {"yrd": 12}.',
    )
    clock_warning_days: dict[str, int] = Field(
        default_factory=lambda: {"ballot": 5, "public_comment": 5, "cycle_time": 60},
        description="Per clock (ballot, public_comment, cycle_time): days before the deadline a "
        "`due_soon` event is sent.",
    )
    clock_scan_interval_s: float = Field(
        default=60.0, gt=0, description="How often the clocks of projects are checked."
    )
    overlap_threshold: float = Field(
        default=0.25, ge=0, le=1, description="Lowest similarity that counts as an overlap."
    )
    overlap_limit: int = Field(default=5, ge=0, le=50, description="How many overlaps a proposal keeps.")
    overlap_title_weight: float = Field(
        default=0.7, ge=0, le=1, description="Weight of the title against the scope in the similarity."
    )
    overlap_candidates: int = Field(
        default=50,
        ge=1,
        le=5000,
        description="How many candidates named by the overlap index, best estimated first, a proposal "
        "is scored against (decision 35); with no more sharing a term, the result is a full scan's.",
    )

    @field_validator("cycle_time_target_months_by_area")
    @classmethod
    def _known_areas(cls, targets: dict[str, int]) -> dict[str, int]:
        areas = load_reference().areas
        unknown = sorted(set(targets) - set(areas))
        if unknown:
            raise ValueError(f"unknown areas {', '.join(unknown)}; the areas are {', '.join(sorted(areas))}")
        short = sorted(area for area, months in targets.items() if months < 1)
        if short:
            raise ValueError(f"a cycle-time target is at least 1 month; not so for {', '.join(short)}")
        return targets

    @model_validator(mode="after")
    def _comment_window(self) -> Self:
        if self.public_comment_max_days < self.public_comment_min_days:
            raise ValueError(
                f"public_comment_max_days ({self.public_comment_max_days}) is shorter than "
                f"public_comment_min_days ({self.public_comment_min_days})"
            )
        return self

    def clock_rules(self, calendar: WorkingDayCalendar) -> ClockRules:
        """The clock periods and warnings as the domain takes them, counted on the runtime's calendar."""
        return ClockRules(
            ballot=Period(amount=self.ballot_deadline_days, unit=self.ballot_day_rule),
            public_comment=Period(amount=self.public_comment_min_days, unit=self.public_comment_day_rule),
            public_comment_max=Period(amount=self.public_comment_max_days, unit=self.public_comment_day_rule),
            cycle_time_months=self.cycle_time_target_months,
            cycle_time_months_by_area=dict(self.cycle_time_target_months_by_area),
            warning_days=dict(self.clock_warning_days),
            calendar=calendar,
        )
