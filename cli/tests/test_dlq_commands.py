"""`regstd dlq` without a broker: what it refuses before connecting, and where it finds Kafka."""

import json
from pathlib import Path

from typer.testing import CliRunner

from regstd.cli.dlq import DEFAULT_BOOTSTRAP, kafka_address
from regstd.cli.main import app


def test_replay_needs_letters_or_a_topic() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["dlq", "replay", "--bootstrap", "nowhere:1"]).exit_code == 2
    assert runner.invoke(app, ["dlq", "replay", "--all", "--bootstrap", "nowhere:1"]).exit_code == 2
    bad = runner.invoke(app, ["dlq", "show", "no-offset-here", "--bootstrap", "nowhere:1"])
    assert bad.exit_code == 1
    assert "not a letter reference" in bad.output


def test_the_kafka_address_comes_from_the_option_the_token_book_or_the_default(tmp_path: Path) -> None:
    book = tmp_path / "local.json"
    assert kafka_address(None, book) == DEFAULT_BOOTSTRAP
    book.write_text(json.dumps({"endpoints": {"kafka": "127.0.0.1:19092"}, "tokens": []}))
    assert kafka_address(None, book) == "127.0.0.1:19092"
    assert kafka_address("elsewhere:9092", book) == "elsewhere:9092"
