"""The operator's dead-letter endpoints against the real Kafka and FerretDB: a service lists the
letters of the topic it consumes, the operator replays one after the fix, and replaying it again
answers the recorded replay without a second publish."""

from collections.abc import Callable

import httpx

from regstd.kernel.principals import Principal
from regstd.runtime.auth import IssuedToken, TokenBook
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.dead_letters import REPLAYED_FROM
from regstd.runtime.events import new_event, to_kafka
from regstd.runtime.http import create_app
from regstd.runtime.testing import bearer, ce, eventually, read_topic

from .conftest import ThingFactory
from .test_pipeline_infra import Outage, Pipeline, equals, total

RuntimeFactory = Callable[..., Runtime]
TOKENS = {
    "ops": Principal(kind="operator", code="ops", name="operator"),
    "chongqing": Principal(kind="regulator", code="50", name="重庆"),
}


async def test_the_operator_lists_a_consumed_topics_letters_and_replays_one_once(
    runtimes: RuntimeFactory, new_thing_event: ThingFactory
) -> None:
    topic, thing = new_thing_event()
    outage = Outage()
    producer, consumer = runtimes(), runtimes()
    tallies = consumer.aggregate_store("tallies")
    consumer.consume(topic, "tally", {thing: outage.handler(tallies)})
    p = Pipeline(topic, thing, producer, consumer, producer.aggregate_store("things"), tallies)
    await p.start()
    book = TokenBook([IssuedToken(token=t, principal=who) for t, who in TOKENS.items()])
    app = create_app(title="t", description="t", runtime=consumer, tokens=book, routers=[])
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60)

    event = to_kafka(new_event(thing(thing_id="t-o", n=5)))
    await producer.broker.publish(event.value, topic.name, key=event.key, headers=event.headers)
    await p.until_committed(1)

    listing = await api.get("/operator/dead-letters", headers=bearer("ops"))
    assert listing.status_code == 200, listing.text
    [listed] = listing.json()["topics"]
    assert listed["topic"] == topic.name
    assert listed["dead_letter_topic"] == topic.dead_letter
    assert listed["total"] == 1
    [letter] = listed["letters"]
    assert letter["error"] == "RuntimeError: the downstream register is down"
    assert letter["event_type"] == thing.event_type
    assert letter["origin_topic"] == topic.name
    assert letter["origin_offset"] == 0
    assert letter["group"] == "tally"
    assert letter["replayed_at"] is None

    refused = await api.post(f"/operator/dead-letters/{letter['ref']}/replay", headers=bearer("chongqing"))
    assert refused.status_code == 403
    assert len(await read_topic(producer.settings.kafka_bootstrap, topic.name)) == 1, "nothing sent"

    outage.end()  # the fix
    replayed = await api.post(f"/operator/dead-letters/{letter['ref']}/replay", headers=bearer("ops"))
    assert replayed.status_code == 200, replayed.text
    first = replayed.json()
    assert first["replayed_now"] is True
    assert first["origin"] == f"{topic.name}:{letter['origin_partition']}:0"
    await eventually(lambda: equals(total(tallies, "t-o"), 5), what="the replayed event's effect", within=30)

    again = await api.post(f"/operator/dead-letters/{letter['ref']}/replay", headers=bearer("ops"))
    assert again.status_code == 200, again.text
    assert again.json() == first | {"replayed_now": False}, "the recorded replay, not a second one"
    records = await read_topic(producer.settings.kafka_bootstrap, topic.name)
    assert [ce(r).get(REPLAYED_FROM) for r in records] == [None, letter["ref"]], "re-published once"

    after = await api.get(
        "/operator/dead-letters", params={"topic": topic.dead_letter}, headers=bearer("ops")
    )
    assert after.json()["topics"][0]["letters"][0]["replayed_at"] == first["replayed_at"]
    missing = await api.post(f"/operator/dead-letters/{topic.dead_letter}:0:99/replay", headers=bearer("ops"))
    assert missing.status_code == 404
    assert "no dead letter" in missing.json()["message"]
    await api.aclose()
