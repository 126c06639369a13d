"""Limit values from regions' environmental standards, pure: the curated parameter aliases, units
and their conversion, and the all-or-nothing reading of an import (CSV or JSON). No I/O here.

Every limit here is a maximum (an emission or quality limit): the lower value is the stricter one.
Minimum-type or range limits (dissolved oxygen, pH) are out of scope; see the service README.

Values are decimals, never binary floats: 150 µg/m³ is exactly 0.15 mg/m³, so the same inputs
always give the same report.
"""

import csv
import functools
import gc
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple

Medium = Literal["air", "water", "soil", "hazardous_waste", "noise"]
MEDIA: tuple[Medium, ...] = ("air", "water", "soil", "hazardous_waste", "noise")
_MEDIUM_NAMES: dict[str, Medium] = {
    "air": "air", "大气": "air", "空气": "air", "废气": "air",
    "water": "water", "水": "water", "废水": "water", "水污染物": "water",
    "soil": "soil", "土壤": "soil",
    "hazardous_waste": "hazardous_waste", "hazardous waste": "hazardous_waste", "危险废物": "hazardous_waste",
    "noise": "noise", "噪声": "noise",
}  # fmt: skip


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while an import or an assessment runs (also a decorator).

    They make tens of thousands of immutable rows and values and no reference cycles, so a full
    collection run meanwhile finds nothing, yet walks every object of the process, several times
    per assessment (decision 43). Memory is still freed as usual (reference counting); the collector
    resumes when the work is done, and an already paused collector is left paused.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------------
# Parameters and their aliases


@dataclass(frozen=True)
class Parameter:
    """A pollutant or indicator as the analysis knows it: one id, its names, its CAS number."""

    id: str
    name_en: str
    name_zh: str
    cas: str | None
    aliases: tuple[str, ...]


def _p(id: str, en: str, zh: str, cas: str | None, *aliases: str) -> Parameter:
    return Parameter(id, en, zh, cas, (id, en, zh, *aliases))


# A small curated table of common air and water pollutants. Extend it here (or pass your own table
# to `ParameterTable`). 颗粒物 in an emission standard is total particulate matter, not PM10: it
# stays its own parameter; PM10 is 可吸入颗粒物 / 颗粒物(粒径小于等于10μm). VOCs and NMHC (非甲烷总烃)
# are measured differently and are kept apart as well.
PARAMETERS: tuple[Parameter, ...] = (
    _p("SO2", "sulphur dioxide", "二氧化硫", "7446-09-5", "sulfur dioxide", "SO₂"),
    _p("NOx", "nitrogen oxides", "氮氧化物", None, "NOx (as NO2)", "氮氧化物(以NO2计)", "NOX"),
    _p("NO2", "nitrogen dioxide", "二氧化氮", "10102-44-0"),
    _p("PM", "particulate matter", "颗粒物", None, "烟尘", "粉尘", "dust"),
    _p("PM10", "PM10", "可吸入颗粒物", None, "颗粒物(粒径小于等于10μm)", "PM₁₀"),
    _p("PM2.5", "PM2.5", "细颗粒物", None, "颗粒物(粒径小于等于2.5μm)", "PM₂.₅", "PM25"),
    _p("CO", "carbon monoxide", "一氧化碳", "630-08-0"),
    _p("O3", "ozone", "臭氧", "10028-15-6", "O₃"),
    _p("VOCs", "volatile organic compounds", "挥发性有机物", None, "VOC", "TVOC"),
    _p("NMHC", "non-methane hydrocarbons", "非甲烷总烃", None, "non-methane total hydrocarbons"),
    _p("benzene", "benzene", "苯", "71-43-2"),
    _p("toluene", "toluene", "甲苯", "108-88-3"),
    _p("xylene", "xylene", "二甲苯", "1330-20-7"),
    _p("H2S", "hydrogen sulphide", "硫化氢", "7783-06-4", "hydrogen sulfide"),
    _p("NH3", "ammonia", "氨", "7664-41-7", "氨气"),
    _p("HCl", "hydrogen chloride", "氯化氢", "7647-01-0"),
    _p("fluoride", "fluoride", "氟化物", None),
    _p("odour", "odour concentration", "臭气浓度", None, "odor", "odour"),
    _p("COD", "chemical oxygen demand", "化学需氧量", None, "CODcr", "COD_Cr", "CODCr"),
    _p("BOD5", "five-day biochemical oxygen demand", "五日生化需氧量", None, "BOD₅", "BOD"),
    _p("NH3-N", "ammonia nitrogen", "氨氮", None, "NH3N", "NH₃-N"),
    _p("TP", "total phosphorus", "总磷", None),
    _p("TN", "total nitrogen", "总氮", None),
    _p("SS", "suspended solids", "悬浮物", None),
    _p("Pb", "lead", "铅", "7439-92-1", "总铅"),
    _p("Cd", "cadmium", "镉", "7440-43-9", "总镉"),
    _p("Hg", "mercury", "汞", "7439-97-6", "总汞"),
    _p("As", "arsenic", "砷", "7440-38-2", "总砷"),
    _p("Cr(VI)", "hexavalent chromium", "六价铬", "18540-29-9", "Cr6+", "CrVI", "Cr(6+)"),
    _p("Cr", "total chromium", "总铬", "7440-47-3", "chromium"),
    _p("LAeq", "equivalent continuous A-weighted sound level", "等效声级", None,
       "Leq", "等效连续A声级", "环境噪声", "噪声"),
)  # fmt: skip

# "(以N计)", "(as NO2)": what a value is expressed as; the parameter is the same.
_EXPRESSED_AS = re.compile(r"\((?:以.*计|as [^)]*)\)$")


# An import repeats a few hundred distinct names, units and conditions tens of thousands of times:
# the lookups below are pure, so each distinct text is folded once (bounded caches).
_CACHED = 8192


@functools.lru_cache(maxsize=_CACHED)
def name_key(name: str) -> str:
    """A name as compared: full-width and subscript characters folded, case and spaces ignored."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())  # split(): any whitespace


class ParameterTable:
    """Finds a parameter by any of its names, or by its CAS number."""

    def __init__(self, parameters: Iterable[Parameter] = PARAMETERS) -> None:
        self.parameters = tuple(parameters)
        self._by_name: dict[str, Parameter] = {}
        self._by_cas: dict[str, Parameter] = {}
        self._found: dict[tuple[str, str | None], Parameter | None] = {}
        for p in self.parameters:
            for alias in p.aliases:
                self._by_name.setdefault(name_key(alias), p)
            if p.cas:
                self._by_cas[p.cas] = p

    def find(self, name: str, cas: str | None = None) -> Parameter | None:
        """The parameter of a name as written (ignoring an "expressed as" suffix), else of its CAS."""
        try:
            return self._found[(name, cas)]
        except KeyError:
            pass
        if len(self._found) >= _CACHED:
            self._found.clear()  # a table answers the same forever; the cache only bounds memory
        found = self._found[(name, cas)] = self._lookup(name, cas)
        return found

    def _lookup(self, name: str, cas: str | None) -> Parameter | None:
        key = name_key(name)
        found = self._by_name.get(key) or self._by_name.get(_EXPRESSED_AS.sub("", key))
        if found is None and cas:
            found = self._by_cas.get(cas.strip())
        return found


# ---------------------------------------------------------------------------------------------
# Units


@dataclass(frozen=True)
class Unit:
    """A unit as understood: the quantity it measures, its canonical unit and the factor to it."""

    symbol: str
    quantity: str
    canonical: str
    factor: Decimal | None  # None: comparable only with itself, never converted

    @property
    def convertible(self) -> bool:
        return self.factor is not None


_MG_M3 = "mg/m³"
_MG_L = "mg/L"
UNITS: dict[str, Unit] = {
    "mg/m3": Unit(_MG_M3, "mass concentration in air", _MG_M3, Decimal(1)),
    "μg/m3": Unit("µg/m³", "mass concentration in air", _MG_M3, Decimal("0.001")),
    "ng/m3": Unit("ng/m³", "mass concentration in air", _MG_M3, Decimal("0.000001")),
    "g/m3": Unit("g/m³", "mass concentration in air", _MG_M3, Decimal(1000)),
    "mg/l": Unit(_MG_L, "mass concentration in water", _MG_L, Decimal(1)),
    "μg/l": Unit("µg/L", "mass concentration in water", _MG_L, Decimal("0.001")),
    "ng/l": Unit("ng/L", "mass concentration in water", _MG_L, Decimal("0.000001")),
    "mg/kg": Unit("mg/kg", "mass fraction", "mg/kg", Decimal(1)),
    "kg/h": Unit("kg/h", "emission rate", "kg/h", Decimal(1)),
    "db(a)": Unit("dB(A)", "A-weighted sound level", "dB(A)", Decimal(1)),
    # Odour concentration is dimensionless (无量纲): compared with other odour values as they are,
    # never converted to a mass concentration.
    "无量纲": Unit("无量纲", "odour concentration (dimensionless)", "无量纲", None),
}
_UNIT_ALIASES = {
    "ug/m3": "μg/m3", "mcg/m3": "μg/m3", "mg/nm3": "mg/m3", "μg/nm3": "μg/m3", "ng/nm3": "ng/m3",
    "ug/l": "μg/l", "dba": "db(a)", "db": "db(a)", "分贝": "db(a)",
    "dimensionless": "无量纲", "ou": "无量纲", "ou/m3": "无量纲", "-": "无量纲", "1": "无量纲",
}  # fmt: skip


@functools.lru_cache(maxsize=_CACHED)
def unit_key(text: str) -> str:
    """A unit as compared: µ (micro sign) and μ alike, ³ as 3, case and spaces ignored."""
    folded = unicodedata.normalize("NFKC", text).casefold()  # µ → μ, ³ → 3, full width → ASCII
    folded = "".join(folded.split()).replace("（", "(").replace("）", ")")
    return _UNIT_ALIASES.get(folded, folded)


@functools.lru_cache(maxsize=_CACHED)
def find_unit(text: str) -> Unit | None:
    """The unit written as `text`, or None when unknown."""
    return UNITS.get(unit_key(text))


# ---------------------------------------------------------------------------------------------
# Rows and their import


class LimitRow(NamedTuple):
    """One limit of one region's standard, as imported and aligned.

    `parameter` and `unit` are as written; `parameter_id`, `canonical_unit` and `canonical_value`
    are what the analysis compares. A named tuple: immutable like a frozen dataclass, and about
    three times cheaper to make, which counts at tens of thousands of rows per import.
    """

    line: int
    region: str
    standard_number: str
    standard_title: str
    medium: Medium
    source_category: str
    parameter: str
    cas: str | None
    unit: str
    condition: str
    value: Decimal
    national_baseline: Decimal | None
    parameter_id: str
    parameter_known: bool
    quantity: str
    canonical_unit: str
    canonical_value: Decimal
    canonical_baseline: Decimal | None
    key: tuple[str, str, str, str, str]
    """What must be equal for two limits to be compared: medium, source category, parameter,
    condition (kept apart when they differ) and the measured quantity."""

    def to_dict(self) -> dict[str, Any]:
        """The row as stored and digested: decimals as strings."""
        return {
            "line": self.line,
            "region": self.region,
            "standard_number": self.standard_number,
            "standard_title": self.standard_title,
            "medium": self.medium,
            "source_category": self.source_category,
            "parameter": self.parameter,
            "cas": self.cas,
            "unit": self.unit,
            "condition": self.condition,
            "value": str(self.value),
            "national_baseline": None if self.national_baseline is None else str(self.national_baseline),
        }


FIELDS = (
    "region", "standard_number", "standard_title", "medium", "source_category", "parameter", "cas",
    "unit", "condition", "value", "national_baseline",
)  # fmt: skip
REQUIRED = ("standard_number", "medium", "source_category", "parameter", "unit", "value")


@dataclass(frozen=True)
class RowError:
    """Why one row cannot be imported: its line (CSV) or item number (JSON), and the reason."""

    line: int
    reason: str


class ImportRejected(Exception):
    """An import with bad rows: nothing of it is imported; every bad row is named."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(f"line {e.line}: {e.reason}" for e in self.errors[:20])
        more = f" (and {len(self.errors) - 20} more)" if len(self.errors) > 20 else ""
        super().__init__(f"{len(self.errors)} bad row(s), nothing imported: {shown}{more}")


def read_csv(text: str) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a CSV text with a header line, each with its line number in the file."""
    text = text.removeprefix("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise ImportRejected([RowError(1, "empty file: a header line naming the columns is expected")])
    header = [name_key(f) for f in reader.fieldnames]
    missing = [f for f in REQUIRED if f not in header]
    unknown = [f for f in header if f not in FIELDS]
    if missing or unknown:
        problems = [f"missing columns {missing}"] if missing else []
        problems += [f"unknown columns {unknown}"] if unknown else []
        raise ImportRejected([RowError(1, "; ".join(problems) + f"; the columns are {list(FIELDS)}")])
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        for raw in reader:
            row: dict[str, Any] = {k: v for k, v in raw.items() if k is not None}
            if None in raw:
                row["__extra__"] = raw[None]
            rows.append((reader.line_num, row))  # the line the row ends on: its line, for one-line rows
    except csv.Error as error:  # a field over the csv module's own limit (128 KiB), a stray quote
        raise ImportRejected([RowError(reader.line_num, f"not CSV: {error}")]) from error
    return rows


def read_json(text: str) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a JSON array (or `{"rows": [...]}`), each with its item number from 1."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportRejected([RowError(error.lineno, f"not JSON: {error.msg}")]) from error
    except (ValueError, RecursionError) as error:  # an integer of thousands of digits, deep nesting
        raise ImportRejected([RowError(1, f"not JSON rows: {error}")]) from error
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list):
        raise ImportRejected([RowError(1, 'expected a JSON array of rows, or {"rows": [...]}')])
    return [
        (i, item if isinstance(item, dict) else {"__not_object__": item}) for i, item in enumerate(data, 1)
    ]


MAX_IMPORT_ROWS = 20_000
"""The most rows one import holds (`REGSTD_MAX_IMPORT_ROWS`): an import is stored as one document,
which the store keeps under 16 MiB (decision 27)."""

MAX_FIELD_CHARS = 500
"""The longest field of a row (a standard's title); shorter limits for the others are in `_row`."""


def require_row_count(raw_rows: Sequence[object], max_rows: int = MAX_IMPORT_ROWS) -> None:
    """Refuse an import of more rows than one import holds, naming the limit."""
    if len(raw_rows) > max_rows:
        raise ImportRejected(
            [RowError(1, f"{len(raw_rows)} rows: an import holds at most {max_rows} rows; split the file")]
        )


@cycle_collection_paused()
def parse_rows(
    raw_rows: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    region: str,
    table: ParameterTable,
) -> list[LimitRow]:
    """Validate every row first and return them all, or raise ImportRejected naming every bad one.

    Rows belong to `region` (the importing regulator's); a row naming another region is refused.
    """
    rows: list[LimitRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, tuple[str, str, str, str, str]], tuple[int, Decimal]] = {}
    if not raw_rows:
        raise ImportRejected([RowError(1, "no rows")])
    for line, raw in raw_rows:
        try:
            row = _row(line, raw, region, table)
        except ValueError as error:
            errors.append(RowError(line, str(error)))
            continue
        dup_key = (row.standard_number, row.key)
        if dup_key in seen and seen[dup_key][1] != row.canonical_value:
            errors.append(
                RowError(
                    line,
                    f"repeats line {seen[dup_key][0]} (same standard, medium, category, "
                    "parameter and condition) with another value",
                )
            )
            continue
        seen.setdefault(dup_key, (line, row.canonical_value))
        rows.append(row)
    if errors:
        raise ImportRejected(errors)
    return rows


# Control characters other than tab, newline and carriage return, and lone surrogates (a JSON
# "\ud800"): no stored text holds them (the store refuses a NUL).
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _text(raw: Mapping[str, Any], field: str, *, required: bool = False, limit: int = MAX_FIELD_CHARS) -> str:
    value = raw.get(field)
    if type(value) is str:  # the common case first: CSV cells and JSON strings
        text = value.strip()
    elif value is None:
        text = ""
    elif isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{field} must be text, not {type(value).__name__}")
    else:
        text = str(value).strip()
    if not text:
        if required:
            raise ValueError(f"{field} is missing")
        return ""
    if len(text) > limit:
        raise ValueError(f"{field} is longer than {limit} characters (its limit)")
    bad = _NOT_TEXT.search(text)
    if bad is not None:
        raise ValueError(f"{field} holds U+{ord(bad.group()):04X}, a control character or lone surrogate")
    return text


def _decimal(raw: Mapping[str, Any], field: str, *, required: bool) -> Decimal | None:
    text = _text(raw, field, required=required, limit=40)
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{field} {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{field} {text!r} is not a finite number")
    if value < 0:
        raise ValueError(f"{field} {text!r} is negative")
    return value


@functools.lru_cache(maxsize=_CACHED)
def _medium(text: str) -> Medium | None:
    return _MEDIUM_NAMES.get(name_key(text)) or _MEDIUM_NAMES.get(text.strip().lower())


_ALLOWED = frozenset((*FIELDS, "line"))
_CAS_FORM = re.compile(r"[0-9]{2,7}-[0-9]{2}-[0-9]")


# A local standard's code: DB, the two-digit region code, two or four more digits for a city's or a
# county's standard (DB5101), then "/T", "/" or a space before the sequence number.
_LOCAL_CODE = re.compile(r"DB(\d{2})(?:\d{2}){0,2}(?!\d)\s*[/\s]")


def standard_regions(standard_number: str) -> list[str] | None:
    """The region codes of a standard number: one per designation (a joint standard may be written
    with all of them, `DB50/T 10003—2026 = DB51/T 10003—2026`); None when a part is not a local
    standard's designation (a national GB standard, a typo)."""
    regions: list[str] = []
    for part in unicodedata.normalize("NFKC", standard_number).upper().split("="):
        found = _LOCAL_CODE.match(part.strip())
        if found is None:
            return None
        regions.append(found.group(1))
    return regions


def _require_own_standard(standard_number: str, region: str) -> None:
    """A region imports only the limits of its own local standards (decision 0026)."""
    regions = standard_regions(standard_number)
    if regions is None:
        raise ValueError(
            f"standard {standard_number!r} is not a local standard's designation (DB{region}/T 1234—2024, "
            f"DB{region} 418—2016): a region imports only its own standards' limits; a national "
            "limit goes in national_baseline"
        )
    if region not in regions:
        owners = ", ".join(sorted(set(regions)))
        raise ValueError(
            f"standard {standard_number} is region {owners}'s, not the importing region {region}'s: "
            f"a region imports only its own standards (DB{region}…)"
        )


def _row(line: int, raw: Mapping[str, Any], region: str, table: ParameterTable) -> LimitRow:
    if "__not_object__" in raw:
        raise ValueError("a row must be an object with the fields " + ", ".join(FIELDS))
    if "__extra__" in raw:
        raise ValueError("more values than columns")
    unknown = raw.keys() - _ALLOWED
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    row_region = _text(raw, "region")
    if row_region and row_region != region:
        raise ValueError(f"region {row_region} is not the importing region {region}")
    standard_number = _text(raw, "standard_number", required=True, limit=100)
    _require_own_standard(standard_number, region)
    medium_text = _text(raw, "medium", required=True)
    medium = _medium(medium_text)
    if medium is None:
        raise ValueError(f"unknown medium {medium_text!r}; one of {', '.join(MEDIA)}")
    parameter_text = _text(raw, "parameter", required=True, limit=200)
    cas = _text(raw, "cas", limit=20) or None
    if cas is not None and not _CAS_FORM.fullmatch(cas):
        raise ValueError(f"CAS number {cas!r} is not of the form 7446-09-5")
    parameter = table.find(parameter_text, cas)
    if parameter is not None and cas and parameter.cas and parameter.cas != cas:
        raise ValueError(f"{parameter_text} is {parameter.name_en} (CAS {parameter.cas}), not CAS {cas}")
    unit_text = _text(raw, "unit", required=True, limit=40)
    unit = find_unit(unit_text)
    if unit is None:
        known = ", ".join(sorted({u.symbol for u in UNITS.values()}))
        raise ValueError(f"unknown unit {unit_text!r}; known: {known}")
    value = _decimal(raw, "value", required=True)
    assert value is not None
    baseline = _decimal(raw, "national_baseline", required=False)
    category = _text(raw, "source_category", required=True, limit=200)
    condition = _text(raw, "condition", limit=200)
    return _aligned(
        line,
        region,
        standard_number,
        _text(raw, "standard_title"),
        medium,
        category,
        parameter_text,
        cas,
        unit_text,
        condition,
        value,
        baseline,
        parameter,
        unit,
    )


def _aligned(
    line: int,
    region: str,
    standard_number: str,
    standard_title: str,
    medium: Medium,
    category: str,
    parameter_text: str,
    cas: str | None,
    unit_text: str,
    condition: str,
    value: Decimal,
    baseline: Decimal | None,
    parameter: Parameter | None,
    unit: Unit,
) -> LimitRow:
    """A row as the analysis compares it: parameter id, canonical unit and value, comparison key."""
    factor = unit.factor if unit.factor is not None else Decimal(1)
    if parameter is not None:
        parameter_id = parameter.id
    else:  # not in the table: compared with rows of the same name (or CAS) only
        parameter_id = f"cas:{cas}" if cas else f"name:{name_key(parameter_text)}"
    # Positional, in field order: a named tuple is made about twice as fast as with keywords, which
    # counts at tens of thousands of rows per assessment (the pinned-output test checks the order).
    return LimitRow(
        line,
        region,
        standard_number,
        standard_title,
        medium,
        category,
        parameter_text,
        cas,
        unit_text,
        condition,
        value,
        baseline,
        parameter_id,
        parameter is not None,  # parameter_known
        unit.quantity,
        unit.canonical,  # canonical_unit
        value * factor,  # canonical_value
        None if baseline is None else baseline * factor,  # canonical_baseline
        (medium, name_key(category), parameter_id, name_key(condition), unit.quantity),  # key
    )


@cycle_collection_paused()
def rows_from_dicts(
    stored: Iterable[Mapping[str, Any]], region: str, table: ParameterTable
) -> list[LimitRow]:
    """Rows as stored by an import, aligned again with the current table (it may have grown since).

    They were validated when imported (and only this service writes them), so only what alignment
    needs is recomputed; a stored row whose unit the current table no longer knows is named as an
    import error would be.
    """
    rows: list[LimitRow] = []
    errors: list[RowError] = []
    for d in stored:
        line, unit_text, parameter_text, cas = int(d["line"]), d["unit"], d["parameter"], d["cas"]
        unit = find_unit(unit_text)
        if unit is None:
            errors.append(RowError(line, f"unknown unit {unit_text!r}"))
            continue
        baseline = d["national_baseline"]
        rows.append(
            _aligned(
                line,
                region,
                d["standard_number"],
                d["standard_title"],
                d["medium"],
                d["source_category"],
                parameter_text,
                cas,
                unit_text,
                d["condition"],
                Decimal(d["value"]),
                None if baseline is None else Decimal(baseline),
                table.find(parameter_text, cas),
                unit,
            )
        )
    if errors:
        raise ImportRejected(errors)
    return rows


# ---------------------------------------------------------------------------------------------
# Imports and digests


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: the digested form."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def rows_digest(stored: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the rows as stored (`LimitRow.to_dict`): the same file imported twice is the same
    import."""
    return hashlib.sha256(canonical_json(list(stored)).encode("utf-8")).hexdigest()


def import_id(region: str, digest: str) -> str:
    """An import's id follows from its region and rows: importing the same rows again stores nothing."""
    return f"imp-{region}-{digest[:20]}"
