"""Where publication keeps what it saw of intake's projects (`projects`) and the approvals it refused
(`refusals`, one per refused approval under the id the standard would have had): the runtime's
aggregate store through the unit of work with these codecs, and the feeds' read of refusals."""

from collections.abc import Sequence

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from regstd.publication.domain.approval import ProjectRecord, Refusal
from regstd.runtime.store import Document
from regstd.runtime.unit_of_work import Codec

PROJECTS: Codec[ProjectRecord] = Codec(ProjectRecord.to_dict, ProjectRecord.from_dict)
"""How a project record is kept in its document."""

REFUSALS: Codec[Refusal] = Codec(Refusal.to_dict, Refusal.from_dict)
"""How a refused approval is kept in its document."""

_NO_META = {"_outbox": False, "_processed": False, "_relay_lease": False}


class RefusalQueries:
    """The refusals the feeds show."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """The feeds read refusals by area."""
        await self.collection.create_index([("area", ASCENDING)], name="by_area")

    async def refused(self, areas: Sequence[str]) -> list[Refusal]:
        """Every refused approval of projects of these areas."""
        cursor = self.collection.find({"area": {"$in": list(areas)}}, projection=_NO_META)
        return [Refusal.from_dict(doc["_id"], doc) async for doc in cursor]
