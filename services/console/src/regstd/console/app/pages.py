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
class Desk:
    """A regulator's desk: ballots awaiting my position, then my other open projects; overdue first."""

    awaiting: list[Awaiting]
    projects: list[dict[str, Any]]
    overdue: list[dict[str, Any]] = field(default_factory=list)


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
        """Ballots awaiting my region's position and my open projects, the most overdue first."""
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
        overdue = [p for p in mine if _days_overdue(p) > 0]
        return Desk(awaiting=awaiting, projects=rest, overdue=overdue)

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

    # ---- partner city and operator --------------------------------------------------------

    async def received(self, me: SignedIn) -> list[dict[str, Any]]:
        """What a partner city receives: the published standards of the areas it belongs to."""
        city = self.reference.partner_cities.get(me.code)
        areas = city.areas if city else ()
        found: list[dict[str, Any]] = []
        for area in areas:
            page = await self.gateway.call(
                me.token, "publication", "GET", "/standards", params={"area": area, "status": "published"}
            )
            found += page["items"]
        return sorted(found, key=lambda s: s.get("published_at") or "", reverse=True)

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
