"""The overlap index in its own collection (`overlap_index`), and its rebuild from the stores.

FerretDB (1.24, on PostgreSQL) serves only `_id` lookups from an index: a filter on any other field,
`$in` or equality, scans the collection. So every read here is an `_id $in` of ids computed from the
terms:

- `<term>|<b>` (b in 0…BUCKETS−1): the postings of the term whose ref hashes to bucket b, as
  `p: ["ref|kind|flags|title terms|scope terms", …]` (`Posting.to_row`; a string, since the store
  takes no nested arrays), written by a rebuild only.
- `<term>|+<b>` (b in 0…ADDED_BUCKETS−1): the postings added since the rebuild, by `$addToSet`
  upserts. The store rewrites a document whole on each update: these hold only the additions, spread
  over more buckets, so the rewrite stays small however large the rebuilt index is.
- `~freq|<i>`: how many candidates each term had at the last rebuild (`f: {term: n}`, 5,000 terms a
  document). Each process keeps them in memory, read again a minute after it last read them; a
  proposal's check reads the postings of its rarest terms up to `budget` postings (decision 35).
- `~state`: the scheme the index was built with (missing or another one means a rebuild) and how
  many frequency documents there are.
"""

import logging
import time
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from regstd.intake.domain.overlap import Candidate
from regstd.intake.domain.overlap_index import SCHEME, Posting, Terms, postings_of, within_budget
from regstd.runtime.store import Document

log = logging.getLogger(__name__)

STATE_ID = "~state"
BUCKETS = 4
"""Rebuilt postings documents per term: fewer make a read's `$in` shorter."""
ADDED_BUCKETS = 16
"""Documents per term for the postings added since the rebuild: more keep each smaller to rewrite."""
FREQUENCIES_PER_DOCUMENT = 5_000
FREQUENCIES_FOR_S = 60.0
"""How long a process uses the frequencies it read: they change only with a rebuild."""
DEFAULT_BUDGET = 1_000
STALE_AFTER = 4
"""Postings read beyond this many budgets mean the frequencies in memory are out of date."""
"""Postings a check reads at most (beyond its rarest term's): the cost of a check at any size."""

_SCHEME = f"{SCHEME}/{BUCKETS}/{ADDED_BUCKETS}/frequencies-1"
"""The terms' scheme and the buckets per term: an index built with others is rebuilt."""


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did."""

    candidates: int
    terms: int
    documents: int
    seconds: float


def bucket_of(ref: str, buckets: int = BUCKETS) -> int:
    """The bucket of a candidate's postings: the same in every process (not Python's `hash`)."""
    return zlib.crc32(ref.encode()) % buckets


class MongoOverlapIndex:
    """`OverlapIndex` over its own collection, rebuilt from the projects' and standards' collections."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        projects: AsyncCollection[Document],
        standards: AsyncCollection[Document],
        budget: int = DEFAULT_BUDGET,
    ) -> None:
        self.collection = collection
        self.projects = projects
        self.standards = standards
        self.budget = budget
        self._frequencies: dict[str, int] = {}
        self._frequencies_read_at: float | None = None

    async def add(self, candidates: Sequence[Candidate]) -> None:
        """Each posting into its term's bucket of additions, in one unordered bulk write; adding
        twice changes nothing (`$addToSet`)."""
        updates = [
            UpdateOne(
                {"_id": f"{term}|+{bucket_of(posting.ref, ADDED_BUCKETS)}"},
                {"$set": {"t": term}, "$addToSet": {"p": posting.to_row()}},
                upsert=True,
            )
            for candidate in candidates
            for term, posting in postings_of(candidate).items()
        ]
        # One bulk write: the store locks a collection's writes (decision 38), so several side by
        # side would only wait for each other, one call each.
        if updates:
            await self.collection.bulk_write(updates, ordered=False)

    async def postings(self, query: Terms) -> list[tuple[str, Posting]]:
        """The postings of the query's rarest terms, within the budget: two reads by `_id`."""
        terms = sorted(query.all)
        if not terms:
            return []
        counts = await self.frequencies()
        chosen = within_budget({t: counts.get(t, 0) for t in terms}, self.budget)
        buckets = [str(b) for b in range(BUCKETS)] + [f"+{b}" for b in range(ADDED_BUCKETS)]
        ids = [f"{t}|{b}" for t in chosen for b in buckets]
        cursor = self.collection.find({"_id": {"$in": ids}}, projection={"_id": False, "t": True, "p": True})
        found = [(doc["t"], Posting.of_row(row)) async for doc in cursor for row in doc["p"]]
        if len(found) > STALE_AFTER * self.budget:
            # Far over the budget: the frequencies predate a rebuild (by another process or the
            # command); read them again at the next check rather than at the minute.
            self._frequencies_read_at = None
        return found

    async def frequencies(self) -> dict[str, int]:
        """The terms' frequencies at the last rebuild, as this process last read them."""
        read_at = self._frequencies_read_at
        if read_at is None or time.monotonic() - read_at > FREQUENCIES_FOR_S:
            state = await self.collection.find_one({"_id": STATE_ID}) or {}
            ids = [f"~freq|{i}" for i in range(int(state.get("frequency_documents", 0)))]
            found: dict[str, int] = {}
            if ids:
                async for doc in self.collection.find({"_id": {"$in": ids}}):
                    found.update(doc["f"])
            self._frequencies, self._frequencies_read_at = found, time.monotonic()
        return self._frequencies

    async def built(self) -> bool:
        """Whether the index was built with the current scheme."""
        state = await self.collection.find_one({"_id": STATE_ID})
        return state is not None and state.get("scheme") == _SCHEME

    async def ensure_built(self) -> Rebuilt | None:
        """Rebuild the index when it is missing or of another scheme (a start-up step)."""
        if await self.built():
            return None
        return await self.rebuild()

    async def rebuild(self) -> Rebuilt:
        """Build the index again from every project not rejected and every standard.

        The new documents replace the old ones term by term (insert after delete), so a proposal
        checked meanwhile may miss a term's postings for a moment; the state document is written last,
        so a rebuild cut short is done again at the next start.
        """
        began = time.monotonic()
        buckets: dict[str, list[str]] = defaultdict(list)
        counts: dict[str, int] = defaultdict(int)
        candidates = 0
        async for doc in self.projects.find(
            {"status": {"$ne": "rejected"}}, projection={"title_zh": True, "scope": True}
        ):
            candidates += 1
            _collect(buckets, counts, Candidate("project", doc["_id"], doc["title_zh"], doc["scope"]))
        async for doc in self.standards.find({}, projection={"title_zh": True}):
            candidates += 1
            _collect(buckets, counts, Candidate("standard", doc["_id"], doc["title_zh"]))
        docs: list[Document] = [
            {"_id": key, "t": key.rsplit("|", 1)[0], "p": rows} for key, rows in buckets.items()
        ]
        frequencies = sorted(counts.items())
        step = FREQUENCIES_PER_DOCUMENT
        docs += [
            {"_id": f"~freq|{i // step}", "f": dict(frequencies[i : i + step])}
            for i in range(0, len(frequencies), step)
        ]
        await self.collection.delete_many({})
        for i in range(0, len(docs), 2_000):
            await self.collection.insert_many(docs[i : i + 2_000], ordered=False)
        await self.collection.replace_one(
            {"_id": STATE_ID},
            {
                "_id": STATE_ID,
                "scheme": _SCHEME,
                "built_at": datetime.now(UTC),
                "candidates": candidates,
                "frequency_documents": -(-len(frequencies) // step),
            },
            upsert=True,
        )
        self._frequencies_read_at = None  # read them again at the next check
        rebuilt = Rebuilt(candidates, len(counts), len(docs), time.monotonic() - began)
        log.info(
            "overlap index rebuilt",
            extra={"candidates": candidates, "terms": rebuilt.terms, "seconds": round(rebuilt.seconds, 2)},
        )
        return rebuilt


def _collect(buckets: dict[str, list[str]], counts: dict[str, int], candidate: Candidate) -> None:
    bucket = bucket_of(candidate.ref)
    for term, posting in postings_of(candidate).items():
        buckets[f"{term}|{bucket}"].append(posting.to_row())
        counts[term] += 1
