"""A model-based test of the register: random sequences of what regulators do (propose, vote, advance,
submit, revise, withdraw, abolish, review, file, and time passing) across chengyu and yrd, with the
register's invariants checked after every step:

- no designation (code + sequence + year) is on two standards;
- each area's block: the numbers handed out are gap-free from the block's first, each to one
  standard, and each is either carried by a standard of the register or explicitly not issued —
  a number once published is never marked not issued;
- every final approval ends published (or numbered for later) or explicitly refused;
- no status contradicts the dates: nothing is published before its publication date, nothing is
  in force before its implementation date.

A refusal (a kernel `Refused`: 4xx on HTTP) is a fine answer to a random command; anything else
raised is a bug. Intake and publication talk in memory exactly as their consumers wire them
(`register.py`).
"""

import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from regstd.contracts.common import TextReference
from regstd.contracts.intake import ProjectFinallyApproved
from regstd.contracts.publication import ApprovalRefused, NumberNotIssued, StandardPublished
from regstd.intake.domain.proposal import Proposal
from regstd.kernel.errors import Refused
from regstd.publication.domain.numbering import number_key
from regstd.publication.domain.standard import Text
from regstd.publication.domain.submission import Submission

from .register import REFERENCE, Register, regulator

AREAS = ("chengyu", "yrd")
TITLES = ("高速公路服务区服务规范", "茶叶加工技术规程", "城市公共交通服务质量", "农村生活污水处理")
TEXT = TextReference(location="https://texts.example/standard.pdf", sha256="ab" * 32)


class RegisterMachine(RuleBasedStateMachine):
    """Drives the register at random and checks its invariants after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.register = self.new_register()
        self.projects: list[str] = []

    def new_register(self) -> Any:
        """The register the machine drives: in memory here; on the real stack in the `_infra` test."""
        return Register()

    def teardown(self) -> None:
        self.register.close()

    # -- helpers -------------------------------------------------------------------------------

    def attempt(self, work: Any) -> Any:
        """Run a command and let the services settle; a refusal is an answer, not a failure."""
        try:
            result = self.register.run(work)
        except Refused as refusal:
            event(f"refused: {type(refusal).__name__}")
            result = None
        self.register.run(self.register.settle())
        return result

    def project(self, index: int) -> Any:
        return self.register.run(self.register.intake.project(self.projects[index % len(self.projects)]))

    def standards(self) -> list[Any]:
        return self.register.standards()

    # -- what regulators do --------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.register.run(self.register.settle())

    @rule(area=st.sampled_from(AREAS), data=st.data(), title=st.sampled_from(TITLES), revise=st.booleans())
    def propose(self, area: str, data: st.DataObject, title: str, revise: bool) -> None:
        members = list(REFERENCE.area(area).parties)
        parties = data.draw(
            st.lists(st.sampled_from(members), min_size=2, max_size=len(members), unique=True)
        )
        supersedes = None
        if revise:
            published = [s for s in self.standards() if s.area == area and s.project_id is not None]
            if published:
                target = data.draw(st.sampled_from(published))
                supersedes, parties = target.id, list(target.parties)
        proposal = Proposal(
            area=area,
            parties=parties,
            title_zh=f"{title}（{len(self.projects) + 1}）",
            scope="适用范围",
            category="transport",
            kind="recommended",
            supersedes=supersedes,
        )
        made = self.attempt(self.register.intake.propose(proposal, regulator(parties[0])))
        if made is not None:
            self.projects.append(made.project_id)

    @precondition(lambda self: self.projects)
    @rule(
        index=st.integers(min_value=0),
        data=st.data(),
        position=st.sampled_from(["approve"] * 4 + ["reject", "object"]),
    )
    def vote(self, index: int, data: st.DataObject, position: str) -> None:
        project = self.project(index)
        ballot = project.open_ballot()
        if ballot is None:
            return
        party = data.draw(st.sampled_from(project.parties))
        reason = None if position == "approve" else "理由"
        self.attempt(
            self.register.intake.record_position(
                project.project_id,
                stage=ballot.stage,
                party=party,
                position=position,
                reason=reason,
                by=regulator(party),
            )
        )

    @precondition(lambda self: self.projects)
    @rule(index=st.integers(min_value=0))
    def every_party_approves(self, index: int) -> None:
        """The parties agree: each records approve in the open ballot (how most ballots go)."""
        project = self.project(index)
        ballot = project.open_ballot()
        if ballot is None:
            return
        for party in project.parties:
            self.attempt(
                self.register.intake.record_position(
                    project.project_id,
                    stage=ballot.stage,
                    party=party,
                    position="approve",
                    reason=None,
                    by=regulator(party),
                )
            )

    @precondition(lambda self: self.projects)
    @rule(index=st.integers(min_value=0))
    def advance(self, index: int) -> None:
        """The next lifecycle step between the ballots, as the parties would take it."""
        project = self.project(index)
        intake, by = self.register.intake, regulator(project.parties[0])
        match project.status:
            case "project_approved":
                self.attempt(intake.start_drafting(project.project_id, by=by))
            case "drafting":
                self.attempt(intake.open_public_comment(project.project_id, closes_on=None, by=by))
            case "public_comment":
                self.attempt(intake.close_public_comment(project.project_id, by=by))
            case "technical_review":
                for party in project.parties:
                    self.attempt(
                        intake.record_review_conclusion(
                            project.project_id,
                            party=party,
                            conclusion="通过",
                            passed=True,
                            by=regulator(party),
                        )
                    )
                self.attempt(intake.submit_for_final_approval(project.project_id, text=TEXT, by=by))

    @precondition(lambda self: self.projects)
    @rule(index=st.integers(min_value=0))
    def carried_through(self, index: int) -> None:
        """The parties take a project all the way: every ballot approved, every step taken."""
        for _ in range(8):
            status = self.project(index).status
            if status in ("finally_approved", "rejected"):
                return
            self.every_party_approves(index)
            self.advance(index)

    @rule(days=st.integers(min_value=0, max_value=200))
    def time_passes(self, days: int) -> None:
        self.register.clock.advance(days=days)
        self.register.run(self.register.settle())

    @rule(
        region=st.sampled_from(["50", "51", "31"]),
        sequence=st.integers(min_value=1, max_value=40),
        back=st.integers(min_value=-30, max_value=400),
        years_back=st.integers(min_value=0, max_value=1),
    )
    def submit(self, region: str, sequence: int, back: int, years_back: int) -> None:
        """A region submits its own, already published standard (sometimes with impossible dates)."""
        published_on = self.register.today() - timedelta(days=back)
        year = published_on.year - years_back
        area = "chengyu" if region in ("50", "51") else "yrd"
        submission = Submission(
            number=f"DB{region}/T {sequence}—{year}",
            area=area,
            title_zh=f"地方标准 {sequence}",
            title_en=None,
            scope="适用范围",
            category="agriculture",
            kind="recommended",
            eco_civilization=False,
            publication_date=published_on,
            implementation_date=published_on + timedelta(days=90),
            text=Text(location="https://texts.example/s.pdf", sha256="cd" * 32),
        )
        self.attempt(self.register.submissions.submit(submission, regulator(region)))

    @precondition(lambda self: self.standards())
    @rule(data=st.data())
    def withdraw(self, data: st.DataObject) -> None:
        standard = data.draw(st.sampled_from(self.standards()))
        party = data.draw(st.sampled_from(list(standard.parties)))
        self.attempt(self.register.publishing.withdraw(standard.id, "撤回", regulator(party)))

    @precondition(lambda self: self.standards())
    @rule(data=st.data(), outcome=st.sampled_from(["continue", "revise", "abolish"]))
    def review(self, data: st.DataObject, outcome: str) -> None:
        standard = data.draw(st.sampled_from(self.standards()))
        for party in standard.parties:
            self.attempt(
                self.register.life.record_review_conclusion(
                    standard.id,
                    outcome=outcome,
                    reason="复审",
                    caller=regulator(party),
                )
            )

    @precondition(lambda self: self.standards())
    @rule(data=st.data(), days=st.integers(min_value=-30, max_value=30))
    def file(self, data: st.DataObject, days: int) -> None:
        standard = data.draw(st.sampled_from(self.standards()))
        party = data.draw(st.sampled_from(list(standard.parties)))
        self.attempt(
            self.register.life.record_filing(
                standard.id,
                party=party,
                authority="national",
                filing_number=f"备 {party}-{standard.sequence}",
                filed_on=self.register.today() + timedelta(days=days),
                caller=regulator(party),
            )
        )

    # -- what must always hold -----------------------------------------------------------------

    @invariant()
    def tally(self) -> None:
        """What the run reached, for `--hypothesis-show-statistics`: a run that never publishes
        checks little."""
        for standard in self.standards():
            event(f"{'joint' if standard.project_id else 'single-region'} standard {standard.status}")
        for refusal in self.register.events(ApprovalRefused):
            event(f"approval refused: {refusal['rule']}")

    @invariant()
    def no_designation_is_on_two_standards(self) -> None:
        holders: dict[str, str] = {}
        for standard in self.standards():
            if standard.status == "withdrawn":
                continue  # never published: its number is recorded as not issued
            for number in standard.numbers:
                key = number_key(number.number)
                assert holders.setdefault(key, standard.id) == standard.id, (
                    f"{number.number} is on {holders[key]} and {standard.id}"
                )

    @invariant()
    def each_block_is_gap_free_and_every_number_accounted_for(self) -> None:
        allocations = self.register.allocations()
        published = {e["standard_id"] for e in self.register.events(StandardPublished)}
        not_issued = {e["standard_id"] for e in self.register.events(NumberNotIssued)}
        standards = {s.id: s for s in self.standards()}
        for area in AREAS:
            first = REFERENCE.area(area).joint_number_block_first
            assert first is not None
            handed = sorted((a.sequence, a.standard_id, a.status) for a in allocations if a.area == area)
            assert [s for s, _, _ in handed] == list(range(first, first + len(handed))), f"{area}: a gap"
            for sequence, standard_id, status in handed:
                if status == "not_issued":
                    assert standard_id not in published, f"{area} {sequence} was published, then not issued"
                    assert standard_id in not_issued
                else:
                    assert standard_id in standards, f"{area} {sequence} is handed out but no standard has it"

    @invariant()
    def every_final_approval_ends_published_or_refused(self) -> None:
        approvals = {e["project_id"] for e in self.register.events(ProjectFinallyApproved)}
        standards = {s.project_id for s in self.standards() if s.project_id is not None}
        refused = {e["project_id"] for e in self.register.events(ApprovalRefused)}
        for project_id in approvals:
            assert (project_id in standards) != (project_id in refused), (
                f"the final approval of {project_id} is {'both' if project_id in standards else 'neither'} "
                "published and refused"
            )

    @invariant()
    def intake_shows_what_publication_answered(self) -> None:
        published = {e.get("project_id") for e in self.register.events(StandardPublished)}
        refused = {e["project_id"] for e in self.register.events(ApprovalRefused)}
        for project_id in self.projects:
            answer = self.register.run(self.register.intake.project(project_id)).publication
            said = "published" if project_id in published else "refused" if project_id in refused else None
            shown = None if answer is None else answer.outcome
            assert shown == said, f"{project_id} shows {answer}; publication said {said}"

    @invariant()
    def no_status_contradicts_the_dates(self) -> None:
        today = self.register.today()
        for standard in self.standards():
            if standard.status in ("published", "superseded", "abolished"):
                published, implemented = standard.publication_date, standard.implementation_date
                assert published is not None
                assert implemented is not None
                assert published <= today, f"{standard.id} published on a future date, {published}"
                assert implemented >= published, f"{standard.id} in force before it was published"
                assert standard.year == published.year, f"{standard.id} published {published}"
            if standard.standing(today) == "in_force":
                assert standard.implementation_date is not None
                assert standard.implementation_date <= today, f"{standard.id} in force before implementation"


RegisterMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("REGSTD_REGISTER_EXAMPLES", "150")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_register_keeps_its_invariants = RegisterMachine.TestCase
