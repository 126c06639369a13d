"""`Idempotency-Key` on the real Kafka and FerretDB, with two intake instances: a final vote whose
answer was lost gets the same 2xx on its retry (not "the ballot was decided"), also when the
instance that stored it died before keeping the answer; events are on the topic once."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from regstd.runtime.idempotency import COLLECTION, REPLAYED_HEADER, MongoRecordTable
from regstd.runtime.testing import MovableClock, bearer, crash_after_save

from .conftest import SHA, Scenario, proposal_body

TEXT = {"location": "https://texts.example/final.pdf", "sha256": SHA}


def keyed(token: str, key: str) -> dict[str, str]:
    return bearer(token) | {"Idempotency-Key": key}


async def crash(scenario: Scenario, principal: str, key: str) -> None:
    """Leave the key's record as an instance killed after its save and before keeping the answer."""
    records = scenario.services[0].runtime.database[COLLECTION]
    record = await records.find_one({"principal": principal, "key": key})
    assert record is not None
    assert record["state"] == "done", record
    await records.replace_one({"_id": record["_id"]}, crash_after_save(record))


async def test_a_lost_final_vote_is_answered_again_not_refused_and_stored_once(scenario: Scenario) -> None:
    clock = MovableClock()
    first = await scenario.instance(clock, clock_scan_interval_s=3600)
    second = await scenario.instance(clock, clock_scan_interval_s=3600)
    one, other = scenario.client(first), scenario.client(second)
    async with one, other:
        # A proposal whose answer was lost: its retry on the other instance makes no second project.
        proposed = await one.post("/projects", json=proposal_body(), headers=keyed("reg-50", "propose-1"))
        assert proposed.status_code == 201, proposed.text
        pid = proposed.json()["project_id"]
        await crash(scenario, "regulator:50", "propose-1")
        again = await other.post("/projects", json=proposal_body(), headers=keyed("reg-50", "propose-1"))
        assert (again.status_code, again.json()["project_id"]) == (201, pid), again.text
        assert await first.projects.collection.count_documents({}) == 1

        async def step(path: str, token: str, body: dict[str, Any] | None = None) -> httpx.Response:
            answer = await one.post(f"/projects/{pid}{path}", json=body, headers=bearer(token))
            assert answer.status_code == 200, answer.text
            return answer

        for party in ("50", "51"):
            body = {"party": party, "position": "approve"}
            await step("/ballots/project_approval/positions", f"reg-{party}", body)
        await step("/drafting", "reg-50")
        await step("/public-comment", "reg-50")
        clock.advance(days=31)
        await step("/public-comment/close", "reg-50")
        for party in ("50", "51"):
            body = {"party": party, "conclusion": "同意", "passed": True}
            await step("/review-conclusions", f"reg-{party}", body)
        await step("/submission", "reg-51", {"text": TEXT})
        await step("/ballots/final_approval/positions", "reg-51", {"party": "51", "position": "approve"})

        vote = f"/projects/{pid}/ballots/final_approval/positions"
        final = {"party": "50", "position": "approve"}
        answered = await one.post(vote, json=final, headers=keyed("reg-50", "final-50"))
        assert answered.status_code == 200, answered.text
        assert answered.json()["status"] == "finally_approved"

        replayed = await other.post(vote, json=final, headers=keyed("reg-50", "final-50"))
        assert (replayed.status_code, replayed.json()) == (200, answered.json())
        assert replayed.headers[REPLAYED_HEADER] == "true"

        reused = await other.post(
            vote, json=final | {"position": "reject"}, headers=keyed("reg-50", "final-50")
        )
        assert reused.status_code == 422, reused.text
        assert reused.json()["error"] == "idempotency_key_reused"

        # The instance that answered died after its save, before the answer was kept.
        await crash(scenario, "regulator:50", "final-50")
        recovered = await other.post(vote, json=final, headers=keyed("reg-50", "final-50"))
        assert recovered.status_code == 200, recovered.text
        assert REPLAYED_HEADER not in recovered.headers, "executed again, and found its change done"
        assert recovered.json()["status"] == "finally_approved"
        assert recovered.json()["ballots"] == answered.json()["ballots"]

        # A real conflict still says so: another request (no key, or another key) on a decided ballot.
        fresh = await other.post(vote, json=final, headers=keyed("reg-50", "final-50-later"))
        assert fresh.status_code == 409, fresh.text
        assert "decided" in fresh.json()["message"]
        # Another principal's same key is its own: not a reuse of reg-50's, not its answer.
        theirs = await other.post(
            vote, json={"party": "51", "position": "approve"}, headers=keyed("reg-51", "final-50")
        )
        assert theirs.status_code == 409, theirs.text
        assert theirs.json()["error"] == "conflict"

    keys = first.runtime.database[COLLECTION]
    assert "expiry" in await keys.index_information()
    assert await keys.count_documents({}) == 4  # the two refusals are kept too
    sweep = MongoRecordTable(keys)
    assert await sweep.remove_expired(datetime.now(UTC)) == 0
    assert await sweep.remove_expired(datetime.now(UTC) + timedelta(hours=24, minutes=1)) == 4
    events = await scenario.events_of(pid)
    kinds = [e["type"].split(".", 3)[3] for e in events]
    assert kinds.count("project.proposed.v1") == 1
    assert kinds.count("project.finally-approved.v1") == 1
    assert kinds.count("ballot.decided.v1") == 2, "each ballot decided once"
    assert len({e["id"] for e in events}) == len(events)
