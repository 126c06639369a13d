"""Dead letters for operators, against the real Kafka and FerretDB: list, show, replay after a fix.

"After a fix" here: a handler failed for a cause outside the event (a downstream outage, a bug fixed
since) until it gave up and dead-lettered a valid event; once the cause is gone, replaying the letter
has the event processed once. A letter whose record cannot be decoded at all is re-published too
(once, however often it is replayed) and lands again on the dead-letter topic as a new letter.
"""

from collections.abc import Callable

import pytest

from regstd.runtime.bootstrap import Runtime
from regstd.runtime.dead_letters import (
    REPLAYED_FROM,
    DeadLetterError,
    LetterNotFound,
    LetterRef,
    list_letters,
    replay_letters,
    show_letter,
)
from regstd.runtime.events import new_event, to_kafka
from regstd.runtime.testing import ce, eventually, read_topic

from .conftest import ThingFactory
from .test_pipeline_infra import Outage, Pipeline, equals, total

RuntimeFactory = Callable[..., Runtime]


async def test_a_letter_is_listed_shown_and_replayed_once_after_the_fix(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    topic, thing = new_thing_event()
    outage = Outage()
    producer, consumer = runtimes(), runtimes()
    tallies = consumer.aggregate_store("tallies")
    consumer.consume(topic, "tally", {thing: outage.handler(tallies)})
    p = Pipeline(topic, thing, producer, consumer, producer.aggregate_store("things"), tallies)
    bootstrap = producer.settings.kafka_bootstrap
    await p.start()

    event = to_kafka(new_event(thing(thing_id="t-r", n=7)))
    await producer.broker.publish(event.value, topic.name, key=event.key, headers=event.headers)
    # The normal event headers with a body that is no JSON: no valid CloudEvent, no usable id.
    await producer.broker.publish(b"{not json", topic.name, key=b"t-r", headers=event.headers)
    await p.until_committed(2)
    originals = await read_topic(bootstrap, topic.name)

    listed = await list_letters(bootstrap, [topic.name])
    assert list(listed) == [topic.dead_letter]
    failed, poison = listed[topic.dead_letter]
    assert failed.origin == f"{topic.name}:{failed.origin_partition}:0"
    assert poison.origin == f"{topic.name}:{failed.origin_partition}:1"
    assert failed.event_type == thing.event_type
    assert failed.event_id == event.headers["ce_id"]
    assert failed.error == "RuntimeError: the downstream register is down"
    assert failed.group == "tally"
    assert failed.replayed is None
    assert poison.error.startswith("InvalidEvent: ")
    latest = await list_letters(bootstrap, [topic.name], limit=1)
    assert [letter.ref for letter in latest[topic.dead_letter]] == [poison.ref]

    shown = await show_letter(bootstrap, f"{topic.dead_letter}:0:{poison.ref.offset}")
    assert shown.preview() == "{not json"
    assert shown.key == b"t-r"
    assert shown.original_headers == ce(originals[1]), "as received, FastStream's correlation_id too"
    assert shown.details()["headers"]["x-dlq-attempts"] == "1"
    with pytest.raises(LetterNotFound, match="offsets 0 to 1"):
        await show_letter(bootstrap, f"{topic.name}:0:99")
    with pytest.raises(DeadLetterError, match="not a letter reference"):
        LetterRef.parse("nowhere")

    outage.end()  # the fix
    [outcome] = await replay_letters(bootstrap, [failed.ref])
    assert outcome.replayed_now
    assert outcome.origin == failed.origin
    await eventually(lambda: equals(total(tallies, "t-r"), 7), what="the replayed event's effect", within=30)

    again = await replay_letters(bootstrap, [str(failed.ref), str(failed.ref)])
    assert [o.replayed_now for o in again] == [False, False]
    assert all(o.replay == outcome.replay for o in again)
    for _ in range(2):
        await replay_letters(bootstrap, [poison.ref])
    # The replayed poison fails again (offsets are no count here: a transaction's commit marker
    # takes an offset of its own).
    await read_topic(bootstrap, topic.dead_letter, lambda letters: len(letters) >= 3, within=30)

    records = await read_topic(bootstrap, topic.name)
    assert len(records) == 4, "each letter re-published once, however often replayed"
    replayed = [r for r in records if REPLAYED_FROM in ce(r)]
    assert [ce(r)[REPLAYED_FROM] for r in replayed] == [str(failed.ref), str(poison.ref)]
    assert [(r.key, r.value) for r in replayed] == [(event.key, event.value), (b"t-r", b"{not json")]
    assert {k: v for k, v in ce(replayed[0]).items() if k != REPLAYED_FROM} == ce(originals[0])
    assert await total(tallies, "t-r") == 7, "the replayed event had its effect once"

    after = (await list_letters(bootstrap, [topic.name]))[topic.dead_letter]
    assert len(after) == 3, "the replayed poison failed again: a new letter, from its new place"
    assert [letter.replayed is not None for letter in after] == [True, True, False]
    assert after[2].origin == f"{topic.name}:{replayed[1].partition}:{replayed[1].offset}"

    outcomes = await replay_letters(bootstrap, all_of=topic.name)
    assert [o.replayed_now for o in outcomes] == [False, False, True], "--all skips what was replayed"
