"""The edge of publication's HTTP API without infrastructure: input the store cannot hold is refused
before any route reads the catalogue (issue 14)."""

from typing import Any

import httpx
import pytest

from regstd.publication.adapters.catalogue import Filters
from regstd.publication.main import PublicationService
from regstd.publication.settings import PublicationSettings
from regstd.runtime.testing import bearer

from .conftest import TOKENS

HUGE = "99999999999999999999999999"


@pytest.fixture
def read() -> list[str]:
    return []


@pytest.fixture
def client(read: list[str], monkeypatch: pytest.MonkeyPatch) -> httpx.AsyncClient:
    settings = PublicationSettings(mongo_url="mongodb://127.0.0.1:9/", mongo_database="unused")
    service = PublicationService(settings, TOKENS)

    async def reading(*_: Any, **__: Any) -> Any:
        read.append("catalogue")
        raise AssertionError("the catalogue was read")

    for name in ("search", "block", "get"):
        monkeypatch.setattr(service.catalogue, name, reading)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://publication")


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (f"/standards?offset={HUGE}", "query.offset"),
        (f"/blocks/chengyu?offset={HUGE}", "query.offset"),
        ("/blocks/chengyu?limit=201", "query.limit"),
        ("/standards?area=%00", "query.area"),
        ("/standards?category=a%ED%A0%80", "query.category"),
        ("/standards?clock_state=late", "query.clock_state.0"),
        ("/blocks/%00", "path.area"),
        ("/standards/%00", "path.standard_id"),
    ],
)
async def test_input_the_store_cannot_hold_is_refused_at_the_edge(
    client: httpx.AsyncClient, read: list[str], path: str, where: str
) -> None:
    # Regression (issue 14): a huge offset overflowed the store; a NUL reached it. Both gave 500.
    response = await client.get(path, headers=bearer("reg-50"))
    assert response.status_code == 422, response.text
    answer = response.json()
    assert (answer["error"], [d["where"] for d in answer["details"]]) == ("invalid_request", [where])
    assert read == []


def test_the_clock_state_filter_asks_for_a_standard_with_one_clock_in_those_states() -> None:
    query = Filters(party="50", clock_states=("due_soon", "overdue")).query()
    assert query == {
        "parties": "50",
        "life.clocks.state": {"$in": ["due_soon", "overdue"]},
    }
    assert "life.clocks.state" not in Filters(party="50").query()
