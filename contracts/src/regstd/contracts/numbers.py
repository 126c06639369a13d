"""Provincial standard numbers as written on the wire and as people type them, in one shared place.

A number is DB + the two-digit region code, `/T` for a recommended standard and nothing for a
mandatory one, a space, the sequence number, an em dash and the four-digit year: `DB50/T 10001—2026`,
`DB50 10001—2026`. Publication formats numbers with this module; every reader (the catalogue, the
`regstd trace` lookup) reads them with it, so that any dash a person types finds the same standard.
"""

import re
import unicodedata
from dataclasses import dataclass

from regstd.contracts.common import Kind

EM_DASH = "—"


class InvalidNumber(ValueError):
    """Text that is not a provincial standard number; the message shows the expected form."""


@dataclass(frozen=True)
class Number:
    """A parsed provincial standard number: region code, kind, sequence and year."""

    region: str
    kind: Kind
    sequence: int
    year: int

    def __str__(self) -> str:
        return format_number(self.region, self.kind, self.sequence, self.year)


def standard_code(region: str, kind: Kind) -> str:
    """The code in front of the sequence: DB50/T for recommended, DB50 for mandatory."""
    if not re.fullmatch(r"[0-9]{2}", region):
        raise InvalidNumber(f"a region code has two digits, not {region!r}")
    return f"DB{region}/T" if kind == "recommended" else f"DB{region}"


def format_number(region: str, kind: Kind, sequence: int, year: int) -> str:
    """The canonical number, for example `DB50/T 10001—2026` or `DB50 10001—2026`."""
    if sequence < 1:
        raise InvalidNumber(f"a sequence number starts at 1, not {sequence}")
    if not 1000 <= year <= 9999:
        raise InvalidNumber(f"the year of a number has four digits, not {year}")
    return f"{standard_code(region, kind)} {sequence}{EM_DASH}{year}"


# Every dash a person may type between the sequence and the year: hyphen-minus, hyphen, non-breaking
# hyphen, figure dash, en dash, em dash, horizontal bar, minus sign, small and full-width hyphen-minus.
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
_NUMBER = re.compile(
    r"DB\s*(?P<region>[0-9]{2})"
    r"(?:\s*/\s*(?P<t>T)\s*|\s*/\s*|\s+)"  # /T (recommended); `/` (informal mandatory) or a space
    r"(?P<sequence>[0-9]{1,9})\s*-\s*(?P<year>[0-9]{4})",
    re.ASCII,
)


def parse_number(text: str) -> Number:
    """Read a number as people write it: any dash, extra or missing spaces, any letter case,
    full-width characters, and the informal mandatory form `DB50/10001—2026`."""
    normal = unicodedata.normalize("NFKC", text)  # full-width letters, digits and ／ become ASCII
    normal = re.sub(f"[{_DASHES}]", "-", normal).upper().strip()
    match = _NUMBER.fullmatch(normal)
    if match is None:
        raise InvalidNumber(
            f"{text!r} is not a provincial standard number such as DB50/T 10001—2026 (recommended) "
            "or DB50 10001—2026 (mandatory)"
        )
    sequence = int(match["sequence"])
    if sequence < 1:
        raise InvalidNumber(f"{text!r} has sequence number 0; sequence numbers start at 1")
    kind: Kind = "recommended" if match["t"] else "mandatory"
    return Number(match["region"], kind, sequence, int(match["year"]))


def number_key(text: str) -> str:
    """The one canonical form of a number as written in any accepted way: the lookup key."""
    return str(parse_number(text))
