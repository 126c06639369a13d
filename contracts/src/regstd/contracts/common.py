"""Value types shared by several events."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RegionCode = str
"""Two-digit GB/T 2260 region code, for example "50" for Chongqing."""

Kind = Literal["recommended", "mandatory"]
"""推荐性 (numbered DB50/T …) or 强制性 (numbered DB50 …)."""


class ContractModel(BaseModel):
    """A value inside an event: immutable, and tolerant of fields added by later minors."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class TextReference(ContractModel):
    """Where a standard's text lives and the digest that proves which text it is."""

    location: str = Field(min_length=1, max_length=2048)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Actor(ContractModel):
    """Who did something: the principal's kind and the region or city it acts for."""

    kind: Literal["regulator", "city", "operator"]
    code: str = Field(
        min_length=1, max_length=16, description="Region code for a regulator, city code for a city."
    )
    name: str | None = Field(default=None, max_length=200)
