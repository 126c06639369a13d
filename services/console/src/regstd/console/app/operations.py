"""The operator's pages: a flow's waterfall across the three services, and their dead letters with
replay. Each service answers for its own span files and its own consumed topics (the runtime's
`/operator/…` endpoints); the console merges the answers, and decides nothing itself: a replay is
the service's (once, however often it is asked), a non-operator is refused by the service too.
"""

import re
from dataclasses import dataclass, field
from typing import Any, get_args
from urllib.parse import quote

from regstd.console.app.ports import Gateway, Refusal, ServiceName, SignedIn
from regstd.contracts.spans import FlowSpans, SpanView, merge_traces, tree_order

SERVICES: tuple[ServiceName, ...] = get_args(ServiceName)
TRACE_ID = re.compile(r"[0-9a-f]{32}")
MIN_BAR_PCT = 0.4
"""The narrowest bar drawn, so that a span of a few microseconds is still seen."""


@dataclass(frozen=True)
class Bar:
    """One span's row in a waterfall: its depth in the tree and its place on the trace's time line."""

    depth: int
    span: SpanView
    at_ms: float
    offset_pct: float
    width_pct: float


@dataclass(frozen=True)
class Waterfall:
    """One trace laid out: parents above children, bars positioned by start and duration."""

    trace_id: str
    total_ms: float
    services: list[str]
    errors: int
    bars: list[Bar]


@dataclass(frozen=True)
class Flow:
    """What the services keep of a flow: its traces across services, and what could not be read."""

    query: str
    waterfalls: list[Waterfall]
    problems: dict[str, str] = field(default_factory=dict)
    kept_locally: bool = True
    truncated: bool = False
    trace_link: str | None = None


def waterfall(trace_id: str, spans: list[SpanView]) -> Waterfall:
    """A trace's spans as rows of bars on one time line from the first start to the last end."""
    start = min(s.start_ns for s in spans)
    total = max(s.end_ns for s in spans) - start
    bars = []
    for depth, span in tree_order(spans):
        offset = min((span.start_ns - start) / total * 100 if total else 0.0, 100 - MIN_BAR_PCT)
        width = (span.end_ns - span.start_ns) / total * 100 if total else 100.0
        bars.append(
            Bar(
                depth=depth,
                span=span,
                at_ms=(span.start_ns - start) / 1e6,
                offset_pct=round(offset, 2),
                width_pct=round(min(max(MIN_BAR_PCT, width), 100 - offset), 2),
            )
        )
    return Waterfall(
        trace_id=trace_id,
        total_ms=total / 1e6,
        services=sorted({s.service for s in spans}),
        errors=sum(1 for s in spans if s.failed),
        bars=bars,
    )


def _service(name: str) -> ServiceName:
    for known in SERVICES:
        if name == known:
            return known
    raise Refusal(422, f"unknown service {name!r}: one of {', '.join(SERVICES)}")


class OperatorCases:
    """The operator's reads and the one command (replay), as the signed-in operator."""

    def __init__(self, gateway: Gateway, trace_ui_url: str | None = None) -> None:
        """`trace_ui_url`: the tracing back end's address (Jaeger's UI), linked from the flow page
        when spans go to a collector (decision 34)."""
        self.gateway = gateway
        self.trace_ui_url = trace_ui_url

    def trace_link(self, query: str) -> str | None:
        """The tracing back end's page for a query, when one is configured: the trace itself for a
        trace id, its search page for a business key (searched there by the `regstd.*` tags)."""
        if not self.trace_ui_url:
            return None
        if TRACE_ID.fullmatch(query.strip().lower()):
            return f"{self.trace_ui_url}/trace/{query.strip().lower()}"
        return f"{self.trace_ui_url}/search"

    async def flow(self, me: SignedIn, query: str, *, store_calls: bool = False) -> Flow:
        """Every service's spans of the flow a query names, merged by trace into waterfalls, the
        trace that started first first. A service that does not answer is named, not fatal."""
        answers: list[FlowSpans] = []
        problems: dict[str, str] = {}
        for service in SERVICES:
            try:
                body = await self.gateway.call(
                    me.token,
                    service,
                    "GET",
                    "/operator/spans",
                    params={"q": query, "store_calls": "true" if store_calls else "false"},
                )
            except Refusal as refusal:
                if refusal.status in (401, 403, 422):
                    raise  # the operator's own problem (not signed in as one, a bad query): shown as such
                problems[service] = refusal.message
                continue
            answers.append(FlowSpans.model_validate(body))
        merged = merge_traces(answers)
        return Flow(
            query=query,
            waterfalls=[waterfall(t, spans) for t, spans in merged.items()],
            problems=problems,
            kept_locally=any(a.kept_locally for a in answers) or not answers,
            truncated=any(a.truncated for a in answers),
            trace_link=self.trace_link(query),
        )

    async def dead_letters(self, me: SignedIn) -> dict[str, Any]:
        """Per service, the dead letters of the topics it consumes (newest first); or why a service
        could not say."""
        found: dict[str, Any] = {}
        for service in SERVICES:
            try:
                found[service] = await self.gateway.call(
                    me.token, service, "GET", "/operator/dead-letters", params={"limit": 50}
                )
            except Refusal as refusal:
                if refusal.status in (401, 403):
                    raise
                found[service] = {"problem": refusal.message, "topics": []}
        return found

    async def letter(self, me: SignedIn, service: str, ref: str) -> dict[str, Any]:
        """One listed letter of a service, for the replay's confirmation; 404 when it lists none."""
        listed = await self.gateway.call(
            me.token,
            _service(service),
            "GET",
            "/operator/dead-letters",
            params={"topic": ref.split(":", 1)[0], "limit": 500},
        )
        for topic in listed["topics"]:
            for letter in topic["letters"]:
                if letter["ref"] == ref:
                    found: dict[str, Any] = letter
                    return found
        raise Refusal(404, f"{service} lists no dead letter {ref} among its newest 500")

    async def replay(self, me: SignedIn, service: str, ref: str) -> dict[str, Any]:
        """Have the service re-publish one letter to its origin topic (once; asked again, the
        service answers the recorded replay)."""
        done: dict[str, Any] = await self.gateway.call(
            me.token, _service(service), "POST", f"/operator/dead-letters/{quote(ref, safe=':')}/replay"
        )
        return done
