"""JSON log lines lead to their trace; settings come from REGSTD_* variables and refuse nonsense."""

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

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
