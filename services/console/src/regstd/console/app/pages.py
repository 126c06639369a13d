"""What each page shows, assembled from the services' answers, and the commands a page sends.

No business rule lives here: whether a step is allowed is the service's answer (a `Refusal`, shown
in the page). The console only chooses what to offer a principal (a city gets no vote button), and
the service refuses whatever is forged past that.
"""

from dataclasses import dataclass, field
from typing import Any

from regstd.console.app.ports import Gateway, Refusal, SignedIn
from regstd.contracts.reference import Reference

OPEN_STATES = (
    "awaiting_project_approval",
    "project_approved",
    "drafting",
    "public_comment",
    "technical_review",
    "awaiting_final_approval",
)
BALLOT_OF_STATE = {
    "awaiting_project_approval": "project_approval",
    "awaiting_final_approval": "final_approval",
}
PROJECT_CLOCKS = ("ballot", "public_comment", "cycle_time")
"""The project clocks intake lists as overdue (`GET /projects/overdue?clock=`)."""
ATTENTION = ("due_soon", "overdue")
"""The states of a standard's clock that put it on the desk."""
STEPS = {
    "drafting": "/drafting",
    "public-comment": "/public-comment",
    "public-comment-close": "/public-comment/close",
}
"""Lifecycle steps that take no body, by the name a form posts, to the intake path after the id."""


@dataclass(frozen=True)
class Awaiting:
    """A ballot waiting for my region's position."""

    project: dict[str, Any]
    stage: str
    deadline: dict[str, Any] | None
    others: list[dict[str, Any]]


@dataclass(frozen=True)
class DueClock:
    """A clock of one of my region's published standards (filing, text disclosure, review) that is
    due soon or overdue."""

    standard: dict[str, Any]
    clock: dict[str, Any]

    @property
    def kind(self) -> str:
        """The clock's kind without its party: filing, eco_filing, text_disclosure, review."""
        return str(self.clock["name"]).split(":", 1)[0]


@dataclass(frozen=True)
class Overdue:
    """Something past its deadline, whatever its kind: a ballot, a project clock, a standard's clock."""

    kind: str  # ballot, public_comment, cycle_time, or a standard's clock kind
    title: str
    link: str
    clock: dict[str, Any]

    @property
    def days(self) -> int:
        """Days past the deadline."""
        return int(self.clock.get("days_overdue") or 0)


@dataclass(frozen=True)
class Desk:
    """A regulator's desk: everything overdue first (across kinds), ballots awaiting my position,
    my standards' clocks due soon or overdue, adoption offers to decide, my other open projects."""

    awaiting: list[Awaiting]
    projects: list[dict[str, Any]]
    overdue: list[Overdue] = field(default_factory=list)
    clocks: list[DueClock] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    """One step of a project's or standard's life, for the timeline."""

    at: str
    what: str
    by: str
    why: str | None = None


def _days_overdue(project: dict[str, Any]) -> int:
    return max((c.get("days_overdue") or 0 for c in project.get("deadlines", [])), default=0)


def ballot_clock(project: dict[str, Any], stage: str) -> dict[str, Any] | None:
    """The clock of a project's ballot (its deadline in working days) from the project's view."""
    return next((c for c in project.get("deadlines", []) if c.get("name") == f"ballot:{stage}"), None)


def timeline(project: dict[str, Any]) -> list[Event]:
    """Every recorded step of a project, oldest first: who, when and why."""
    events = [Event(project["proposed_at"], "proposed", _who(project["proposed_by"]))]
    for stage, ballot in (project.get("ballots") or {}).items():
        events.append(Event(ballot["opened_at"], f"ballot_opened:{stage}", "project-intake"))
        for p in ballot.get("history") or ballot.get("positions", {}).values():
            events.append(
                Event(
                    p["recorded_at"],
                    f"position:{stage}:{p['position']}",
                    _who(p["recorded_by"]),
                    p.get("reason"),
                )
            )
        if ballot.get("outcome"):
            events.append(
                Event(ballot["decided_at"], f"ballot_decided:{stage}:{ballot['outcome']}", "project-intake")
            )
    for m in project.get("milestones", []):
        why = m.get("conclusion") or (f"→ {m['comment_closes_on']}" if m.get("comment_closes_on") else None)
        events.append(Event(m["recorded_at"], f"milestone:{m['milestone']}", _who(m["recorded_by"]), why))
    comment = project.get("public_comment") or {}
    for a in comment.get("amendments", []):
        events.append(Event(a["amended_at"], "comment_amended", _who(a["amended_by"]), a.get("reason")))
    outcome = project.get("publication")
    if outcome:
        why = " = ".join(outcome.get("numbers", [])) or outcome.get("reason")
        events.append(Event(outcome["at"], f"publication:{outcome['outcome']}", "publication", why))
    return sorted(events, key=lambda e: e.at)


def _who(actor: dict[str, Any]) -> str:
    return str(actor.get("name") or actor.get("code"))


def _proposal(form: dict[str, Any]) -> dict[str, Any]:
    """The proposal form's fields as intake's proposal body."""
    body: dict[str, Any] = {
        "area": form.get("area", ""),
        "parties": form.get("parties", []),
        "title_zh": form.get("title_zh", ""),
        "scope": form.get("scope", ""),
        "category": form.get("category", ""),
        "kind": form.get("kind", "recommended"),
    }
    if form.get("title_en"):
        body["title_en"] = form["title_en"]
    if form.get("organisations"):
        body["proposing_organisations"] = [
            o.strip() for o in str(form["organisations"]).splitlines() if o.strip()
        ]
    return body


class ConsoleCases:
    """The pages' reads and the commands their forms send, as the signed-in principal."""

    def __init__(self, gateway: Gateway, reference: Reference) -> None:
        self.gateway = gateway
        self.reference = reference

    # ---- regulator's desk -----------------------------------------------------------------

    def partners_of(self, region: str) -> list[str]:
        """The regions sharing a cooperation area with `region` (itself first): the joint parties a
        proposal may name, from the reference data."""
        found = [region]
        for area in self.reference.areas.values():
            if region in area.parties:
                found += [code for code in area.parties if code not in found]
        return found

    async def desk(self, me: SignedIn) -> Desk:
        """Everything overdue first, then ballots awaiting my region's position, my standards'
        clocks, adoption offers to decide and my other open projects."""
        page = await self.gateway.call(
            me.token, "project-intake", "GET", "/projects", params={"party": me.code, "limit": 200}
        )
        mine = [p for p in page["items"] if p["status"] in OPEN_STATES]
        mine.sort(key=lambda p: (-_days_overdue(p), p["proposed_at"]))
        awaiting = []
        for project in mine:
            stage = BALLOT_OF_STATE.get(project["status"])
            if stage is None:
                continue
            ballot = project["ballots"][stage]
            position = (ballot.get("positions") or {}).get(me.code)
            if position is None or position["position"] == "object":
                others = [p for party, p in ballot.get("positions", {}).items() if party != me.code]
                awaiting.append(Awaiting(project, stage, ballot_clock(project, stage), others))
        waiting_ids = {a.project["project_id"] for a in awaiting}
        rest = [p for p in mine if p["project_id"] not in waiting_ids]
        clocks = await self.standards_due(me)
        overdue = await self.overdue_projects(me)
        overdue += [
            Overdue(
                d.kind,
                " = ".join(n["number"] for n in d.standard["numbers"]) + " " + d.standard["title_zh"],
                f"/standards/{d.standard['standard_id']}",
                d.clock,
            )
            for d in clocks
            if d.clock["state"] == "overdue"
        ]
        overdue.sort(key=lambda o: (-o.days, o.clock.get("due_on") or "", o.title))
        return Desk(
            awaiting=awaiting,
            projects=rest,
            overdue=overdue,
            clocks=clocks,
            offers=await self.offers(me),
        )

    async def overdue_projects(self, me: SignedIn) -> list[Overdue]:
        """My region's projects past a deadline, per clock (ballot, public comment, cycle time), as
        intake's clock scheduler last found them."""
        found = []
        for clock in PROJECT_CLOCKS:
            page = await self.gateway.call(
                me.token, "project-intake", "GET", "/projects/overdue", params={"clock": clock}
            )
            found += [
                Overdue(clock, p["title_zh"], f"/projects/{p['project_id']}", p["clock"])
                for p in page["items"]
                if me.code in p["parties"]
            ]
        return found

    async def standards_due(self, me: SignedIn) -> list[DueClock]:
        """My region's published standards with a clock due soon or overdue (publication's
        `clock_state` filter), each such clock that is mine to act on: my filings, the joint text
        disclosure and review; the most overdue first, then the nearest deadline."""
        page = await self.gateway.call(
            me.token,
            "publication",
            "GET",
            "/standards",
            params={"party": me.code, "status": "published", "clock_state": list(ATTENTION), "limit": 200},
        )
        found = []
        for standard in page["items"]:
            life = await self.gateway.call(
                me.token, "publication", "GET", f"/standards/{standard['standard_id']}/life"
            )
            for clock in life["clocks"]:
                party = str(clock["name"]).partition(":")[2]
                if clock["state"] in ATTENTION and party in ("", me.code):
                    found.append(DueClock(standard, clock))
        found.sort(key=lambda d: (-int(d.clock.get("days_overdue") or 0), d.clock.get("due_on") or ""))
        return found

    async def offers(self, me: SignedIn) -> list[dict[str, Any]]:
        """Eco standards offered to my region for adoption that await its decision."""
        offered = await self.gateway.call(
            me.token, "harmonization", "GET", "/adoptions/standards", params={"member": me.code}
        )
        return [s for s in offered if me.code in s.get("pending", [])]

    async def project(self, me: SignedIn, project_id: str) -> dict[str, Any]:
        """One project as intake answers it."""
        found: dict[str, Any] = await self.gateway.call(
            me.token, "project-intake", "GET", f"/projects/{project_id}"
        )
        return found

    async def standard_of(self, me: SignedIn, project: dict[str, Any]) -> dict[str, Any] | None:
        """The standard publication made of a project, once there is one."""
        outcome = project.get("publication") or {}
        if outcome.get("outcome") != "published":
            return None
        try:
            found: dict[str, Any] = await self.gateway.call(
                me.token, "publication", "GET", f"/standards/{outcome['standard_id']}"
            )
        except Refusal:
            return None
        return found

    async def propose(self, me: SignedIn, form: dict[str, Any]) -> dict[str, Any]:
        """Propose a joint project; the answer holds its overlap matches."""
        created: dict[str, Any] = await self.gateway.call(
            me.token, "project-intake", "POST", "/projects", json=_proposal(form)
        )
        return created

    async def preview_overlaps(self, me: SignedIn, form: dict[str, Any]) -> list[dict[str, Any]]:
        """The overlap matches the proposal in the form would get, before it is submitted; intake
        refuses it as it would refuse the proposal, and stores nothing."""
        answer: dict[str, Any] = await self.gateway.call(
            me.token, "project-intake", "POST", "/projects/overlaps", json=_proposal(form)
        )
        matches: list[dict[str, Any]] = answer["matches"]
        return matches

    async def record_position(
        self, me: SignedIn, project_id: str, stage: str, position: str, reason: str | None
    ) -> None:
        """Record my region's position in a ballot."""
        body = {"party": me.code, "position": position, "reason": reason or None}
        await self.gateway.call(
            me.token, "project-intake", "POST", f"/projects/{project_id}/ballots/{stage}/positions", json=body
        )

    async def advance(self, me: SignedIn, project_id: str, step: str) -> None:
        """A lifecycle step without a body (start drafting, open or close public comment)."""
        if step not in STEPS:
            raise Refusal(422, f"unknown step {step!r}: one of {', '.join(STEPS)}")
        await self.gateway.call(me.token, "project-intake", "POST", f"/projects/{project_id}{STEPS[step]}")

    async def review(self, me: SignedIn, project_id: str, conclusion: str, passed: bool) -> None:
        """Record my region's technical review conclusion."""
        body = {"party": me.code, "conclusion": conclusion, "passed": passed}
        await self.gateway.call(
            me.token, "project-intake", "POST", f"/projects/{project_id}/review-conclusions", json=body
        )

    async def submit(self, me: SignedIn, project_id: str, location: str, sha256: str) -> None:
        """Submit the final text for the final-approval ballot."""
        body = {"text": {"location": location, "sha256": sha256}}
        await self.gateway.call(
            me.token, "project-intake", "POST", f"/projects/{project_id}/submission", json=body
        )

    async def amend_close_date(self, me: SignedIn, project_id: str, closes_on: str, reason: str) -> None:
        """Move the closing date of the open public comment period."""
        body = {"closes_on": closes_on, "reason": reason or None}
        await self.gateway.call(
            me.token, "project-intake", "POST", f"/projects/{project_id}/public-comment/close-date", json=body
        )

    # ---- a standard's life -------------------------------------------------------------------

    async def record_filing(self, me: SignedIn, standard_id: str, form: dict[str, Any]) -> None:
        """Record my region's filing (备案) of a published standard."""
        body = {
            "party": me.code,
            "authority": form.get("authority") or "national",
            "filing_number": form.get("filing_number", ""),
            "filed_on": form.get("filed_on", ""),
        }
        await self.gateway.call(
            me.token, "publication", "POST", f"/standards/{standard_id}/filings", json=body
        )

    async def record_disclosure(self, me: SignedIn, standard_id: str, form: dict[str, Any]) -> None:
        """Record where and when the full text was made public (公开)."""
        body = {"location": form.get("location", ""), "disclosed_on": form.get("disclosed_on", "")}
        await self.gateway.call(
            me.token, "publication", "POST", f"/standards/{standard_id}/disclosure", json=body
        )

    async def record_standard_review(self, me: SignedIn, standard_id: str, form: dict[str, Any]) -> None:
        """Record my region's review (复审) conclusion."""
        body = {"outcome": form.get("outcome", ""), "reason": form.get("reason") or None}
        await self.gateway.call(
            me.token, "publication", "POST", f"/standards/{standard_id}/review-conclusions", json=body
        )

    # ---- adoption, limits and assessments (harmonization) ------------------------------------

    async def decide_adoption(self, me: SignedIn, standard_id: str, form: dict[str, Any]) -> None:
        """Record my region's decision on an offered eco standard: adopt, adopt with modifications
        (one a line), or decline, with a reason, scope and effective date as the service asks."""
        body: dict[str, Any] = {
            "member": me.code,
            "decision": form.get("decision", ""),
            "modifications": [
                m.strip() for m in str(form.get("modifications", "")).splitlines() if m.strip()
            ],
            "reason": form.get("reason") or None,
            "scope": form.get("scope") or None,
            "effective_date": form.get("effective_date") or None,
        }
        await self.gateway.call(
            me.token, "harmonization", "POST", f"/adoptions/standards/{standard_id}/decisions", json=body
        )

    async def import_limits(self, me: SignedIn, content: bytes, fmt: str) -> dict[str, Any]:
        """Send a limits file (CSV or JSON, as it was uploaded) to harmonization's import."""
        media = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
        if fmt not in media:
            raise Refusal(422, f"unknown format {fmt!r}: csv or json")
        done: dict[str, Any] = await self.gateway.call(
            me.token,
            "harmonization",
            "POST",
            "/limits/imports",
            params={"format": fmt},
            content=content,
            content_type=media[fmt],
        )
        return done

    async def imports(self, me: SignedIn) -> list[dict[str, Any]]:
        """Every region's limit imports, newest first per region (what an assessment can compare)."""
        found: list[dict[str, Any]] = await self.gateway.call(
            me.token, "harmonization", "GET", "/limits/imports"
        )
        return found

    async def assess(self, me: SignedIn, form: dict[str, Any]) -> dict[str, Any]:
        """Run an assessment of the chosen regions' limits for the chosen media and policy."""
        regions, media = form.get("regions", []), form.get("media", [])
        body: dict[str, Any] = {
            "regions": regions if isinstance(regions, list) else [regions],
            "policy": form.get("policy") or "strictest",
        }
        if media:
            body["media"] = media if isinstance(media, list) else [media]
        done: dict[str, Any] = await self.gateway.call(
            me.token, "harmonization", "POST", "/assessments", json=body
        )
        return done

    async def assessment(self, me: SignedIn, assessment_id: str) -> dict[str, Any]:
        """An assessment: what was compared, who asked and when, its findings."""
        found: dict[str, Any] = await self.gateway.call(
            me.token, "harmonization", "GET", f"/assessments/{assessment_id}"
        )
        return found

    async def assessment_html(self, me: SignedIn, assessment_id: str) -> str:
        """The assessment's own HTML report, as harmonization renders it (no scripts)."""
        return str(
            await self.gateway.call(
                me.token, "harmonization", "GET", f"/assessments/{assessment_id}", params={"format": "html"}
            )
        )

    # ---- area report ------------------------------------------------------------------------

    def areas_of(self, region: str) -> list[str]:
        """The cooperation areas a region takes part in (reference data)."""
        return [a.id for a in self.reference.areas.values() if region in a.parties]

    async def area_report(self, me: SignedIn, area: str, query: dict[str, str]) -> dict[str, Any]:
        """Publication's report of an area: published per period, cycle times against the target."""
        params = {
            "from": query.get("from"),
            "to": query.get("to"),
            "granularity": query.get("granularity") or "quarter",
        }
        found: dict[str, Any] = await self.gateway.call(
            me.token, "publication", "GET", f"/reports/{area}", params=params
        )
        return found

    # ---- public portal --------------------------------------------------------------------

    async def catalogue(self, reader: str | None, query: dict[str, str]) -> list[dict[str, Any]]:
        """Published standards matching the search: a number (either dash form) finds that one
        standard; otherwise the catalogue's filters, and the words of `q` in the title."""
        words = query.get("q", "").strip()
        if words.upper().startswith("DB"):
            try:
                one = await self.gateway.call(reader, "publication", "GET", f"/standards/by-number/{words}")
            except Refusal as refusal:
                if refusal.status in (404, 422):
                    return []
                raise
            return [one] if one.get("status") != "numbered" else []
        params = {k: query.get(k) for k in ("area", "party", "category", "year")}
        params["status"] = query.get("status") or "published"
        params["limit"] = "200"
        page = await self.gateway.call(reader, "publication", "GET", "/standards", params=params)
        items: list[dict[str, Any]] = [s for s in page["items"] if s["status"] != "numbered"]
        if words:
            folded = words.casefold()
            items = [
                s
                for s in items
                if folded in s["title_zh"].casefold() or folded in (s.get("title_en") or "").casefold()
            ]
        return items

    async def standard(self, reader: str | None, standard_id: str) -> dict[str, Any]:
        """One standard of the catalogue (never a numbered, unpublished one: that is not public)."""
        found: dict[str, Any] = await self.gateway.call(
            reader, "publication", "GET", f"/standards/{standard_id}"
        )
        if found["status"] == "numbered":
            raise Refusal(404, f"no published standard {standard_id}")
        return found

    async def life(self, reader: str | None, standard_id: str) -> dict[str, Any] | None:
        """A standard's filings, disclosure and reviews, when publication keeps them."""
        try:
            found: dict[str, Any] = await self.gateway.call(
                reader, "publication", "GET", f"/standards/{standard_id}/life"
            )
        except Refusal:
            return None
        return found

    # ---- operator --------------------------------------------------------

    async def health(self, me: SignedIn) -> dict[str, Any]:
        """Per service: readiness, consumer lag, outbox age and overdue clocks from its /metrics;
        and intake's overdue projects."""
        services: dict[str, Any] = {}
        for name in ("project-intake", "publication", "harmonization"):
            try:
                text = await self.gateway.call(me.token, name, "GET", "/metrics")
                services[name] = {"up": True, "metrics": metric_lines(str(text))}
            except Refusal as refusal:
                services[name] = {"up": False, "problem": refusal.message, "metrics": []}
        try:
            overdue = await self.gateway.call(
                me.token, "project-intake", "GET", "/projects/overdue", params={"clock": "cycle_time"}
            )
            overdue_items = overdue.get("items", [])
        except Refusal:
            overdue_items = []
        return {"services": services, "overdue": overdue_items}


WATCHED = (
    "regstd_consumer_lag",
    "regstd_outbox_oldest_age_seconds",
    "regstd_outbox_backlog",
    "regstd_overdue",
)


def metric_lines(text: str) -> list[tuple[str, str]]:
    """The samples of the watched gauges in a Prometheus text page, as (name with labels, value)."""
    found = []
    for line in text.splitlines():
        if line.startswith(WATCHED):
            name, _, value = line.rpartition(" ")
            found.append((name, value))
    return found
