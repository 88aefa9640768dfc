"""What exports and the yearbook need to know about an indicator, read from one place.

An IndicatorTable carries its own description in `table.meta`, so that exports work from
the table alone (whoever computed it). The keys read here, all optional:

    names:       {ar, fr, en}      the indicator's name
    definition:  {ar, fr, en}      what it counts, in a sentence or two
    unit:        {ar, fr, en}      labels of table.unit, when messages.yaml has none for it
    reference:   "SDG 10.7.4"      or a list: SDG / GCM / UN recommendation references
    sources:     [dataset codes]   catalog datasets it is computed from (alias: source_datasets)
    release:     {version, date, note}   note may be {ar, fr, en} or a string
    disclosure:  {threshold, note}       threshold of the primary suppression rule (default 5)
    notes:       {ar, fr, en}      methodological notes printed with the indicator
    codelists:   {dimension: codelist}   when a dimension's codelist is not found by name
    dimension_labels: {dimension: {ar, fr, en}}
    code_labels: {dimension: {code: {ar, fr, en}}}   codes of a dimension no codelist holds
    periods_add_up: false          a stock or a rate: a total over periods means nothing, and
                                   such cells (time dimension = _T) are left out of every output

Any text given as {ar, fr, en} may also be a plain string (used for every language).

Each dimension of the table is tied to a catalog codelist: by `codelists` above, else a
codelist of the same name ("sex"), else the codelist of a catalog field of that name
("nationality" -> countries), else the plural ("age_group" -> age_groups). Time dimensions
("period", "year", "month", ...) have no codelist. So codes and labels are never declared twice.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from babel.dates import format_date
from babel.numbers import format_decimal

from services.catalog import Catalog, Codelist, default_catalog
from services.languages import LANGUAGES
from services.indicators.table import TOTAL, IndicatorTable

TIME_DIMENSIONS = ("period", "time_period", "year", "month", "quarter", "date")
UNKNOWN = "_U"  # the SDMX code for "unknown" (a blank field): the indicators engine uses it
DEFAULT_THRESHOLD = 5
# Babel locales: Tunisian Arabic and French give Tunisian month names ("جويلية") and grouping.
LOCALES = {"ar": "ar_TN", "fr": "fr_TN", "en": "en_GB"}

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@lru_cache(maxsize=1)
def _messages() -> dict[str, dict[str, str]]:
    with (Path(__file__).parent / "messages.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def message(key: str, lang: str, **params) -> str:
    texts = _messages().get(key) or {}
    text = texts.get(lang) or texts.get("en") or key
    return text.format(**params) if params else text


def localised(value, lang: str, default: str = "") -> str:
    """A {ar, fr, en} mapping (or a plain string) in `lang`, falling back to English."""
    if value is None:
        return default
    if isinstance(value, Mapping):
        return str(value.get(lang) or value.get("en") or next(iter(value.values()), default) or default)
    return str(value)


def check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")


def format_number(value, lang: str, decimals: int | None = None) -> str:
    """A number as readers of `lang` write it (1.234.567 in ar_TN, 1 234 567 in fr_TN).

    Counts print whole; other values (rates, shares) with one decimal from 10 up, else two.
    """
    if value is None:
        return ""
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 1 if abs(value) >= 10 else 2
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=LOCALES[lang])


def plain_number(value) -> str:
    """A number for machines: no grouping, a dot for decimals, integers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Dimension:
    id: str                      # as in IndicatorTable.dimensions
    labels: Mapping[str, str]
    codelist: Codelist | None = None
    is_time: bool = False
    code_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def label(self, lang: str) -> str:
        return localised(self.labels, lang, self.id)

    def code_label(self, code, lang: str) -> str:
        code = str(code)
        if code == TOTAL:
            return message("total", lang)
        if code == UNKNOWN:
            return message("unknown", lang)
        if self.is_time:
            return period_label(code, lang)
        if code in self.code_labels:
            return localised(self.code_labels[code], lang, code)
        if self.codelist is not None:
            return self.codelist.label(code, lang)
        return code

    def sort_key(self, code) -> tuple:
        """Codelist order (the catalog's, which is the publication order), totals last."""
        code = str(code)
        if code == TOTAL:
            return (2, 0, "")
        if code == UNKNOWN:
            return (1, 1, "")
        if self.code_labels and code in self.code_labels:
            return (0, list(self.code_labels).index(code), code)
        if self.codelist is not None and not self.is_time:
            try:
                return (0, self.codelist.codes.index(code), code)
            except ValueError:
                return (1, 0, code)
        return (0, 0, code)


def period_label(code: str, lang: str) -> str:
    match = _MONTH.match(code)
    if not match:
        return code
    return format_date(dt.date(int(match[1]), int(match[2]), 1), "LLLL y", locale=LOCALES[lang])


@dataclass(frozen=True)
class Description:
    code: str
    names: Mapping[str, str]
    definition: Mapping[str, str]
    unit: str
    unit_labels: Mapping[str, str]
    references: tuple[str, ...]
    sources: tuple[str, ...]
    source_names: Mapping[str, Mapping[str, str]]   # dataset code -> its names in the catalog
    release: Mapping
    threshold: int
    notes: Mapping[str, str]
    dimensions: tuple[Dimension, ...]
    disclosure_note: Mapping[str, str] = field(default_factory=dict)
    periods_add_up: bool = True

    def name(self, lang: str) -> str:
        return localised(self.names, lang, self.code)

    def unit_label(self, lang: str) -> str:
        if self.unit_labels:
            return localised(self.unit_labels, lang, self.unit)
        key = f"unit_{self.unit}"
        return message(key, lang) if key in _messages() else self.unit

    def source_label(self, code: str, lang: str) -> str:
        return localised(self.source_names.get(code), lang, code)

    def release_note(self, lang: str) -> str:
        return localised(self.release.get("note"), lang)

    def disclosure_text(self, lang: str) -> str:
        if self.disclosure_note:
            return localised(self.disclosure_note, lang)
        return message("disclosure_note", lang, threshold=self.threshold)

    def dimension(self, dim_id: str) -> Dimension:
        for d in self.dimensions:
            if d.id == dim_id:
                return d
        raise KeyError(dim_id)

    @property
    def time_dimension(self) -> Dimension | None:
        return next((d for d in self.dimensions if d.is_time), None)

    def sort_key(self, key: tuple) -> tuple:
        return tuple(d.sort_key(code) for d, code in zip(self.dimensions, key))


def _field_codelists(catalog: Catalog) -> dict[str, tuple[str, Mapping[str, str]]]:
    """Field name -> (codelist, field labels), from every dataset; first dataset wins."""
    out: dict[str, tuple[str, Mapping[str, str]]] = {}
    for code in sorted(catalog.datasets):
        for f in catalog.datasets[code].fields:
            if f.type == "code" and f.codelist and f.name not in out:
                out[f.name] = (f.codelist, f.labels)
    return out


def resolve_dimension(dim_id: str, catalog: Catalog, codelist: str | None = None,
                      labels: Mapping[str, str] | None = None,
                      code_labels: Mapping[str, Mapping[str, str]] | None = None) -> Dimension:
    if dim_id.lower() in TIME_DIMENSIONS:
        word = dim_id.lower() if dim_id.lower() in ("year", "month") else "period"
        return Dimension(dim_id, labels or {lang: message(word, lang) for lang in LANGUAGES}, None, True)
    fields = _field_codelists(catalog)
    field_labels = fields.get(dim_id, (None, None))[1]
    if codelist is None:
        for candidate in (dim_id, fields.get(dim_id, (None,))[0], f"{dim_id}s", f"{dim_id}es"):
            if candidate in catalog.codelists:
                codelist = candidate
                break
    found = catalog.codelists.get(codelist) if codelist else None
    labels = labels or field_labels or (found.names if found else None) or {lang: dim_id for lang in LANGUAGES}
    return Dimension(dim_id, labels, found, False, dict(code_labels or {}))


def _get(source, key, default=None):
    if isinstance(source, Mapping):
        return source.get(key, default)
    return getattr(source, key, default)


def _as_tuple(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def describe(source, catalog: Catalog | None = None) -> Description:
    """Describe an IndicatorTable (from its meta), or an indicator definition.

    A definition is a mapping or object with the same keys as `meta` above plus `code`,
    `dimensions` (names, or mappings with `name`/`id` and optional `codelist`) and `unit`;
    this is how the DSD of an indicator can be published before any data is.
    """
    catalog = catalog or default_catalog()
    if isinstance(source, IndicatorTable):
        meta, code, unit, raw_dims = source.meta or {}, source.indicator, source.unit, source.dimensions
    else:
        meta = source
        code = _get(source, "code") or _get(source, "indicator") or _get(source, "id")
        unit, raw_dims = _get(source, "unit") or "persons", _get(source, "dimensions") or ()
        if isinstance(unit, Mapping):   # a definition may give the unit's labels in place of a code
            unit = unit.get("code") or unit.get("en") or "persons"
    if not code:
        raise ValueError("an indicator needs a code")
    overrides = dict(_get(meta, "codelists") or {})
    label_overrides = dict(_get(meta, "dimension_labels") or {})
    code_labels = dict(_get(meta, "code_labels") or {})
    dims = []
    for raw in raw_dims:
        if isinstance(raw, Mapping):
            dim_id = raw.get("name") or raw.get("id") or raw.get("code")
            codelist = raw.get("codelist") or overrides.get(dim_id)
            labels = raw.get("labels") or label_overrides.get(dim_id)
            codes = raw.get("codes") if isinstance(raw.get("codes"), Mapping) else code_labels.get(dim_id)
        else:
            dim_id, codelist, labels = str(raw), overrides.get(str(raw)), label_overrides.get(str(raw))
            codes = code_labels.get(dim_id)
        dims.append(resolve_dimension(dim_id, catalog, codelist, labels, codes))
    unit_labels = _get(meta, "unit")
    sources = _as_tuple(_get(meta, "sources") or _get(meta, "source_datasets"))
    disclosure = _get(meta, "disclosure") or {}
    release = _get(meta, "release") or {}
    return Description(
        code=str(code),
        names=_get(meta, "names") or {},
        definition=_get(meta, "definition") or {},
        unit=str(unit),
        unit_labels=unit_labels if isinstance(unit_labels, Mapping) else {},
        references=_as_tuple(_get(meta, "reference") or _get(meta, "references")),
        sources=sources,
        source_names={s: catalog.datasets[s].names for s in sources if s in catalog.datasets},
        release=release if isinstance(release, Mapping) else {"version": str(release)},
        threshold=int(disclosure.get("threshold", DEFAULT_THRESHOLD)) if isinstance(disclosure, Mapping)
        else DEFAULT_THRESHOLD,
        notes=_get(meta, "notes") or {},
        dimensions=tuple(dims),
        disclosure_note=(disclosure.get("note") or {}) if isinstance(disclosure, Mapping) else {},
        periods_add_up=_get(meta, "periods_add_up") is not False,
    )


def shown_value(table: IndicatorTable, key: tuple):
    """The value a reader may see: None for a suppressed cell, whatever the cell still holds.

    Defensive: a flagged cell is withheld even if a caller forgot to blank its value.
    """
    if table.flags.get(key):
        return None
    return table.cells.get(key)


def published(table: IndicatorTable, description: Description) -> IndicatorTable:
    """The cells that are published: without totals over periods when periods do not add up
    (a stock summed over months). Dropping a margin after disclosure control is safe: it
    only tells an attacker less."""
    if description.periods_add_up:
        return table
    time = [i for i, d in enumerate(description.dimensions) if d.is_time]
    keep = [k for k in table.cells if not any(str(k[i]) == TOTAL for i in time)]
    return IndicatorTable(table.indicator, table.dimensions, {k: table.cells[k] for k in keep}, table.unit,
                          {k: table.flags[k] for k in keep if k in table.flags}, table.meta)


def ordered_keys(table: IndicatorTable, description: Description) -> list[tuple]:
    return sorted(published(table, description).cells, key=description.sort_key)
