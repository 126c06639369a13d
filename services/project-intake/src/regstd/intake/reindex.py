"""`python -m regstd.intake.reindex`: rebuild the overlap index from intake's store (decision 35).

A running intake keeps answering meanwhile (proposals made during the rebuild are added beside
it). Intake also rebuilds the index at start when it is missing or of an older scheme; this command
is for an operator who wants it rebuilt now, and for the bench, which loads its records straight
into the store. Prints what it did as JSON.
"""

import asyncio
import json

from pymongo import AsyncMongoClient

from regstd.intake.adapters.overlap_index import MongoOverlapIndex, Rebuilt
from regstd.intake.settings import IntakeSettings
from regstd.runtime.store import Document


async def rebuild(settings: IntakeSettings) -> Rebuilt:
    """Rebuild the overlap index of the database the settings name."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_url)
    try:
        database = client[settings.mongo_database]
        index = MongoOverlapIndex(
            database["overlap_index"],
            projects=database["projects"],
            standards=database["published_standards"],
        )
        return await index.rebuild()
    finally:
        await client.close()


def main() -> None:
    """Rebuild, then print the counts and the seconds it took."""
    done = asyncio.run(rebuild(IntakeSettings()))
    print(
        json.dumps(
            {
                "candidates": done.candidates,
                "terms": done.terms,
                "documents": done.documents,
                "seconds": done.seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
