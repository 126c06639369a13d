"""Who is calling: bearer tokens mapped to principals (`regstd.kernel.principals`, which says what
each kind may do).

Tokens come from a JSON token book (in local mode generated once under `./var/`,
readable by tools and people); only their SHA-256 digests are kept in memory.
"""

import hashlib
import json
import logging
import secrets
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from regstd.contracts.reference import Reference
from regstd.kernel.principals import Principal

log = logging.getLogger(__name__)


class IssuedToken(BaseModel):
    """A token as written to the token book."""

    token: str
    principal: Principal


class TokenBook:
    """Finds the principal of a bearer token."""

    def __init__(self, issued: list[IssuedToken]) -> None:
        self._by_digest = {_digest(t.token): t.principal for t in issued}

    def principal(self, token: str) -> Principal | None:
        """The principal the token was issued to, or None for an unknown token."""
        return self._by_digest.get(_digest(token))

    @classmethod
    def load(cls, path: Path) -> "TokenBook":
        """Read a token book written by `write_development_tokens`."""
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls([IssuedToken.model_validate(t) for t in raw["tokens"]])

    @classmethod
    def load_or_empty(cls, path: Path) -> "TokenBook":
        """The token book at `path`; without one, a book that authenticates nobody (and a warning)."""
        if not path.exists():
            log.warning(
                "no token book: every HTTP request will be refused as unauthenticated",
                extra={"tokens_file": str(path)},
            )
            return cls([])
        return cls.load(path)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def development_tokens(reference: Reference) -> list[IssuedToken]:
    """Fresh random tokens: one per region's regulator, one per partner city, one operator."""
    issued = [
        IssuedToken(
            token=f"reg-{r.code}-{secrets.token_urlsafe(18)}",
            principal=Principal(kind="regulator", code=r.code, name=r.regulator_zh),
        )
        for r in reference.regions.values()
    ]
    issued += [
        IssuedToken(
            token=f"city-{c.code}-{secrets.token_urlsafe(18)}",
            principal=Principal(kind="city", code=c.code, name=c.name_zh),
        )
        for c in reference.partner_cities.values()
    ]
    issued.append(
        IssuedToken(
            token=f"ops-{secrets.token_urlsafe(18)}",
            principal=Principal(kind="operator", code="ops", name="operator"),
        )
    )
    return issued


def write_development_tokens(
    path: Path, reference: Reference, endpoints: dict[str, str]
) -> list[IssuedToken]:
    """Write the local token book with every endpoint, keeping tokens already issued there."""
    issued: list[IssuedToken]
    if path.exists():
        issued = [
            IssuedToken.model_validate(t) for t in json.loads(path.read_text(encoding="utf-8"))["tokens"]
        ]
    else:
        issued = development_tokens(reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "about": "Development tokens for the local stack; send one as `Authorization: Bearer <token>`.",
        "endpoints": endpoints,
        "tokens": [t.model_dump() for t in issued],
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return issued
