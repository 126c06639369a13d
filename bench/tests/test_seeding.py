"""The preparation's copies: ids in intake's form, every mention replaced, events re-identified."""

from datetime import UTC, datetime

from regstd.bench.seeding import copied_document, copied_events, copy_id, replaced
from regstd.contracts.common import Actor
from regstd.contracts.intake import ProjectProposed
from regstd.runtime.events import from_kafka, new_event, to_kafka
from regstd.runtime.store import OUTBOX, OUTBOX_COUNT, PROCESSED, VERSION


def test_a_copys_id_has_intakes_form_and_differs_per_copy() -> None:
    ids = {copy_id("prj-0123456789ab", i) for i in range(1_000)}
    assert len(ids) == 1_000
    assert all(i.startswith("prj-") and len(i) == 16 for i in ids)


def test_every_string_inside_is_replaced_and_nothing_else_changes() -> None:
    value = {"a": ["prj-x 标题", {"b": "标题 of prj-x"}], "n": 3, "none": None}
    assert replaced(value, {"prj-x": "prj-y", "标题": "新标题"}) == {
        "a": ["prj-y 新标题", {"b": "新标题 of prj-y"}],
        "n": 3,
        "none": None,
    }


def test_a_copied_document_is_a_new_project_with_nothing_waiting() -> None:
    template = {
        "_id": "prj-x",
        "project_id": "prj-x",
        "title_zh": "标题",
        "history": [{"note": "prj-x proposed"}],
        VERSION: 9,
        OUTBOX: [{"id": "e"}],
        OUTBOX_COUNT: 1,
        PROCESSED: ["k"],
    }
    copy = copied_document(template, "prj-y", {"prj-x": "prj-y", "标题": "标题（副本0）"})
    assert copy == {
        "_id": "prj-y",
        "project_id": "prj-y",
        "title_zh": "标题（副本0）",
        "history": [{"note": "prj-y proposed"}],
        VERSION: 1,
        OUTBOX: [],
        OUTBOX_COUNT: 0,
        PROCESSED: [],
    }


def test_copied_events_keep_their_order_and_time_with_fresh_ids_on_the_copys_key() -> None:
    when = datetime(2026, 12, 1, 8, tzinfo=UTC)
    proposed = ProjectProposed(
        project_id="prj-0123456789ab",
        area="chengyu",
        parties=["50", "51"],
        title_zh="川渝标题",
        scope="规定了川渝标题的技术要求。",
        category="transport",
        kind="recommended",
        proposed_by=Actor(kind="regulator", code="50"),
        proposed_at=when,
    )
    sent = to_kafka(new_event(proposed, now=when))
    original = from_kafka(sent.key, sent.value, [(k, v.encode()) for k, v in sent.headers.items()])

    [copy] = copied_events(
        [original], {"prj-0123456789ab": "prj-ba9876543210", "川渝标题": "川渝标题（副本3）"}
    )
    received = from_kafka(copy.key, copy.value, [(k, v.encode()) for k, v in copy.headers.items()])

    assert copy.key == b"prj-ba9876543210"
    assert received.id != original.id
    assert received.type == original.type
    assert received.time == original.time
    assert received.data["project_id"] == "prj-ba9876543210"
    assert received.data["title_zh"] == "川渝标题（副本3）"
    assert received.data["scope"] == "规定了川渝标题（副本3）的技术要求。"
