"""Indicator definitions, read from services/catalog/indicators/<code>.yaml and checked against the catalog.

An indicator file is declarative (see services/catalog/indicators/README.md):

    code, names, definition, notes        texts in ar / fr / en
    sources: [dataset]                    the catalog dataset it is computed from
    unit, unit_labels, references         e.g. "SDG 10.7.3", "GCM Objective 8"
    measure:  count: rows                 one per accepted row
              count: persons              one per person (`person` field), described by their
                                          latest row (`latest` fields, newest first)
              sum: [field, -field]        a sum of integer fields
              sum: parts                  the sum of a parts dimension's codes (below)
              method: net_migration       a named method with its parameters (services/indicators/net_migration.py)
    filters:  [{field, in | not_in}]      which rows count (not_in keeps blanks)
    period:   date: <field>               a flow: rows fall in the month and year of that date
              valid_from / valid_to       a stock: rows valid on the last day of each month / year
              frequency: [year, month]
              since: 2000                 stocks: first year computed
    rate:     {population: TUN, per: 100000} or {population_of: <dimension>, per: ...}
    dimensions: (at most 6, in the order of the aggregate table's columns)
              {name, field}               a code field; its codelist is the field's
              {name, age_group: {birth_date, age, age_at}}   age at the period's date, grouped
                                          by codelists/age_groups.yaml (attributes min, max)
              {name, parts: {CODE: [fields]}, codelist | codes}   the value split in parts
              {name, method: ..., codes, total: false, default}   set by the measure's method
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as _default
from functools import lru_cache
from pathlib import Path

import yaml

from services.catalog import Catalog, CatalogError, Dataset, default_catalog
from services.languages import LANGUAGES
from services.models_indicators import MAX_DIMENSIONS

INDICATORS_DIR = Path(__file__).resolve().parents[1] / "catalog" / "indicators"
POPULATION_FILE = "population.yaml"
FREQUENCIES = ("year", "month")
PERIOD_NAMES = ("year", "month")
METHODS = ("net_migration",)
UNKNOWN = "_U"  # SDMX code for "unknown": a blank field or an age that cannot be computed
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


class IndicatorError(CatalogError):
    """An indicator file is not coherent with itself or with the dataset catalog."""


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: str                                   # field | age_group | parts | method
    field: str | None = None                    # kind field
    codelist: str | None = None
    codes: dict = _default(default_factory=dict)   # code -> labels, when no catalog codelist has them
    parts: dict = _default(default_factory=dict)   # kind parts: code -> ((sign, field), ...)
    birth_date: str | None = None               # kind age_group
    age: str | None = None
    age_at: str | None = None                   # the date the recorded age refers to
    total: bool = True                          # whether margins over this dimension make sense
    default: str | None = None                  # queried when a query names no code and total is false
    labels: dict = _default(default_factory=dict)  # the dimension's name in ar / fr / en


@dataclass(frozen=True)
class Filter:
    field: str
    op: str                                     # in | not_in
    values: tuple[str, ...]


@dataclass(frozen=True)
class Indicator:
    code: str
    names: dict
    definition: dict
    notes: dict
    dataset: str
    unit: str
    unit_labels: dict
    references: tuple[str, ...]
    measure: dict                               # as written; see `count`, `sum_fields`, `method`
    filters: tuple[Filter, ...]
    period: dict
    frequency: tuple[str, ...]
    dimensions: tuple[Dimension, ...]
    rate: dict | None = None

    @property
    def is_stock(self) -> bool:
        return "valid_from" in self.period

    @property
    def method(self) -> str | None:
        return self.measure.get("method")

    @property
    def count(self) -> str | None:
        return self.measure.get("count")

    @property
    def parts_dimension(self) -> Dimension | None:
        return next((d for d in self.dimensions if d.kind == "parts"), None)

    @property
    def sum_fields(self) -> tuple[tuple[int, str], ...]:
        """(sign, field) of a plain sum; empty for counts and for sums of parts."""
        raw = self.measure.get("sum")
        return _signed(raw) if isinstance(raw, list) else ()

    @property
    def additive_over_periods(self) -> bool:
        """Whether summing periods means something: flows yes; stocks and rates no."""
        return not self.is_stock and self.rate is None

    def dimension(self, name: str) -> Dimension:
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(f"indicator {self.code} has no dimension {name!r}; "
                       f"it has {', '.join(d.name for d in self.dimensions) or 'none'}")

    def dimension_label(self, name: str, catalog: Catalog | None = None) -> dict:
        """The dimension's name in each language: its own, else its field's, else its codelist's."""
        d = self.dimension(name)
        catalog = catalog or default_catalog()
        if d.labels:
            return dict(d.labels)
        if d.kind == "field":
            return dict(catalog.dataset(self.dataset).field(d.field).labels)
        if d.codelist:
            return dict(catalog.codelists[d.codelist].names)
        return {lang: name for lang in LANGUAGES}

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    def meta(self, catalog: Catalog | None = None) -> dict:
        """What IndicatorTable.meta carries for exports and the portal (services/exports/metadata.py)."""
        meta = {
            "names": dict(self.names), "definition": dict(self.definition), "reference": list(self.references),
            "sources": [self.dataset], "codelists": {d.name: d.codelist for d in self.dimensions if d.codelist},
        }
        if self.notes:
            meta["notes"] = dict(self.notes)
        if self.unit_labels:
            meta["unit"] = dict(self.unit_labels)
        meta["dimension_labels"] = {d.name: self.dimension_label(d.name, catalog) for d in self.dimensions}
        codes = {d.name: {c: dict(lab) for c, lab in d.codes.items()} for d in self.dimensions if d.codes}
        if codes:
            meta["code_labels"] = codes
        return meta


def _signed(fields) -> tuple[tuple[int, str], ...]:
    out = []
    for f in fields:
        f = str(f).strip()
        out.append((-1, f[1:].strip()) if f.startswith("-") else (1, f))
    return tuple(out)


def _texts(path, data, key, required=True) -> dict:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or any(not value.get(lang) for lang in LANGUAGES):
        raise IndicatorError(f"{path}: {key} needs a text in each of {', '.join(LANGUAGES)}")
    return {lang: str(value[lang]) for lang in LANGUAGES}


def _date_field(path, ds: Dataset, name, what):
    try:
        f = ds.field(name)
    except KeyError:
        raise IndicatorError(f"{path}: {what} {name!r} is not a field of dataset {ds.code}") from None
    if f.type != "date":
        raise IndicatorError(f"{path}: {what} {name!r} is a {f.type}, not a date")
    return f


def _field(path, ds: Dataset, name, what, types=None):
    try:
        f = ds.field(name)
    except KeyError:
        raise IndicatorError(f"{path}: {what} {name!r} is not a field of dataset {ds.code}") from None
    if types and f.type not in types:
        raise IndicatorError(f"{path}: {what} {name!r} is a {f.type}; expected {' or '.join(types)}")
    return f


def _dimension(path, raw: dict, ds: Dataset, catalog: Catalog, method: str | None) -> Dimension:
    name = raw.get("name")
    where = f"{path}: dimension {name!r}"
    if not isinstance(name, str) or not _CODE.match(name) or name in PERIOD_NAMES:
        raise IndicatorError(f"{where}: a dimension needs a snake_case name other than {', '.join(PERIOD_NAMES)}")
    codes = {str(c): _texts(f"{where} code {c}", {"labels": labels}, "labels")
             for c, labels in (raw.get("codes") or {}).items()}
    codelist = raw.get("codelist")
    if codelist is not None and codelist not in catalog.codelists:
        raise IndicatorError(f"{where}: codelist {codelist!r} is not in codelists/")
    labels = _texts(where, raw, "labels", required=False)
    common = dict(name=name, codes=codes, total=bool(raw.get("total", True)), default=raw.get("default"),
                  labels=labels)
    if "field" in raw:
        f = _field(path, ds, raw["field"], "dimension field", ("code",))
        return Dimension(kind="field", field=f.name, codelist=codelist or f.codelist, **common)
    if "age_group" in raw:
        spec = raw["age_group"] or {}
        birth, age = spec.get("birth_date"), spec.get("age")
        if not birth and not age:
            raise IndicatorError(f"{where}: age_group needs birth_date or age")
        if birth:
            _date_field(path, ds, birth, "birth_date")
        if age:
            _field(path, ds, age, "age", ("integer",))
        if spec.get("age_at"):
            _date_field(path, ds, spec["age_at"], "age_at")
        codelist = codelist or "age_groups"
        if codelist not in catalog.codelists:
            raise IndicatorError(f"{where}: codelist {codelist!r} is not in codelists/")
        for item in catalog.codelists[codelist].items:
            if "min" not in (item.get("attributes") or {}):
                raise IndicatorError(f"{where}: age group {item['code']} has no attribute min")
        return Dimension(kind="age_group", birth_date=birth, age=age, age_at=spec.get("age_at"),
                         codelist=codelist, **common)
    if "parts" in raw:
        parts = {}
        for code, fields in (raw["parts"] or {}).items():
            signed = _signed(fields if isinstance(fields, list) else [fields])
            for _, fname in signed:
                _field(path, ds, fname, f"part {code}", ("integer", "decimal"))
            parts[str(code)] = signed
        if not parts or not (codelist or codes):
            raise IndicatorError(f"{where}: parts need codes and a codelist or inline codes")
        known = set(catalog.codelists[codelist].codes) if codelist else set(codes)
        if set(parts) - known:
            raise IndicatorError(f"{where}: parts {sorted(set(parts) - known)} are not codes of the dimension")
        return Dimension(kind="parts", parts=parts, codelist=codelist, **common)
    if "method" in raw:
        if not method:
            raise IndicatorError(f"{where}: a method dimension needs a measure with a method")
        if not codes:
            raise IndicatorError(f"{where}: a method dimension lists its codes")
        if not common["total"] and common["default"] not in codes:
            raise IndicatorError(f"{where}: without a total, default must be one of its codes")
        return Dimension(kind="method", **common)
    raise IndicatorError(f"{where}: give one of field, age_group, parts, method")


def _filters(path, raw, ds: Dataset, catalog: Catalog) -> tuple[Filter, ...]:
    out = []
    for i, f in enumerate(raw or ()):
        ops = [op for op in ("in", "not_in") if op in f]
        if len(ops) != 1 or set(f) - {"field", *ops}:
            raise IndicatorError(f"{path}: filters[{i}] needs a field and one of in, not_in")
        fdef = _field(path, ds, f.get("field"), f"filters[{i}] field")
        values = tuple(str(v) for v in f[ops[0]])
        if fdef.type == "code":
            unknown = set(values) - set(catalog.codelists[fdef.codelist].codes)
            if unknown:
                raise IndicatorError(f"{path}: filters[{i}]: {sorted(unknown)} are not codes of {fdef.codelist}")
        out.append(Filter(fdef.name, ops[0], values))
    return tuple(out)


def _indicator(path: Path, data: dict, catalog: Catalog) -> Indicator:
    code = data.get("code")
    if code != path.stem or not _CODE.match(str(code)):
        raise IndicatorError(f"{path}: code must equal the file name {path.stem!r}")
    sources = data.get("sources") or []
    if len(sources) != 1:
        raise IndicatorError(f"{path}: sources names the one dataset the indicator is computed from")
    if sources[0] not in catalog.datasets:
        raise IndicatorError(f"{path}: source {sources[0]!r} is not a dataset of the catalog")
    ds = catalog.datasets[sources[0]]
    references = tuple(str(r) for r in data.get("references") or ())
    if not references:
        raise IndicatorError(f"{path}: references names at least one SDG, GCM or UN reference")

    measure = dict(data.get("measure") or {})
    kinds = [k for k in ("count", "sum", "method") if k in measure]
    if len(kinds) != 1:
        raise IndicatorError(f"{path}: measure is one of count, sum, method")
    method = measure.get("method")
    if method is not None and method not in METHODS:
        raise IndicatorError(f"{path}: unknown method {method!r}; known: {', '.join(METHODS)}")
    if "count" in measure:
        if measure["count"] not in ("rows", "persons"):
            raise IndicatorError(f"{path}: count is rows or persons")
        if measure["count"] == "persons":
            _field(path, ds, measure.get("person"), "person")
            for name in measure.get("latest") or ():
                _field(path, ds, name, "latest")
    if method == "net_migration":
        for key in ("person", "direction", "declared_residence", "citizenship"):
            _field(path, ds, measure.get(key), key)
        _date_field(path, ds, measure.get("date"), "date")

    period = dict(data.get("period") or {})
    frequency = tuple(period.get("frequency") or ("year",))
    if not frequency or set(frequency) - set(FREQUENCIES):
        raise IndicatorError(f"{path}: period.frequency lists year and/or month")
    if "year" not in frequency:
        raise IndicatorError(f"{path}: period.frequency includes year")
    if ("date" in period) == ("valid_from" in period):
        raise IndicatorError(f"{path}: period has either date (a flow) or valid_from (a stock)")
    for key in ("date", "valid_from", "valid_to"):
        if period.get(key):
            _date_field(path, ds, period[key], f"period.{key}")
    if measure.get("count") == "persons" and "valid_from" not in period:
        raise IndicatorError(f"{path}: count: persons is for stocks (period.valid_from)")
    if "valid_from" in period and measure.get("count") != "persons":
        raise IndicatorError(f"{path}: a stock counts persons (measure.count: persons)")
    if method == "net_migration" and frequency != ("year",):
        raise IndicatorError(f"{path}: net migration is yearly (the 12-month rule)")

    dims = tuple(_dimension(path, d, ds, catalog, method) for d in data.get("dimensions") or ())
    names = [d.name for d in dims]
    if len(set(names)) != len(names):
        raise IndicatorError(f"{path}: duplicate dimension names")
    if len(dims) > MAX_DIMENSIONS:
        raise IndicatorError(f"{path}: at most {MAX_DIMENSIONS} dimensions")
    parts = [d for d in dims if d.kind == "parts"]
    if (measure.get("sum") == "parts") != bool(parts) or len(parts) > 1:
        raise IndicatorError(f"{path}: sum: parts goes with exactly one parts dimension")
    if isinstance(measure.get("sum"), list):
        for _, fname in _signed(measure["sum"]):
            _field(path, ds, fname, "sum field", ("integer", "decimal"))
    if method and not any(d.kind == "method" for d in dims):
        raise IndicatorError(f"{path}: method {method} needs its dimension (kind method)")

    rate = data.get("rate")
    if rate is not None:
        if not isinstance(rate, dict) or ("population" in rate) == ("population_of" in rate):
            raise IndicatorError(f"{path}: rate has population (a country) or population_of (a dimension)")
        if "population_of" in rate and rate["population_of"] not in names:
            raise IndicatorError(f"{path}: rate.population_of names a dimension")
        rate = {"per": 1, **rate}

    return Indicator(
        code=code, names=_texts(path, data, "names"), definition=_texts(path, data, "definition"),
        notes=_texts(path, data, "notes", required=False), dataset=ds.code, unit=str(data.get("unit") or "persons"),
        unit_labels=_texts(path, data, "unit_labels", required=False), references=references, measure=measure,
        filters=_filters(path, data.get("filters"), ds, catalog), period=period, frequency=frequency,
        dimensions=dims, rate=rate,
    )


def load_indicators(directory: Path | str | None = None, catalog: Catalog | None = None) -> dict[str, Indicator]:
    directory = Path(directory or INDICATORS_DIR)
    catalog = catalog or default_catalog()
    out = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == POPULATION_FILE:
            continue
        try:
            with path.open(encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise IndicatorError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise IndicatorError(f"{path}: expected a mapping at the top level")
        out[path.stem] = _indicator(path, data, catalog)
    return out


@lru_cache(maxsize=1)
def default_indicators() -> dict[str, Indicator]:
    return load_indicators()


def indicator(code: str, indicators: dict[str, Indicator] | None = None) -> Indicator:
    indicators = indicators if indicators is not None else default_indicators()
    try:
        return indicators[code]
    except KeyError:
        raise KeyError(f"unknown indicator {code!r}; known: {', '.join(sorted(indicators))}") from None


@lru_cache(maxsize=4)
def population_table(directory: Path | str | None = None) -> dict[str, dict[int, int]]:
    """country code -> {year: population}, from population.yaml (illustrative until replaced)."""
    path = Path(directory or INDICATORS_DIR) / POPULATION_FILE
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return {str(country): {int(y): int(n) for y, n in (years or {}).items()}
            for country, years in (data.get("populations") or {}).items()}
