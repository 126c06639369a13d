"""`regstd submit` against publication's real submission route served over HTTP, with storage in
memory: the digest is computed from the file, the standard is published once, refusals are shown."""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regstd.cli.main import app
from regstd.contracts.publication import StandardPublished
from regstd.publication.app.submissions import SubmissionCases
from regstd.publication.http import submissions as submission_routes
from regstd.runtime.testing import free_port

from .served import REFERENCE, MemoryStandards, app_of, serving, token_book

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TEXT = "川西高原生态修复技术规范\n1 范围\n本文件规定了退化草地生态修复的技术要求。\n".encode()


@dataclass
class Served:
    tokens: Path
    text: Path
    standards: MemoryStandards

    def submit(self, *changes: str, acting_as: str = "51", number: str = "DB51/T 3125—2026") -> Any:
        args = [
            "submit", "--as", acting_as, "--number", number, "--title-zh", "川西高原生态修复技术规范",
            "--category", "ecology", "--eco", "--published", "2026-03-01", "--implemented", "2026-06-01",
            "--text-location", "https://texts.example/db51-3125.pdf", "--text-file", str(self.text),
            "--area", "yangtze", *changes, "--tokens", str(self.tokens),
        ]  # fmt: skip
        return CliRunner().invoke(app, args, terminal_width=200)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    book = token_book(tmp_path / "local.json", {"publication": f"http://127.0.0.1:{port}"})
    standards = MemoryStandards(lambda: NOW)
    submissions = SubmissionCases(standards.work, standards, REFERENCE, designations=standards)
    text = tmp_path / "db51-3125.pdf"
    text.write_bytes(TEXT)
    with serving(app_of([submission_routes.router], book, uses=[submissions]), port):
        yield Served(book, text, standards)


def test_submit_publishes_the_regions_own_standard_with_the_files_digest_once(served: Served) -> None:
    done = served.submit()
    assert done.exit_code == 0, done.output
    assert (
        "DB51/T 3125—2026 川西高原生态修复技术规范 (std-51-t-3125-2026): published to yangtze" in done.output
    )
    assert "published 2026-03-01, in force 2026-06-01" in done.output
    standard = served.standards.docs["std-51-t-3125-2026"]
    assert standard.text.sha256 == hashlib.sha256(TEXT).hexdigest()
    assert standard.text.location == "https://texts.example/db51-3125.pdf"
    assert (standard.eco_civilization, standard.kind, standard.parties) == (True, "recommended", ("51",))
    (event,) = served.standards.outbox
    assert event.type == StandardPublished.event_type
    assert event.data["project_id"] is None

    again = served.submit(number="DB51/T 3125-2026")  # the same submission, the other dash
    assert again.exit_code == 0, again.output
    assert len(served.standards.outbox) == 1  # published once

    served.text.write_bytes(TEXT + b"changed")
    other = served.submit()
    assert other.exit_code == 1
    assert "refused 409" in other.output
    assert "already submitted with other content" in other.output


def test_submit_refusals_record_nothing(served: Served) -> None:
    another_region = served.submit(acting_as="50")
    assert another_region.exit_code == 1
    assert "refused 403" in another_region.output
    assert "submits only its own standards" in another_region.output
    city = served.submit(acting_as="510100")
    assert city.exit_code == 1
    assert "refused 403" in city.output
    in_block = served.submit(number="DB51/T 10123—2026")
    assert in_block.exit_code == 1
    assert "lies in a joint number block" in in_block.output
    wrong_kind = served.submit("--mandatory")
    assert wrong_kind.exit_code == 1
    assert "says mandatory" in wrong_kind.output
    bad_date = served.submit("--published", "1.3.2026")
    assert bad_date.exit_code == 2
    assert "'1.3.2026' is not a date" in bad_date.output
    missing = served.submit("--text-file", str(served.text.with_name("nowhere.pdf")))
    assert missing.exit_code == 2
    assert served.standards.docs == {}
    assert served.standards.outbox == []
