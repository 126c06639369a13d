"""The adoption registry and the yearly summary for the white paper, pure: who adopted (or
declined) which eco standard, since when and where, counted per member and per standard by the
China Standard Time dates the offers were made and the decisions recorded."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from regstd.contracts.harmonization import AdoptionDecision
from regstd.contracts.reference import Reference
from regstd.harmonization.domain.adoption import ADOPTING, EcoStandard, SourceStatus
from regstd.kernel.time import china_date


@dataclass(frozen=True)
class AdoptionRow:
    """Who adopted (or declined) which standard, since when, where it applies."""

    standard_id: str
    number: str
    title_zh: str
    sources: tuple[str, ...]
    member: str
    decision: AdoptionDecision
    modifications: tuple[str, ...]
    reason: str | None
    scope: str | None
    effective_date: date | None
    decided_at: datetime
    source_status: SourceStatus


def registry_rows(
    standards: Iterable[EcoStandard],
    *,
    member: str | None = None,
    source: str | None = None,
    decisions: Collection[AdoptionDecision] | None = None,
) -> list[AdoptionRow]:
    """Every recorded decision matching the filters, by standard number then member."""
    rows = [
        AdoptionRow(
            standard_id=s.id,
            number=s.number,
            title_zh=s.title_zh,
            sources=s.sources,
            member=d.member,
            decision=d.decision,
            modifications=d.modifications,
            reason=d.reason,
            scope=d.scope,
            effective_date=d.effective_date,
            decided_at=d.at,
            source_status=s.status,
        )
        for s in standards
        if source is None or source in s.sources
        for d in s.decisions.values()
        if (member is None or d.member == member) and (decisions is None or d.decision in decisions)
    ]
    return sorted(rows, key=lambda r: (r.number, r.member))


@dataclass(frozen=True)
class MemberYear:
    """One member's year of adoption work."""

    member: str
    name_zh: str
    offers_received: int
    adopted: int
    adopted_with_modifications: int
    declined: int
    pending: int
    own_standards_offered: int
    own_standards_adopted_elsewhere: int
    adoptions_by_others: int


@dataclass(frozen=True)
class StandardYear:
    """One source standard's adoption in a year."""

    standard_id: str
    number: str
    title_zh: str
    sources: tuple[str, ...]
    status: SourceStatus
    offered_to: int
    adopted: int
    adopted_with_modifications: int
    declined: int
    pending: int


@dataclass(frozen=True)
class YearlySummary:
    """The white paper's table: per member and per standard, for one calendar year (CST)."""

    year: int
    area: str
    members: list[MemberYear]
    standards: list[StandardYear]


def yearly_summary(
    standards: Iterable[EcoStandard], year: int, reference: Reference, area: str
) -> YearlySummary:
    """Counts for one year: offers by the CST date they were made, decisions by the CST date they
    were recorded; `pending` is what was offered that year and is still undecided."""
    members = reference.area(area).parties
    offered = [s for s in standards if china_date(s.offered_at).year == year or _decided_in(s, year)]
    per_member: list[MemberYear] = []
    for m in members:

        def count(kind: AdoptionDecision, m: str = m) -> int:
            return sum(
                1
                for s in offered
                if (d := s.decisions.get(m)) is not None
                and d.decision == kind
                and china_date(d.at).year == year
            )

        own = [s for s in offered if m in s.sources]
        per_member.append(
            MemberYear(
                member=m,
                name_zh=reference.region(m).name_zh,
                offers_received=sum(
                    1 for s in offered if m in s.members and china_date(s.offered_at).year == year
                ),
                adopted=count("adopt"),
                adopted_with_modifications=count("adopt_with_modifications"),
                declined=count("decline"),
                pending=sum(1 for s in offered if m in s.pending and china_date(s.offered_at).year == year),
                own_standards_offered=sum(1 for s in own if china_date(s.offered_at).year == year),
                own_standards_adopted_elsewhere=sum(1 for s in own if _adoptions_in(s, year)),
                adoptions_by_others=sum(_adoptions_in(s, year) for s in own),
            )
        )
    per_standard = [
        StandardYear(
            standard_id=s.id,
            number=s.number,
            title_zh=s.title_zh,
            sources=s.sources,
            status=s.status,
            offered_to=len(s.members),
            adopted=_decisions_in(s, year, "adopt"),
            adopted_with_modifications=_decisions_in(s, year, "adopt_with_modifications"),
            declined=_decisions_in(s, year, "decline"),
            pending=len(s.pending),
        )
        for s in sorted(offered, key=lambda s: s.number)
    ]
    return YearlySummary(year=year, area=area, members=per_member, standards=per_standard)


def _decided_in(s: EcoStandard, year: int) -> bool:
    return any(china_date(d.at).year == year for d in s.decisions.values())


def _decisions_in(s: EcoStandard, year: int, kind: AdoptionDecision) -> int:
    return sum(1 for d in s.decisions.values() if d.decision == kind and china_date(d.at).year == year)


def _adoptions_in(s: EcoStandard, year: int) -> int:
    return sum(1 for d in s.decisions.values() if d.decision in ADOPTING and china_date(d.at).year == year)


def summary_markdown(summary: YearlySummary) -> str:
    """The yearly summary as two Markdown tables, for the white paper."""
    lines = [
        f"# Eco-standard adoption (采信), {summary.area}, {summary.year}",
        "",
        "| member | offers received | adopted | adopted with modifications | declined | pending "
        "| own standards offered | own adopted elsewhere | adoptions by others |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {m.member} {m.name_zh} | {m.offers_received} | {m.adopted} | {m.adopted_with_modifications} "
        f"| {m.declined} | {m.pending} | {m.own_standards_offered} | {m.own_standards_adopted_elsewhere} "
        f"| {m.adoptions_by_others} |"
        for m in summary.members
    ]
    lines += [
        "",
        "| standard | title | source | status | offered to | adopted | with modifications | declined "
        "| pending |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s.number} | {s.title_zh} | {', '.join(s.sources)} | {s.status} | {s.offered_to} | {s.adopted} "
        f"| {s.adopted_with_modifications} | {s.declined} | {s.pending} |"
        for s in summary.standards
    ]
    return "\n".join(lines) + "\n"
