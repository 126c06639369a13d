"""The short fault suite on the test session's stack: one kill -9 (publication), poison records with
real headers, a replay from the run's earliest offset; 20 joint approvals each. `make chaos` runs
the full suite on a stack of its own."""

from pathlib import Path
from typing import Any

import pytest

from regstd.bench.chaos import Chaos, short_suite
from regstd.runtime.testing import drop_databases

APPROVALS = 20


async def test_the_short_fault_suite_loses_nothing_numbers_nothing_twice_and_dead_letters_poison(
    stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chaos = Chaos(stack.kafka_bootstrap, stack.mongo_url, tmp_path)
    try:
        await chaos.start_system()
        outcomes = await short_suite(chaos, APPROVALS)
    finally:
        chaos.stop_all()
        await drop_databases(stack.mongo_url, *chaos.databases.values())
    with capsys.disabled():  # the figures belong in the test run's output
        print("\n" + "\n".join(o.line() for o in outcomes))
    assert [o.scenario for o in outcomes] == ["kill -9 publication", "poison records", "replay from earliest"]
    for outcome in outcomes:
        assert outcome.ok, outcome.line()
        assert (outcome.sent, outcome.accepted, outcome.published) == (APPROVALS,) * 3, outcome.line()
    poison = outcomes[1]
    assert poison.poison_sent == 5
