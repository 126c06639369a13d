"""Who is calling: bearer tokens mapped to principals, and what each kind of principal may do.

Three kinds of principal: a regulator acts for its own region only; a partner city only reads; an
operator watches. Tokens come from a JSON token book (in local mode generated once under `./var/`,
readable by tools and people); only their SHA-256 digests are kept in memory.
"""

import hashlib
import json
import logging
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor
from regstd.contracts.reference import Reference
from regstd.runtime.errors import Forbidden

log = logging.getLogger(__name__)

PrincipalKind = Literal["regulator", "city", "operator"]


class Principal(BaseModel):
    """An authenticated caller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PrincipalKind
    code: str = Field(
        description="The region code of a regulator, the city code of a city, 'ops' for an operator."
    )
    name: str

    def actor(self) -> Actor:
        """The principal as recorded in events: who did it."""
        return Actor(kind=self.kind, code=self.code, name=self.name)

    def require_regulator(self) -> None:
        """Refuse anything but a regulator: cities only read, operators only watch."""
        if self.kind != "regulator":
            raise Forbidden(f"a {self.kind} ({self.name}) may only read; this needs a regulator")

    def require_region(self, region: str) -> None:
        """Refuse unless this is the regulator of exactly that region."""
        self.require_regulator()
        if self.code != region:
            raise Forbidden(
                f"the regulator of region {self.code} acts only for region {self.code}, not for {region}"
            )


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
