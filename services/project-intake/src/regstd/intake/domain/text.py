"""Where a text lives: a web address, `https:` or `http:` with a host. Anything else (`javascript:`,
`data:`, `file:`, a bare path) would be handed to every reader of the register as a link."""

from urllib.parse import urlsplit

from regstd.contracts.common import TextReference
from regstd.kernel.errors import Invalid

TEXT_SCHEMES = ("https", "http")


def check_text_location(text: TextReference, field: str = "text.location") -> None:
    """Refuse (422, naming the field) a location that is not an `https:` or `http:` URL with a host."""
    location = text.location
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in location):
        raise Invalid(f"{field} must be an https: or http: URL without spaces or control characters")
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme not in TEXT_SCHEMES:
        shown = f"the scheme {scheme}:" if scheme else "no scheme"
        raise Invalid(f"{field} must be an https: or http: URL; {location[:80]!r} has {shown}")
    if not parts.hostname:
        raise Invalid(f"{field} must be an https: or http: URL with a host; {location[:80]!r} has none")
