"""JSON log lines lead to their trace; settings come from REGSTD_* variables and refuse nonsense."""

import asyncio
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError
from pymongo.errors import PyMongoError

from regstd.runtime.bootstrap import Runtime
from regstd.runtime.logs import JsonFormatter
from regstd.runtime.settings import RuntimeSettings


def test_a_log_line_is_json_with_the_current_trace_and_span() -> None:
    record = logging.LogRecord(
        "regstd.test", logging.WARNING, __file__, 1, "ballot %s overdue", ("b-1",), None
    )
    record.project_id = "p-9"
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("handle") as span:
        line = JsonFormatter("publication").format(record)
    entry = json.loads(line)
    context = span.get_span_context()
    assert entry["message"] == "ballot b-1 overdue"
    assert entry["level"] == "warning"
    assert entry["service"] == "publication"
    assert entry["project_id"] == "p-9"
    assert entry["trace_id"] == format(context.trace_id, "032x")
    assert entry["span_id"] == format(context.span_id, "016x")


def test_a_log_line_outside_a_span_has_no_trace_ids() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "started", (), None)
    entry = json.loads(JsonFormatter("intake").format(record))
    assert "trace_id" not in entry


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGSTD_KAFKA_BOOTSTRAP", "127.0.0.1:29092")
    monkeypatch.setenv("REGSTD_CONSUMER_MAX_ATTEMPTS", "7")
    settings = RuntimeSettings(service_name="s", mongo_database="d")
    assert settings.kafka_bootstrap == "127.0.0.1:29092"
    assert settings.consumer_max_attempts == 7


def test_settings_refuse_impossible_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGSTD_CONSUMER_MAX_ATTEMPTS", "0")
    with pytest.raises(ValidationError, match="consumer_max_attempts"):
        RuntimeSettings(service_name="s", mongo_database="d")


def test_a_relay_lease_renewed_less_often_than_it_lasts_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGSTD_RELAY_LEASE_S", "2")
    monkeypatch.setenv("REGSTD_RELAY_LEASE_RENEW_S", "2")
    with pytest.raises(ValidationError, match="relay_lease_renew_s"):
        RuntimeSettings(service_name="s", mongo_database="d")


def test_relay_leases_are_short_and_renewed_often_by_default() -> None:
    settings = RuntimeSettings(service_name="s", mongo_database="d")
    assert (settings.relay_lease_s, settings.relay_lease_renew_s, settings.relay_publish_delay_s) == (5, 1, 0)


async def test_a_store_call_that_gets_no_answer_raises_after_the_configured_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store that accepts connections and never answers (as a hung FerretDB does) makes the call
    raise instead of waiting forever, so the consumer's retries or the relay's next round take over."""
    connections: list[asyncio.StreamWriter] = []

    async def accept_and_stay_silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("REGSTD_MONGO_TIMEOUT_MS", "300")
    settings = RuntimeSettings(
        service_name="svc", mongo_database="db", mongo_url=f"mongodb://127.0.0.1:{port}/"
    )
    runtime = Runtime(settings)
    try:
        assert runtime.mongo.options.timeout == 0.3, "every call of the service's client is bounded"
        with pytest.raises(PyMongoError) as raised:
            # The outer bound only keeps a broken test from hanging the suite.
            await asyncio.wait_for(runtime.database["things"].find_one({"_id": "x"}), timeout=120)
        assert raised.value.timeout
        assert connections, "the call did reach the silent store"
    finally:
        await runtime.mongo.close()
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
