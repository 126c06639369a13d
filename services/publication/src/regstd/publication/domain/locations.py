"""Where a text may live, pure: only `https:` and `http:` URLs with a host. A standard's text location
and its disclosure location are shown to the public (the JSON, the Atom feeds' links), so a
`javascript:`, `data:` or `file:` URL would put a script or a local path in front of every reader."""

from urllib.parse import urlsplit

from regstd.kernel.errors import Invalid

WEB_SCHEMES = frozenset({"https", "http"})


def is_web_location(location: str) -> bool:
    """Whether a location is an `https:` or `http:` URL with a host (and no spaces or controls)."""
    text = location.strip()
    if not text or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)


def web_location(location: str, field: str) -> str:
    """The location, stripped; Invalid naming the field when it is not an `https:`/`http:` URL."""
    if not is_web_location(location):
        raise Invalid(f"{field} must be an https: or http: URL with a host, not {location.strip()[:200]!r}")
    return location.strip()
