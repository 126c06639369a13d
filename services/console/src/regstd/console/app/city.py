"""A partner city's page: what it subscribes to, what it received and when, and its feed.

"Received" is the city's Atom feed (`GET /feeds/cities/{city}.atom` of publication): every
happening of a standard of its areas (published, filed, text disclosed, reviewed, abolished,
superseded, approval refused), each with the moment publication recorded it. That is what a city
reading the feed receives; a city running `regstd subscribe` keeps its own ledger on its own disk,
which no service can read (decision 34).
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from regstd.console.app.ports import Gateway, Refusal, SignedIn
from regstd.contracts.reference import Reference

ATOM = "{http://www.w3.org/2005/Atom}"
HAPPENING_SCHEME = "urn:regstd:happening"
CATEGORY_SCHEME = "urn:regstd:category"
AREA_SCHEME = "urn:regstd:area"
FEED_ENTRIES = 50


@dataclass(frozen=True)
class Received:
    """One entry of the city's feed: what happened to which standard, and when."""

    title: str
    published: str
    happening: str
    area: str
    category: str
    standard_id: str | None


@dataclass(frozen=True)
class Subscription:
    """What a city receives: the areas it belongs to (reference data), all categories unless its
    feed URL or subscriber narrows them."""

    areas: tuple[str, ...]
    categories: tuple[str, ...] | None
    feed_url: str


def feed_entries(atom: str) -> list[Received]:
    """The entries of an Atom feed page, newest first as the feed gives them."""
    try:
        root = ET.fromstring(atom)
    except ET.ParseError as error:
        raise Refusal(502, f"publication's feed did not parse: {error}") from None
    found = []
    for entry in root.iter(f"{ATOM}entry"):
        schemes = {
            c.get("scheme"): c.get("term", "") for c in entry.iter(f"{ATOM}category") if c.get("scheme")
        }
        standard = next(
            (
                link.get("href", "").rsplit("/standards/", 1)[-1]
                for link in entry.iter(f"{ATOM}link")
                if link.get("type") == "application/json" and "/standards/" in link.get("href", "")
            ),
            None,
        )
        found.append(
            Received(
                title=entry.findtext(f"{ATOM}title", ""),
                published=entry.findtext(f"{ATOM}published", ""),
                happening=schemes.get(HAPPENING_SCHEME, ""),
                area=schemes.get(AREA_SCHEME, ""),
                category=schemes.get(CATEGORY_SCHEME, ""),
                standard_id=standard,
            )
        )
    return found


class CityCases:
    """A partner city's reads."""

    def __init__(self, gateway: Gateway, reference: Reference) -> None:
        self.gateway = gateway
        self.reference = reference

    def subscription(self, me: SignedIn) -> Subscription:
        """The areas publication serves the city (its reference record's, as its feed has them)."""
        city = self.reference.partner_cities.get(me.code)
        return Subscription(
            areas=tuple(city.areas) if city else (),
            categories=None,
            feed_url=self.gateway.url("publication", f"/feeds/cities/{me.code}.atom"),
        )

    async def received(self, me: SignedIn) -> list[Received]:
        """The newest entries of the city's feed (its first page)."""
        atom = await self.gateway.call(
            me.token, "publication", "GET", f"/feeds/cities/{me.code}.atom", params={"limit": FEED_ENTRIES}
        )
        return feed_entries(str(atom))
