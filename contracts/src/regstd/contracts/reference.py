"""Reference data every service shares: regions, cooperation areas with their parties and number
blocks, partner cities, and rule defaults. The packaged `regions.json` is a copy of the project's
`shared/reference/regions.json`; a test keeps the two equal."""

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REGIONS_FILE = Path(__file__).parent / "regions.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Region(_Frozen):
    """A province or municipality: its two-digit code is its local standards' code (DB50)."""

    code: str = Field(pattern=r"^[0-9]{2}$")
    name_zh: str
    name_en: str
    regulator_zh: str
    eco_authority_zh: str

    @property
    def standard_code(self) -> str:
        """DB plus the region code, for example DB50."""
        return f"DB{self.code}"


class Area(_Frozen):
    """A cooperation area and its parties; joint standards draw numbers from its block, if any."""

    id: str
    name_zh: str
    name_en: str
    parties: tuple[str, ...]
    joint_number_block_first: int | None = None
    procedure_en: str | None = None

    @property
    def min_parties(self) -> int:
        """A joint project needs at least two of the area's members (all of them if only two)."""
        return min(2, len(self.parties))


class PartnerCity(_Frozen):
    """A city that subscribes to publications; it reads and never writes."""

    code: str
    name_zh: str
    region: str
    areas: tuple[str, ...]


class Reference(_Frozen):
    """The whole reference data set."""

    regions: dict[str, Region]
    areas: dict[str, Area]
    partner_cities: dict[str, PartnerCity]
    rules: dict[str, Any]

    def region(self, code: str) -> Region:
        """The region with this code; KeyError names it when unknown."""
        try:
            return self.regions[code]
        except KeyError:
            raise KeyError(f"unknown region {code!r}") from None

    def area(self, area_id: str) -> Area:
        """The area with this id; KeyError names it when unknown."""
        try:
            return self.areas[area_id]
        except KeyError:
            raise KeyError(f"unknown area {area_id!r}") from None

    def rule_value(self, name: str) -> Any:
        """A rule default; entries shaped `{"value": ..., "status": ...}` give their value."""
        rule = self.rules[name]
        return rule["value"] if isinstance(rule, dict) and "value" in rule else rule


def parse_reference(raw: dict[str, Any]) -> Reference:
    """Build the reference model from the JSON structure of regions.json."""
    return Reference(
        regions={r["code"]: Region.model_validate(r) for r in raw["regions"]},
        areas={a["id"]: Area.model_validate(a) for a in raw["areas"]},
        partner_cities={c["code"]: PartnerCity.model_validate(c) for c in raw["partner_cities"]},
        rules=raw["rules"],
    )


@cache
def load_reference(path: Path = REGIONS_FILE) -> Reference:
    """The reference data, read once."""
    return parse_reference(json.loads(path.read_text(encoding="utf-8")))
