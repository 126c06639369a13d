"""The committed JSON Schemas are current, and the compatibility rule catches breaking changes."""

import copy
from typing import Any, ClassVar

import pytest
from pydantic import Field

from regstd.contracts import EVENT_TYPES, EventModel, StandardPublished
from regstd.contracts.schemas import breaking_changes, export_schema, load_committed, render, schema_path
from regstd.contracts.topics import PUBLICATION_STANDARDS, Topic


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_committed_schema_is_current_and_compatible(event_type: str) -> None:
    current = export_schema(EVENT_TYPES[event_type])
    committed = load_committed(event_type)
    assert committed is not None, f"no committed schema at {schema_path(event_type)}: run `make schemas`"
    assert breaking_changes(committed, current) == []
    assert render(committed) == render(current), "the committed schema is stale: run `make schemas`"


def test_every_event_type_is_exported_once() -> None:
    assert "cn.regstd.publication.standard.published.v1" in EVENT_TYPES
    assert EVENT_TYPES["cn.regstd.publication.standard.published.v1"] is StandardPublished


@pytest.fixture
def published() -> dict[str, Any]:
    return export_schema(StandardPublished)


def test_adding_an_optional_field_is_compatible(published: dict[str, Any]) -> None:
    new = copy.deepcopy(published)
    new["properties"]["remarks"] = {"type": "string", "default": ""}
    assert breaking_changes(published, new) == []


def test_removing_a_field_is_breaking(published: dict[str, Any]) -> None:
    new = copy.deepcopy(published)
    del new["properties"]["category"]
    new["required"].remove("category")
    assert breaking_changes(published, new) == ["$.category: field removed or renamed"]


def test_renaming_a_field_is_breaking(published: dict[str, Any]) -> None:
    new = copy.deepcopy(published)
    new["properties"]["domain"] = new["properties"].pop("category")
    new["required"] = [("domain" if r == "category" else r) for r in new["required"]]
    problems = breaking_changes(published, new)
    assert "$.category: field removed or renamed" in problems
    assert "$.domain: field is required now (new fields must be optional)" in problems


def test_changing_a_type_is_breaking(published: dict[str, Any]) -> None:
    new = copy.deepcopy(published)
    new["properties"]["sequence"] = {"type": "string"}
    assert breaking_changes(published, new) == ["$.sequence: type changed from integer to string"]


def test_a_new_required_field_is_breaking(published: dict[str, Any]) -> None:
    new = copy.deepcopy(published)
    new["properties"]["remarks"] = {"type": "string"}
    new["required"].append("remarks")
    assert breaking_changes(published, new) == [
        "$.remarks: field is required now (new fields must be optional)"
    ]


def test_a_change_inside_a_nested_model_is_breaking(published: dict[str, Any]) -> None:
    new = copy.deepcopy(published)
    new["$defs"]["TextReference"]["properties"]["sha256"] = {"type": "integer"}
    assert breaking_changes(published, new) == ["$.text.sha256: type changed from string to integer"]
    inside_list = copy.deepcopy(published)
    del inside_list["$defs"]["PartyNumber"]["properties"]["party"]
    assert breaking_changes(published, inside_list) == ["$.numbers[].party: field removed or renamed"]


def test_changing_allowed_values_is_breaking(published: dict[str, Any]) -> None:
    new = copy.deepcopy(published)
    new["properties"]["kind"]["enum"] = ["recommended"]
    assert breaking_changes(published, new) != []


def test_an_event_type_must_follow_the_naming_convention() -> None:
    with pytest.raises(TypeError, match=r"is not cn\.regstd"):

        class Badly(EventModel):
            event_type: ClassVar[str] = "regstd.thing.v1"
            topic: ClassVar[Topic] = PUBLICATION_STANDARDS
            subject_field: ClassVar[str] = "thing_id"
            thing_id: str = Field()


def test_an_event_type_cannot_be_registered_twice() -> None:
    with pytest.raises(TypeError, match="already StandardPublished"):

        class Impostor(EventModel):
            event_type: ClassVar[str] = StandardPublished.event_type
            topic: ClassVar[Topic] = PUBLICATION_STANDARDS
            subject_field: ClassVar[str] = "standard_id"
            standard_id: str


def test_consumers_ignore_unknown_fields(published: dict[str, Any]) -> None:
    data = {
        "standard_id": "s-1",
        "area": "chengyu",
        "parties": ["50", "51"],
        "numbers": [
            {"party": "50", "number": "DB50/T 10001—2026"},
            {"party": "51", "number": "DB51/T 10001—2026"},
        ],
        "sequence": 10001,
        "year": 2026,
        "title_zh": "川渝地区标准",
        "category": "transport",
        "kind": "recommended",
        "publication_date": "2026-11-22",
        "implementation_date": "2027-02-22",
        "text": {"location": "https://example.org/t.pdf", "sha256": "a" * 64, "pages": 12},
        "published_at": "2026-11-22T02:00:00Z",
        "added_in_a_later_minor": {"x": 1},
    }
    event = StandardPublished.model_validate(data)
    assert event.subject == "s-1"
    assert event.source() == "/regstd/publication"
    assert "added_in_a_later_minor" not in event.model_dump()
