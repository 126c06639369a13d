"""Who acts, and what each kind of principal may do.

Three kinds of principal: a regulator acts for its own region only; a partner city only reads; an
operator watches. How a caller proves who it is (bearer tokens, the token book) is the runtime's
(`regstd.runtime.auth`); what it may do is decided here, in the domain's terms.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import Actor
from regstd.kernel.errors import Forbidden

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

    def require_operator(self) -> None:
        """Refuse anything but an operator: spans and dead letters are the operator's to read and
        replay, not a regulator's or a city's."""
        if self.kind != "operator":
            raise Forbidden(f"a {self.kind} ({self.name}) may not do this; it needs the operator")
