"""The overlap index in its own collection (`overlap_index`), and its rebuild from the stores.

FerretDB (1.24, on PostgreSQL) serves only `_id` lookups from an index: a filter on any other field,
`$in` or equality, scans the collection. So every read here is an `_id $in` of ids computed from the
terms or counted:

- `<term>|<b>` (b in 0…BUCKETS−1): the postings of the term whose ref hashes to bucket b, as
  `p: ["ref|kind|flags|title terms|scope terms", …]` (`Posting.to_row`; a string, since the store
  takes no nested arrays), written by a rebuild only.
- `~added|<n>` (n = 1, 2, …): the postings added since the rebuild, one document per addition
  (`t: [term, …]` and `p: [row, …]` side by side), numbered by the counter `~added` (`$inc`). An
  addition costs two calls however many terms it has; each process keeps every addition in memory
  and reads only the ones it has not seen (decision 44).
- `~freq|<i>`: how many candidates each term had at the last rebuild (`f: {term: n}`, 5,000 terms a
  document), which each process keeps in memory until the next rebuild; a proposal's check reads
  the postings of its rarest terms (counting the additions it knows of) up to `budget` postings
  (decisions 35 and 44).
- `~state`: the scheme the index was built with (missing or another one means a rebuild), when it
  was built (each check reads it with the postings: a rebuild elsewhere makes the process read
  frequencies and additions again) and how many frequency documents there are.
"""

import logging
import time
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from regstd.intake.domain.overlap import Candidate
from regstd.intake.domain.overlap_index import SCHEME, Posting, Terms, postings_of, within_budget
from regstd.runtime.rounds import Rounds
from regstd.runtime.store import Document

log = logging.getLogger(__name__)

STATE_ID = "~state"
COUNTER_ID = "~added"
BUCKETS = 4
"""Rebuilt postings documents per term: fewer make a read's `$in` shorter."""
FREQUENCIES_PER_DOCUMENT = 5_000
DEFAULT_BUDGET = 1_000
"""Postings a check reads at most (beyond its rarest term's): the cost of a check at any size."""
LOOKAHEAD = 8
"""Additions past the last one a process knows of that each check asks for (other processes')."""
ADDITIONS_PER_READ = 1_000
HELD_POSTINGS = 100_000
"""Rebuilt postings a process keeps in memory (some 10 MB), the terms least recently read dropped
first: checks read the same rare-enough terms again and again."""

_SCHEME = f"{SCHEME}/{BUCKETS}/additions-log-1"
"""The terms' scheme, the buckets per term and the additions' layout: an index built with others is
rebuilt."""
_UNREAD = object()
"""The generation of an index this process has not read yet."""


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


@dataclass(frozen=True)
class _Addition:
    """One addition's postings: terms and rows side by side, as stored, and as this process holds them."""

    terms: list[str]
    rows: list[str]
    postings: list[tuple[str, Posting]]


class MongoOverlapIndex:
    """`OverlapIndex` over its own collection, rebuilt from the projects' and standards' collections.

    Keeps in memory what changes only with a rebuild (the frequencies) or is only ever appended to
    (the additions since the rebuild), keyed by the rebuild it belongs to (its `built_at`)."""

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
        self._generation: object = _UNREAD
        self._frequencies: dict[str, int] = {}
        self._rebuilt: OrderedDict[str, list[str]] = OrderedDict()
        """Rebuilt postings by term, as read by checks (they change only with a rebuild), least
        recently used first, as stored rows (a string each: nothing for the garbage collector to walk
        through); `_held` postings in all, at most about `HELD_POSTINGS`."""
        self._held = 0
        self._added: dict[str, list[Posting]] = defaultdict(list)
        self._known: set[int] = set()
        """The additions this process holds; all of 1…`_through` and some beyond."""
        self._through = 0
        self._counted = 0
        """The highest addition number this process has seen the counter at."""
        self._additions: Rounds[str, _Addition, None] = Rounds(self._add_many)

    async def add(self, candidates: Sequence[Candidate]) -> None:
        """The candidates' postings as one numbered addition: two calls, however many terms (an
        addition is never changed, so no document grows; adding twice only duplicates postings, which
        `rank` counts once). Additions made side by side (a consumer batch's standards) share the two
        calls: the counter moves by their number, and one insert stores them all."""
        terms, rows, postings = [], [], []
        for candidate in candidates:
            for term, posting in postings_of(candidate).items():
                terms.append(term)
                rows.append(posting.to_row())
                postings.append((term, posting))
        if postings:
            await self._additions.ask(self.collection.name, _Addition(terms, rows, postings))

    async def _add_many(self, _: str, additions: Sequence[_Addition]) -> list[None]:
        counter = await self.collection.find_one_and_update(
            {"_id": COUNTER_ID},
            {"$inc": {"n": len(additions)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        last = int(counter["n"]) if counter else 0
        numbers = range(last - len(additions) + 1, last + 1)
        generation = self._generation
        await self.collection.insert_many(
            [
                {"_id": f"~added|{n}", "t": a.terms, "p": a.rows}
                for n, a in zip(numbers, additions, strict=True)
            ]
        )
        if generation is not _UNREAD and generation == self._generation:
            for number, addition in zip(numbers, additions, strict=True):
                self._remember(number, addition.postings)
        return [None] * len(additions)

    async def postings(self, query: Terms) -> list[tuple[str, Posting]]:
        """The postings of the query's rarest terms, within the budget: one read by `_id` of the
        terms this process does not hold yet, the state and the additions it has not seen (another
        when others added more than `LOOKAHEAD` since it last looked, or after a rebuild)."""
        terms = sorted(query.all)
        if not terms:
            return []
        if self._generation is _UNREAD:
            await self._load()
        if 4 * sum(1 for t in terms if t not in self._frequencies) > len(terms):
            # Many terms unknown to the frequencies: the index was probably rebuilt since they were
            # read (by the command, or another process), and they would choose every term.
            await self._reload_if_rebuilt()
        counts = {t: self._frequencies.get(t, 0) + len(self._added.get(t, ())) for t in terms}
        chosen = within_budget(counts, self.budget)
        rebuilt = await self._read(chosen)
        if rebuilt is None:
            await self._load()  # rebuilt (or lost) since: what this process held was of another build
            rebuilt = await self._read(chosen) or {}  # rebuilt again meanwhile: the next check reads
        found = [(t, Posting.of_row(row)) for t in chosen for row in rebuilt.get(t, ())]
        return found + [(t, p) for t in chosen for p in self._added.get(t, ())]

    async def _read(self, chosen: list[str]) -> dict[str, list[str]] | None:
        """The chosen terms' rebuilt postings (rows), read when this process does not hold them, with the
        state and the additions it has not seen; None if the index is not the build it holds."""
        asked = max(self._counted, self._through) + LOOKAHEAD
        missing = [t for t in chosen if t not in self._rebuilt]
        ids = [f"{t}|{b}" for t in missing for b in range(BUCKETS)]
        ids += [STATE_ID, COUNTER_ID, *(f"~added|{n}" for n in self._unseen(asked))]
        found: dict[str, list[str]] = {t: [] for t in missing}
        state: Document = {}
        async for doc in self.collection.find({"_id": {"$in": ids}}):
            key = doc["_id"]
            if key == STATE_ID:
                state = doc
            elif key == COUNTER_ID:
                self._counted = max(self._counted, int(doc["n"]))
            elif key.startswith("~added|"):
                self._remember_row(doc)
            else:
                found[doc["t"]] += doc["p"]
        if state.get("built_at") != self._generation:
            return None
        if self._counted > asked:  # a burst of additions elsewhere: read the rest
            await self._follow()
        held = {t: self._rebuilt[t] for t in chosen if t in self._rebuilt}
        for term in held:
            self._rebuilt.move_to_end(term)  # the least recently used are dropped first
        for term, postings in found.items():
            self._hold(term, postings)
        return held | found

    def _hold(self, term: str, postings: list[str]) -> None:
        self._rebuilt[term] = postings
        self._held += len(postings)
        while self._held > HELD_POSTINGS and len(self._rebuilt) > 1:
            _, dropped = self._rebuilt.popitem(last=False)
            self._held -= len(dropped)

    async def _reload_if_rebuilt(self) -> None:
        state = await self.collection.find_one({"_id": STATE_ID}, projection={"built_at": True}) or {}
        if state.get("built_at") != self._generation:
            await self._load()

    async def frequencies(self) -> dict[str, int]:
        """The terms' frequencies at the last rebuild, as this process last read them."""
        if self._generation is _UNREAD:
            await self._load()
        return self._frequencies

    async def _load(self) -> None:
        """Read the state, the frequencies and every addition since the rebuild afresh."""
        state = await self.collection.find_one({"_id": STATE_ID}) or {}
        ids = [f"~freq|{i}" for i in range(int(state.get("frequency_documents", 0)))]
        frequencies: dict[str, int] = {}
        if ids:
            async for doc in self.collection.find({"_id": {"$in": ids}}):
                frequencies.update(doc["f"])
        counter = await self.collection.find_one({"_id": COUNTER_ID}) or {}
        self._generation = state.get("built_at")
        self._frequencies = frequencies
        self._rebuilt, self._held = OrderedDict(), 0
        self._added = defaultdict(list)
        self._known, self._through, self._counted = set(), 0, int(counter.get("n", 0))
        await self._follow()

    async def _follow(self) -> None:
        """Read the additions up to the last counter seen that this process does not hold yet."""
        while unseen := self._unseen(self._counted)[:ADDITIONS_PER_READ]:
            async for doc in self.collection.find({"_id": {"$in": [f"~added|{n}" for n in unseen]}}):
                self._remember_row(doc)
            if len(self._unseen(self._counted)) == len(unseen):
                # The rest are being written, or their writer crashed: the next check asks again.
                return

    def _unseen(self, up_to: int) -> list[int]:
        return [n for n in range(self._through + 1, up_to + 1) if n not in self._known]

    def _remember_row(self, doc: Document) -> None:
        number = int(doc["_id"].removeprefix("~added|"))
        postings = [(t, Posting.of_row(row)) for t, row in zip(doc["t"], doc["p"], strict=True)]
        self._remember(number, postings)

    def _remember(self, number: int, postings: list[tuple[str, Posting]]) -> None:
        if number <= self._through or number in self._known:
            return
        for term, posting in postings:
            self._added[term].append(posting)
        self._known.add(number)
        self._counted = max(self._counted, number)
        while self._through + 1 in self._known:
            self._through += 1
            self._known.discard(self._through)

    async def built(self) -> bool:
        """Whether the index was built with the current scheme."""
        state = await self.collection.find_one({"_id": STATE_ID})
        return state is not None and state.get("scheme") == _SCHEME

    async def ensure_built(self) -> Rebuilt | None:
        """Rebuild the index when it is missing or of another scheme, then read what this process keeps
        in memory, so that the first check does not (a start-up step)."""
        rebuilt = None if await self.built() else await self.rebuild()
        await self._load()
        return rebuilt

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
        self._generation = _UNREAD  # read frequencies and additions again at the next check
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
