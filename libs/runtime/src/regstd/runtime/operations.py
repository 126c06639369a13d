"""The operator's HTTP endpoints every service serves (`create_app` includes them): the spans of a
flow from this service's own span files, and the dead letters of the topics it consumes, with
replay. Only the operator principal may call them; a regulator or a city gets 403.

The console reaches these over HTTP (it imports no runtime code) and merges the three services'
answers into one waterfall and one list of dead letters (decision 34). The work is the runtime's own:
`spanfiles` finds the traces (as `regstd trace` does), `dead_letters` lists and replays once
(decision 30).
"""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from regstd.contracts.spans import FlowSpans, TraceSpans
from regstd.contracts.topics import DEAD_LETTER_SUFFIX
from regstd.kernel.errors import Conflict, Invalid, NotFound
from regstd.runtime import dead_letters, telemetry
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.dead_letters import DeadLetter, DeadLetterError, LetterNotFound, LetterRef
from regstd.runtime.http import Caller, refusals
from regstd.runtime.spanfiles import SpanFiles

MAX_SPANS = 10_000
MAX_LETTERS = 500

router = APIRouter(prefix="/operator", tags=["operator"])

_OPERATOR_ONLY = {403: "The caller is not the operator (a regulator or a city may not read this)."}


def _runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


@router.get("/spans", response_model=FlowSpans, responses=refusals(_OPERATOR_ONLY))
async def spans(
    request: Request,
    caller: Caller,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            description="A trace id, a standard number (either dash form), a project id or a standard id.",
        ),
    ],
    limit: Annotated[
        int, Query(ge=1, le=MAX_SPANS, description="At most this many spans, the oldest traces first.")
    ] = 2000,
    store_calls: Annotated[bool, Query(description="Include the store commands' spans.")] = True,
) -> FlowSpans:
    """The spans this service's local span files hold of a flow, by trace, oldest trace first. Other
    services answer for their own spans; the console merges them by trace id."""
    caller.require_operator()
    runtime = _runtime(request)
    service = runtime.settings.service_name
    files = SpanFiles(runtime.settings.spans_dir, services=[service])
    found = await asyncio.to_thread(files.lookup, q)
    traces: list[TraceSpans] = []
    left, truncated = limit, False
    for trace_id, listed in found.items():
        kept = [s for s in listed if store_calls or not s.is_store_call]
        if not kept:
            continue
        if left == 0:
            truncated = True
            break
        traces.append(TraceSpans(trace_id=trace_id, spans=kept[:left]))
        truncated = truncated or len(kept) > left
        left -= min(len(kept), left)
    return FlowSpans(
        service=service,
        query=q,
        kept_locally=telemetry.keeps_local_spans(),
        traces=traces,
        truncated=truncated,
    )


class LetterSummary(BaseModel):
    """One dead letter as listed: where it came from, its event, why it failed, whether replayed."""

    ref: str = Field(description="`<dlq topic>:<partition>:<offset>`: the letter's name for a replay.")
    origin_topic: str | None
    origin_partition: int | None
    origin_offset: int | None
    group: str | None = Field(description="The consumer group that gave up on it.")
    event_id: str | None
    event_type: str | None
    error: str
    attempts: int | None
    failed_at: str = Field(description="When the consumer gave up (ISO 8601, UTC).")
    replayed_at: str | None = Field(description="When it was replayed; null if never.")

    @classmethod
    def of(cls, letter: DeadLetter) -> "LetterSummary":
        """The listing line of a letter."""
        return cls(
            ref=str(letter.ref),
            origin_topic=letter.origin_topic,
            origin_partition=letter.origin_partition,
            origin_offset=letter.origin_offset,
            group=letter.group,
            event_id=letter.event_id,
            event_type=letter.event_type,
            error=letter.error,
            attempts=letter.attempts,
            failed_at=letter.failed_at,
            replayed_at=None if letter.replayed is None else letter.replayed.replayed_at,
        )


class TopicLetters(BaseModel):
    """The dead letters of one consumed topic, newest first."""

    topic: str
    dead_letter_topic: str
    total: int = Field(description="How many letters the dead-letter topic holds.")
    letters: list[LetterSummary]


class DeadLetters(BaseModel):
    """The dead letters of every topic this service consumes."""

    service: str
    topics: list[TopicLetters]


class ReplayAnswer(BaseModel):
    """What a replay did: re-published the letter now, or found the replay recorded before."""

    letter: str
    origin: str = Field(description="`<topic>:<partition>:<offset>` of the original record.")
    replayed_now: bool = Field(description="False: replayed before; this is that replay, nothing was sent.")
    replayed_at: str
    partition: int = Field(description="Partition of the re-published record on the origin topic.")
    offset: int = Field(description="Offset of the re-published record on the origin topic.")


def _consumed(runtime: Runtime) -> list[str]:
    return sorted({consumer.topic.name for consumer in runtime.consumers})


def _one_of_mine(runtime: Runtime, topic: str) -> str:
    consumed = _consumed(runtime)
    origin = topic.removesuffix(DEAD_LETTER_SUFFIX)
    if origin not in consumed:
        raise NotFound(
            f"{runtime.settings.service_name} does not consume {origin}; it consumes "
            f"{', '.join(consumed) or 'no topic'}"
        )
    return origin


@router.get("/dead-letters", response_model=DeadLetters, responses=refusals(_OPERATOR_ONLY))
async def list_dead_letters(
    request: Request,
    caller: Caller,
    topic: Annotated[
        str | None, Query(max_length=200, description="Only this consumed topic (origin or .dlq name).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LETTERS, description="The newest letters of each topic.")] = 50,
) -> DeadLetters:
    """The dead letters of the topics this service consumes, newest first, with their error, event
    type, origin topic/partition/offset and time."""
    caller.require_operator()
    runtime = _runtime(request)
    topics = [_one_of_mine(runtime, topic)] if topic else _consumed(runtime)
    listed = await dead_letters.list_letters(runtime.settings.kafka_bootstrap, topics) if topics else {}
    answer = [
        TopicLetters(
            topic=name,
            dead_letter_topic=dead_letters.dead_letter_topic(name),
            total=len(letters := listed.get(dead_letters.dead_letter_topic(name), [])),
            letters=[LetterSummary.of(letter) for letter in reversed(letters[-limit:])],
        )
        for name in topics
    ]
    return DeadLetters(service=runtime.settings.service_name, topics=answer)


@router.post(
    "/dead-letters/{letter}/replay",
    response_model=ReplayAnswer,
    responses=refusals(
        {
            **_OPERATOR_ONLY,
            409: "The letter names no origin, or another replay of its topic ran at the same time.",
        }
    ),
)
async def replay_dead_letter(
    request: Request,
    caller: Caller,
    letter: Annotated[
        str,
        Path(
            max_length=300,
            description="The letter, `<dlq topic>:<partition>:<offset>` as the listing names it.",
        ),
    ],
) -> ReplayAnswer:
    """Re-publish one letter to its origin topic, partition and key, once: the replay and its record
    are one Kafka transaction; replaying again answers the recorded replay and sends nothing."""
    caller.require_operator()
    runtime = _runtime(request)
    try:
        where = LetterRef.parse(letter)
    except DeadLetterError as error:
        raise Invalid(str(error)) from None
    _one_of_mine(runtime, where.topic)
    try:
        [outcome] = await dead_letters.replay_letters(runtime.settings.kafka_bootstrap, [where])
    except LetterNotFound as error:
        raise NotFound(str(error)) from None
    except DeadLetterError as error:
        raise Conflict(str(error)) from None
    return ReplayAnswer(
        letter=outcome.letter,
        origin=outcome.origin,
        replayed_now=outcome.replayed_now,
        replayed_at=outcome.replay.replayed_at,
        partition=outcome.replay.partition,
        offset=outcome.replay.offset,
    )
