"""The ports of the harmonization use cases: the queries and the import store they need besides the
units of work (`adapters/mongo.py` implements them; the tests have in-memory ones)."""

from typing import Any, Protocol

from regstd.harmonization.domain.adoption import EcoStandard


class EcoStandardListing(Protocol):
    """Finds the eco standards offered for adoption (the registry's read side)."""

    async def find(
        self, *, member: str | None = None, source: str | None = None, adopter: str | None = None
    ) -> list[EcoStandard]:
        """The eco standards offered to `member`, published by `source`, adopted by `adopter`, by id."""
        ...


class LimitImports(Protocol):
    """Where limit imports are kept, one document each with every row: an import is visible
    complete or not at all."""

    async def add(self, document: dict[str, Any]) -> bool:
        """Store an import; False when the same import (same id) is already stored."""
        ...

    async def get(self, import_id: str) -> dict[str, Any] | None:
        """One import with its rows."""
        ...

    async def latest(self, region: str) -> dict[str, Any] | None:
        """The region's latest import with its rows."""
        ...

    async def listing(self, region: str | None) -> list[dict[str, Any]]:
        """Every import (of one region, or all) without its rows, newest first per region."""
        ...
