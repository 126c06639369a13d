"""The overlap index: which candidates share a term with a proposal, without reading every one.

Pure. A candidate (project or published standard) is indexed under each distinct term of its title
and scope — the bigrams the overlap check compares (`overlap.bigrams`). A posting says which
candidate, whether the term is in its title, its scope or both, and how many distinct terms its
title and scope have. A candidate scores above 0 in the check only if it shares a bigram with the
proposal, so the postings of the proposal's terms name every candidate that can match.

Two bounds keep a check's cost flat however many candidates there are. The postings read are those
of the proposal's rarest terms, up to a budget (`within_budget`). The candidates scored with the
existing scoring (`overlap.find_overlaps`) are at most `limit`, ranked by a cheap estimate from the
postings alone: the check's formula with set cosines of the distinct terms instead of bag cosines
(`estimate`). When every term fits the budget and no more than `limit` candidates share a term, the
result is the full scan's exactly; beyond that, the best estimated are scored.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from regstd.intake.domain.overlap import DEFAULT_TITLE_WEIGHT, Candidate, bigrams

SCHEME = "bigrams-1"
"""The terms' scheme: a stored index of another scheme is rebuilt (change it when `bigrams` or the
boilerplate changes)."""

DEFAULT_CANDIDATES = 50
"""How many candidates, best estimated first, the check scores."""

Kind = Literal["project", "standard"]


@dataclass(frozen=True)
class Terms:
    """The distinct terms of a title and a scope."""

    title: frozenset[str]
    scope: frozenset[str]

    @classmethod
    def of(cls, title_zh: str, scope: str | None) -> "Terms":
        """The terms of a text pair as the overlap check cuts it."""
        return cls(frozenset(bigrams(title_zh)), frozenset(bigrams(scope or "")))

    @property
    def all(self) -> frozenset[str]:
        """Every term, of the title or the scope."""
        return self.title | self.scope


@dataclass(frozen=True, slots=True)
class Posting:
    """One candidate under one term."""

    kind: Kind
    ref: str
    in_title: bool
    in_scope: bool
    title_terms: int
    scope_terms: int

    def to_row(self) -> str:
        """The compact form the store keeps, `ref|kind|flags|title terms|scope terms` (a string: the
        store takes no nested arrays, and one string per posting decodes fast)."""
        flags = (1 if self.in_title else 0) | (2 if self.in_scope else 0)
        return f"{self.ref}|{self.kind[0]}|{flags}|{self.title_terms}|{self.scope_terms}"

    @classmethod
    def of_row(cls, row: str) -> "Posting":
        """A posting from its stored row (the ref may hold a `|`: the fields are cut from the right)."""
        ref, kind, flags, title_terms, scope_terms = row.rsplit("|", 4)
        return cls(
            kind="project" if kind == "p" else "standard",
            ref=ref,
            in_title=bool(int(flags) & 1),
            in_scope=bool(int(flags) & 2),
            title_terms=int(title_terms),
            scope_terms=int(scope_terms),
        )


def postings_of(candidate: Candidate) -> dict[str, Posting]:
    """A candidate's postings, by term."""
    terms = Terms.of(candidate.title_zh, candidate.scope)
    return {
        term: Posting(
            kind=candidate.kind,
            ref=candidate.ref,
            in_title=term in terms.title,
            in_scope=term in terms.scope,
            title_terms=len(terms.title),
            scope_terms=len(terms.scope),
        )
        for term in terms.all
    }


def within_budget(frequencies: dict[str, int], budget: int) -> list[str]:
    """The terms whose postings a check reads: rarest first, while their postings fit the budget, and
    always the rarest one. A term shared by many candidates says little about any one of them; a
    candidate that overlaps shares rarer terms too (decision 35). Frequencies come from the last
    rebuild: a term unknown then counts as rare."""
    chosen: list[str] = []
    spent = 0
    for term in sorted(frequencies, key=lambda t: (frequencies[t], t)):
        if chosen and spent + frequencies[term] > budget:
            break
        chosen.append(term)
        spent += frequencies[term]
    return chosen


def estimate(
    query: Terms,
    shared_title: int,
    shared_scope: int,
    posting: Posting,
    *,
    title_weight: float = DEFAULT_TITLE_WEIGHT,
) -> float:
    """The check's score with set cosines: `shared_title` of the proposal's title terms are in the
    candidate's title, `shared_scope` of its scope terms in the candidate's scope."""

    def cos(shared: int, a: int, b: int) -> float:
        return shared / math.sqrt(a * b) if a and b else 0.0

    title = cos(shared_title, len(query.title), posting.title_terms)
    if not posting.scope_terms:
        return title
    scope = cos(shared_scope, len(query.scope), posting.scope_terms)
    return title_weight * title + (1 - title_weight) * scope


def rank(
    query: Terms,
    postings: Iterable[tuple[str, Posting]],
    *,
    limit: int = DEFAULT_CANDIDATES,
    title_weight: float = DEFAULT_TITLE_WEIGHT,
) -> list[tuple[Kind, str]]:
    """The candidates sharing a term with the query, best estimated first, at most `limit`.

    `postings` are (term, posting) pairs as read for the query's terms (others are passed over); a
    pair read twice (the index keeps a rebuilt and an added copy) counts once.
    """
    wanted = query.all
    seen: set[tuple[str, Kind, str]] = set()
    shared: dict[tuple[Kind, str], list[int]] = {}
    sample: dict[tuple[Kind, str], Posting] = {}
    for term, posting in postings:
        key = (posting.kind, posting.ref)
        if term not in wanted or (term, *key) in seen:
            continue
        seen.add((term, *key))
        counts = shared.setdefault(key, [0, 0])
        sample[key] = posting
        if posting.in_title and term in query.title:
            counts[0] += 1
        if posting.in_scope and term in query.scope:
            counts[1] += 1
    scored = [
        (estimate(query, title, scope, sample[key], title_weight=title_weight), key)
        for key, (title, scope) in shared.items()
    ]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [key for _, key in scored[:limit]]
