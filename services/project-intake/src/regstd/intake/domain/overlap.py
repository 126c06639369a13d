"""The overlap check: does a proposal resemble a project or a published standard we already have?

Pure. Chinese titles have no spaces between words, so texts are compared by their character
bigrams (two adjacent characters; a word of Latin letters or digits counts as one token). Each text
becomes a bag of bigrams and two bags are compared by cosine similarity. Words every standard uses
(技术规范, 要求, 适用于 …) are removed first, or every pair of titles would look alike.

The score of a candidate is `title_weight × title similarity + (1 − title_weight) × scope
similarity`; a candidate without a scope (a published standard: its event carries no scope) is
scored on its title alone. The check warns, it never blocks: matches go with the proposal to the
voters.
"""

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from regstd.contracts.intake import OverlapMatch
from regstd.intake.domain.published import PublishedStandard

DEFAULT_THRESHOLD = 0.25
DEFAULT_LIMIT = 5
DEFAULT_TITLE_WEIGHT = 0.7

BOILERPLATE = (
    "本文件",
    "本标准",
    "本规范",
    "规定了",
    "适用于",
    "地方标准",
    "技术规范",
    "技术要求",
    "技术规程",
    "操作规程",
    "技术导则",
    "规范",
    "要求",
    "指南",
    "规程",
    "导则",
    "通则",
    "标准",
)
"""Words of the standard-writing genre itself; they say nothing about what a standard is about."""

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_HAN}]|[a-z0-9]+")
_BOILERPLATE = re.compile("|".join(sorted(map(re.escape, BOILERPLATE), key=len, reverse=True)))


@dataclass(frozen=True)
class Candidate:
    """Something a proposal may overlap with: an existing project or a published standard."""

    kind: Literal["project", "standard"]
    ref: str
    title_zh: str
    scope: str | None = None
    number: str | None = None


def candidates_of(standards: Iterable[PublishedStandard], projects: Iterable[Candidate]) -> list[Candidate]:
    """What a proposal is compared with: published standards, and projects (a project that became a
    published standard counts once, as the standard)."""
    standards = list(standards)
    published_projects = {s.project_id for s in standards}
    found = [
        Candidate(kind="standard", ref=s.standard_id, title_zh=s.title_zh, number=s.number) for s in standards
    ]
    return found + [p for p in projects if p.ref not in published_projects]


def bigrams(text: str) -> Counter[str]:
    """The bag of character bigrams of a text: punctuation, spaces and boilerplate removed.

    Runs of Chinese characters give their adjacent pairs; a Latin word or a number is one token and
    pairs with its neighbours. A text of one token gives that token alone.
    """
    cleaned = _BOILERPLATE.sub(" ", text.lower())
    bag: Counter[str] = Counter()
    for run in re.split(r"[^\w]+|_", cleaned):
        tokens = _TOKEN.findall(run)
        if len(tokens) == 1:
            bag[tokens[0]] += 1
        bag.update(a + b for a, b in itertools.pairwise(tokens))
    return bag


def cosine(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two bags: 1 for the same proportions, 0 for nothing in common."""
    if not a or not b:
        return 0.0
    dot = sum(count * b[gram] for gram, count in a.items() if gram in b)
    if dot == 0:
        return 0.0
    norm = math.sqrt(sum(c * c for c in a.values())) * math.sqrt(sum(c * c for c in b.values()))
    return min(1.0, dot / norm)


def similarity(
    title: str,
    scope: str,
    other_title: str,
    other_scope: str | None,
    *,
    title_weight: float = DEFAULT_TITLE_WEIGHT,
) -> float:
    """How alike two title + scope pairs are, from 0 to 1; the title weighs more."""
    title_score = cosine(bigrams(title), bigrams(other_title))
    if not other_scope:
        return title_score
    scope_score = cosine(bigrams(scope), bigrams(other_scope))
    return title_weight * title_score + (1 - title_weight) * scope_score


def find_overlaps(
    title_zh: str,
    scope: str,
    candidates: Iterable[Candidate],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    limit: int = DEFAULT_LIMIT,
    title_weight: float = DEFAULT_TITLE_WEIGHT,
) -> list[OverlapMatch]:
    """The candidates scoring at least `threshold`, best first, at most `limit` of them."""
    scored: list[OverlapMatch] = []
    for candidate in candidates:
        score = similarity(title_zh, scope, candidate.title_zh, candidate.scope, title_weight=title_weight)
        if score >= threshold:
            scored.append(
                OverlapMatch(
                    kind=candidate.kind,
                    ref=candidate.ref,
                    title_zh=candidate.title_zh,
                    number=candidate.number,
                    score=round(score, 3),
                )
            )
    scored.sort(key=lambda m: (-m.score, m.kind, m.ref))
    return scored[:limit]
