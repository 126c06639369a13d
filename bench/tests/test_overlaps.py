"""The overlap phase's made-up records and its verdict."""

import random

from regstd.bench.overlaps import near_duplicate, project_document, targets, title_and_scope
from regstd.runtime.store import OUTBOX, OUTBOX_COUNT, RELAY_LEASE, VERSION


def test_records_are_chinese_titles_and_scopes_and_a_near_duplicate_keeps_the_subject() -> None:
    rng = random.Random(1)
    title, scope = title_and_scope(rng)
    assert title
    assert scope.startswith("本文件规定了")
    again, again_scope = near_duplicate(title, scope, rng)
    assert again != title or again_scope != scope
    assert again.endswith(title[-4:])


def test_a_copied_project_has_its_own_id_and_nothing_in_its_outbox() -> None:
    template = {"_id": "prj-1", "project_id": "prj-1", "title_zh": "甲", "scope": "乙", "status": "x"}
    template |= {VERSION: 7, OUTBOX: [{"e": 1}], OUTBOX_COUNT: 1, RELAY_LEASE: {"until": 1}}
    doc = project_document(template, "prj-2", "丙", "丁")
    assert (doc["_id"], doc["project_id"], doc["title_zh"], doc["scope"]) == ("prj-2", "prj-2", "丙", "丁")
    assert (doc[VERSION], doc[OUTBOX], doc[OUTBOX_COUNT], doc["status"]) == (1, [], 0, "x")
    assert RELAY_LEASE not in doc


def test_the_target_is_the_p99_of_proposing_against_100_ms() -> None:
    figures = {"records": 80_000, "propose": {"p99_ms": 120.0}}
    [target] = targets(figures)
    assert (target.figure, target.limit, target.verdict) == (120.0, 100.0, "miss")
    assert "80,000" in target.name
