"""The Atom feed (RFC 4287) of publications and status changes, pure: entries derived from what each
standard's document already stores, and the XML of a feed page. No I/O.

Each happening of a standard is one entry, derived from its stored state (nothing else is kept):

| entry | from | moment |
|---|---|---|
| published (发布) | the standard's publication | `published_at` |
| filed (备案) | each filing in its life | the filing's `recorded_at` |
| text disclosed | the disclosure | its `recorded_at` |
| review concluded (复审) | a review with a joint outcome | `concluded_at` (or 00:00 CST that day) |
| abolished (废止) | the ending | the ending's `at` |
| superseded (被代替) | the ending | the ending's `at` |
| approval refused | a refused final approval (decision 0023) | its `refused_at` |

Only `https:`/`http:` locations become links (`is_web_location`): a text location from before that
rule was enforced is left out rather than put in front of a reader.

An entry's id is a name-based UUID (`urn:uuid:`, version 5) of the standard's id and the happening,
so it stays the same on every request, every instance and after a restart; a happening never changes
once recorded, so an entry's `updated` is its `published`. Pages (RFC 5005 paged feeds) run newest
first with `first`, `next` and `previous` links.
"""

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from regstd.kernel.locations import is_web_location
from regstd.kernel.time import start_of_china_day
from regstd.publication.domain.approval import Refusal
from regstd.publication.domain.standard import Standard

ATOM = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
FEED_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:regstd:publication:feed")
"""The namespace of every feed and entry id (fixed forever: changing it changes every id)."""
HAPPENING_SCHEME = "urn:regstd:happening"
CATEGORY_SCHEME = "urn:regstd:category"
AREA_SCHEME = "urn:regstd:area"

Happening = Literal[
    "published", "filed", "text_disclosed", "review_concluded", "abolished", "superseded", "approval_refused"
]

_WORDS: dict[Happening, str] = {
    "published": "发布 Published",
    "filed": "备案 Filed",
    "text_disclosed": "文本公开 Text disclosed",
    "review_concluded": "复审 Review concluded",
    "abolished": "废止 Abolished",
    "superseded": "被代替 Superseded",
    "approval_refused": "未予发布 Approval refused",
}


@dataclass(frozen=True)
class Link:
    """An Atom link: to a URL, or (with `standard`) to another standard's JSON."""

    rel: str
    href: str = ""
    type: str | None = None
    title: str | None = None
    standard: str | None = None


@dataclass(frozen=True)
class Entry:
    """One happening of one standard, as a feed entry."""

    key: str  # stable: <standard id>/<happening>[/<detail>]
    happening: Happening
    standard: Standard | None  # None for a refused approval: no standard came of it
    at: datetime
    title: str
    summary: str
    related: tuple[Link, ...] = ()
    area: str = ""
    category: str = ""

    @property
    def id(self) -> str:
        """The entry's permanent id."""
        return stable_id(f"entry/{self.key}")


def stable_id(name: str) -> str:
    """A permanent `urn:uuid:` id from a name."""
    return uuid.uuid5(FEED_NAMESPACE, name).urn


def entries_of(standard: Standard) -> list[Entry]:
    """Every happening of a standard since its publication (none before it is published)."""
    if standard.published_at is None or standard.status not in ("published", "superseded", "abolished"):
        return []
    name = f"{' = '.join(n.number for n in standard.numbers)} {standard.title_zh}"

    def entry(key: str, happening: Happening, at: datetime, summary: str, *related: Link) -> Entry:
        return Entry(
            key=f"{standard.id}/{key}",
            happening=happening,
            standard=standard,
            at=at.astimezone(UTC),
            title=f"{_WORDS[happening]}: {name}",
            summary=summary,
            related=related,
            area=standard.area,
            category=standard.category,
        )

    revises = f" It revises {standard.supersedes}." if standard.supersedes else ""
    predecessor = (
        () if standard.supersedes is None else (Link("predecessor-version", standard=standard.supersedes),)
    )
    found = [
        entry(
            "published",
            "published",
            standard.published_at,
            f"Published on {standard.publication_date} by {', '.join(standard.parties)} in area "
            f"{standard.area}; in force from {standard.implementation_date}. Category "
            f"{standard.category}, {standard.kind}.{revises}",
            *predecessor,
        )
    ]
    life = standard.life
    if life is None:
        return found
    for filing in life.filings:
        found.append(
            entry(
                f"filed/{filing.party}/{filing.authority}",
                "filed",
                filing.recorded_at,
                f"Region {filing.party} filed it with the {filing.authority.replace('_', ' and ')} "
                f"authority on {filing.filed_on} as {filing.filing_number}.",
            )
        )
    if life.disclosure is not None:
        found.append(
            entry(
                "text_disclosed",
                "text_disclosed",
                life.disclosure.recorded_at,
                f"The full text is public since {life.disclosure.disclosed_on} at "
                f"{life.disclosure.location}.",
                Link("enclosure", life.disclosure.location, title="the disclosed text"),
            )
        )
    for index, review in enumerate(life.reviews):
        if review.outcome is None or review.concluded_on is None:
            continue
        said = "; ".join(
            f"{c.party}: {c.outcome}" + (f" ({c.reason})" if c.reason else "") for c in review.conclusions
        )
        found.append(
            entry(
                f"review/{index}",
                "review_concluded",
                review.concluded_at or start_of_china_day(review.concluded_on),
                f"The review opened on {review.opened_on} concluded `{review.outcome}` on "
                f"{review.concluded_on}. {said}",
            )
        )
    ending = life.ending
    if ending is not None and ending.how == "abolished":
        found.append(
            entry(
                "abolished",
                "abolished",
                ending.at,
                f"Abolished from {ending.effective_date}: {ending.reason}",
            )
        )
    elif ending is not None and ending.how == "superseded":
        successors = " = ".join(n.number for n in ending.successor_numbers)
        found.append(
            entry(
                "superseded",
                "superseded",
                ending.at,
                f"Superseded by {successors} from {ending.effective_date}.",
                *(
                    ()
                    if ending.successor is None
                    else (Link("successor-version", standard=ending.successor),)
                ),
            )
        )
    return found


def refusal_entry(refusal: Refusal) -> Entry:
    """The entry saying that a project's final approval was refused, and why."""
    return Entry(
        key=f"{refusal.standard_id}/approval_refused/{refusal.approval_id}",
        happening="approval_refused",
        standard=None,
        at=refusal.refused_at.astimezone(UTC),
        title=f"{_WORDS['approval_refused']}: project {refusal.project_id} {refusal.title_zh}".strip(),
        summary=f"The final approval of project {refusal.project_id} ({', '.join(refusal.parties)} in area "
        f"{refusal.area}) was not published: {refusal.rule}. {refusal.reason}",
        area=refusal.area,
        category=refusal.category,
    )


def newest_first(standards: Iterable[Standard], refusals: Iterable[Refusal] = ()) -> list[Entry]:
    """Every entry of these standards and refused approvals, newest first (ties by id, so pages
    are stable)."""
    entries = [e for s in standards for e in entries_of(s)] + [refusal_entry(r) for r in refusals]
    entries.sort(key=lambda e: e.id)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


@dataclass(frozen=True)
class FeedPage:
    """One page of a feed, ready to write."""

    feed_key: str
    title: str
    subtitle: str
    updated: datetime
    entries: Sequence[Entry]
    page: int
    has_next: bool


def page_of(
    entries: Sequence[Entry],
    *,
    feed_key: str,
    title: str,
    subtitle: str,
    page: int,
    limit: int,
    now: datetime,
) -> FeedPage:
    """A page (1 = newest) of the entries; the feed's `updated` is its newest entry's (now if none)."""
    start = (page - 1) * limit
    return FeedPage(
        feed_key=feed_key,
        title=title,
        subtitle=subtitle,
        updated=entries[0].at if entries else now.astimezone(UTC),
        entries=entries[start : start + limit],
        page=page,
        has_next=len(entries) > start + limit,
    )


def atom_xml(
    feed: FeedPage,
    *,
    self_url: str,
    page_url: Callable[[int], str],
    alternate_url: str,
    standard_url: Callable[[str], str],
) -> bytes:
    """The Atom document of a feed page; ElementTree escapes every text and attribute."""
    ET.register_namespace("", ATOM)
    root = ET.Element(_q("feed"), {"{http://www.w3.org/XML/1998/namespace}lang": "zh-CN"})
    _text(root, "id", stable_id(f"feed/{feed.feed_key}"))
    _text(root, "title", feed.title)
    _text(root, "subtitle", feed.subtitle)
    _text(root, "updated", rfc3339(feed.updated))
    author = ET.SubElement(root, _q("author"))
    _text(author, "name", "regstd publication")
    _text(root, "generator", "regstd publication")
    _link(root, Link("self", self_url, "application/atom+xml"))
    _link(root, Link("alternate", alternate_url, "application/json"))
    _link(root, Link("first", page_url(1), "application/atom+xml"))
    if feed.page > 1:
        _link(root, Link("previous", page_url(feed.page - 1), "application/atom+xml"))
    if feed.has_next:
        _link(root, Link("next", page_url(feed.page + 1), "application/atom+xml"))
    for e in feed.entries:
        node = ET.SubElement(root, _q("entry"))
        _text(node, "id", e.id)
        _text(node, "title", e.title)
        _text(node, "updated", rfc3339(e.at))
        _text(node, "published", rfc3339(e.at))
        _text(node, "summary", e.summary)
        if e.standard is None:  # no link to offer: the entry carries its text (RFC 4287 4.1.2)
            ET.SubElement(node, _q("content"), {"type": "text"}).text = e.summary
        _category(node, e.happening, HAPPENING_SCHEME)
        if e.category:
            _category(node, e.category, CATEGORY_SCHEME)
        _category(node, e.area, AREA_SCHEME)
        if e.standard is not None:
            # Two alternates of one standard: its text for people (what a feed reader opens) and
            # its JSON for programs.
            if is_web_location(e.standard.text.location):
                _link(node, Link("alternate", e.standard.text.location, title="the standard's text"))
            _link(
                node,
                Link("alternate", standard_url(e.standard.id), "application/json", "the standard (JSON)"),
            )
        for link in e.related:
            if link.standard is not None:
                link = Link(link.rel, standard_url(link.standard), "application/json", link.title)
            elif not is_web_location(link.href):
                continue
            _link(node, link)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def rfc3339(moment: datetime) -> str:
    """A moment as RFC 3339 in UTC with a `Z`, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _q(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, _q(tag)).text = text


def _link(parent: ET.Element, link: Link) -> None:
    attributes = {"rel": link.rel, "href": link.href}
    if link.type:
        attributes["type"] = link.type
    if link.title:
        attributes["title"] = link.title
    ET.SubElement(parent, _q("link"), attributes)


def _category(parent: ET.Element, term: str, scheme: str) -> None:
    ET.SubElement(parent, _q("category"), {"term": term, "scheme": scheme})
