"""Where a text may live: only an `https:` or `http:` URL with a host. Text locations are shown to
the public (the JSON, the Atom feeds' links), so a `javascript:`, `data:` or `file:` URL or a bare path
would put a script or a local path in front of every reader of the register."""

from urllib.parse import urlsplit

from regstd.kernel.errors import Invalid

WEB_SCHEMES = frozenset({"https", "http"})


def location_problem(location: str) -> str | None:
    """What keeps a location from being a web address, in words; None when it is one."""
    if not location or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in location):
        return "without spaces or control characters"
    try:
        parts = urlsplit(location)
        host = parts.hostname
    except ValueError:
        return "that parses"
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES:
        return f"; {location[:80]!r} has " + (f"the scheme {scheme}:" if scheme else "no scheme")
    if not host:
        return f"with a host; {location[:80]!r} has none"
    return None


def is_web_location(location: str) -> bool:
    """Whether a location is an `https:` or `http:` URL with a host (and no spaces or controls)."""
    return location_problem(location) is None


def web_location(location: str, field: str) -> str:
    """The location; Invalid (422) naming the field when it is not an `https:`/`http:` URL."""
    problem = location_problem(location)
    if problem is not None:
        joiner = "" if problem.startswith(";") else " "
        raise Invalid(f"{field} must be an https: or http: URL{joiner}{problem}")
    return location
