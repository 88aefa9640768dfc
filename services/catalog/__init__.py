"""The dataset catalog: dataset definitions and codelists, read from the YAML beside this file.

The YAML is the source of truth (see README.md here); this module only reads it into
immutable objects and checks that it is coherent.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

CATALOG_DIR = Path(__file__).parent
FIELD_TYPES = ("string", "integer", "decimal", "date", "code", "boolean")
RULE_KINDS = {
    "date_order": ("before", "after"),
    "age_matches_birth_date": ("age", "birth_date", "reference"),
    "exit_not_before_entry": ("person", "date", "direction"),
    "not_greater": ("part", "whole"),
}


class CatalogError(ValueError):
    """The catalog's YAML is not coherent; the message names the file and the place."""


def fold(text: str) -> str:
    """The form in which spellings are compared: case, accents, tatweel and spacing ignored."""
    text = unicodedata.normalize("NFKD", text.strip().casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and ch != "\u0640")
    return " ".join(text.split())


@dataclass(frozen=True)
class Codelist:
    code: str
    names: dict[str, str]
    items: tuple[dict, ...]
    lookup: dict[str, str] = field(repr=False, compare=False)  # folded spelling -> code

    @property
    def codes(self) -> list[str]:
        return [item["code"] for item in self.items]

    def label(self, code: str, lang: str = "en") -> str:
        for item in self.items:
            if item["code"] == code:
                return item["labels"].get(lang) or item["labels"]["en"]
        return code

    def resolve(self, spelling: str) -> str | None:
        """The code a submitted spelling stands for, or None."""
        return self.lookup.get(fold(spelling))


@dataclass(frozen=True)
class Field:
    name: str
    labels: dict[str, str]
    type: str
    required: bool = False
    identifies_person: bool = False
    min: object = None
    max: object = None
    codelist: str | None = None
    max_length: int | None = None
    pattern: str | None = None
    aliases: tuple[str, ...] = ()

    def bounds(self, today: dt.date | None = None) -> tuple[object, object]:
        """min and max with "today" resolved, so that a date range moves with time."""
        today = today or dt.date.today()
        return tuple(today if b == "today" else b for b in (self.min, self.max))


@dataclass(frozen=True)
class Rule:
    kind: str
    params: dict[str, str]

    @property
    def fields(self) -> list[str]:
        return [self.params[k] for k in RULE_KINDS[self.kind] if k in self.params]


@dataclass(frozen=True)
class Dataset:
    code: str
    names: dict[str, str]
    description: dict[str, str]
    unit: str
    fields: tuple[Field, ...]
    rules: tuple[Rule, ...] = ()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def header_lookup(self) -> dict[str, str]:
        """Folded header spelling -> field name: names, aliases and labels in every language."""
        out: dict[str, str] = {}
        for f in self.fields:
            for spelling in (f.name, *f.aliases, *f.labels.values()):
                out[fold(spelling)] = f.name
        return out


@dataclass(frozen=True)
class Catalog:
    datasets: dict[str, Dataset]
    codelists: dict[str, Codelist]
    messages: dict[str, dict[str, str]]

    def dataset(self, code: str) -> Dataset:
        try:
            return self.datasets[code]
        except KeyError:
            raise CatalogError(f"unknown dataset {code!r}; known: {', '.join(sorted(self.datasets))}") from None

    def message(self, key: str, lang: str, **params) -> str:
        """A validation message in `lang`; a placeholder with no value renders empty, never fails."""
        templates = self.messages.get(key) or {"en": key}
        template = templates.get(lang) or templates.get("en") or key
        return template.format_map(_Blank(params))


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _read(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level")
    return data


def _codelist(path: Path, data: dict) -> Codelist:
    lookup: dict[str, str] = {}
    items = tuple(data.get("items") or ())
    for i, item in enumerate(items):
        if "code" not in item or "labels" not in item:
            raise CatalogError(f"{path}: items[{i}] needs a code and labels")
        code = str(item["code"])
        for spelling in (code, *item["labels"].values(), *item.get("aliases", ())):
            key = fold(str(spelling))
            if lookup.get(key, code) != code:
                raise CatalogError(f"{path}: items[{i}] spelling {spelling!r} already means {lookup[key]}")
            lookup[key] = code
    return Codelist(code=data["code"], names=data.get("names", {}), items=items, lookup=lookup)


def _dataset(path: Path, data: dict, codelists: dict[str, Codelist]) -> Dataset:
    fields = []
    for i, raw in enumerate(data.get("fields") or ()):
        where = f"{path}: fields[{i}]"
        if raw.get("type") not in FIELD_TYPES:
            raise CatalogError(f"{where}: type must be one of {', '.join(FIELD_TYPES)}")
        if raw["type"] == "code" and raw.get("codelist") not in codelists:
            raise CatalogError(f"{where}: codelist {raw.get('codelist')!r} is not in codelists/")
        known = set(Field.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
        raw = {**raw, "aliases": tuple(raw.get("aliases", ())), "labels": raw.get("labels", {})}
        fields.append(Field(**raw))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise CatalogError(f"{path}: duplicate field names")
    rules = []
    for i, raw in enumerate(data.get("rules") or ()):
        kind = raw.get("kind")
        if kind not in RULE_KINDS:
            raise CatalogError(f"{path}: rules[{i}]: kind must be one of {', '.join(RULE_KINDS)}")
        params = {k: v for k, v in raw.items() if k != "kind"}
        rule = Rule(kind=kind, params=params)
        missing = [p for p in rule.fields if p not in names]
        if missing or any(k not in params for k in RULE_KINDS[kind] if k != "reference"):
            raise CatalogError(f"{path}: rules[{i}] ({kind}) names missing fields {missing or list(RULE_KINDS[kind])}")
        rules.append(rule)
    if data.get("code") != path.stem:
        raise CatalogError(f"{path}: code must equal the file name {path.stem!r}")
    return Dataset(
        code=data["code"], names=data.get("names", {}), description=data.get("description", {}),
        unit=data.get("unit", "event"), fields=tuple(fields), rules=tuple(rules),
    )


def load_catalog(directory: Path | str | None = None) -> Catalog:
    directory = Path(directory or CATALOG_DIR)
    codelists = {}
    for path in sorted((directory / "codelists").glob("*.yaml")):
        codelists[path.stem] = _codelist(path, _read(path))
    datasets = {}
    for path in sorted((directory / "datasets").glob("*.yaml")):
        datasets[path.stem] = _dataset(path, _read(path), codelists)
    messages_path = directory / "messages.yaml"
    messages = _read(messages_path) if messages_path.exists() else {}
    return Catalog(datasets=datasets, codelists=codelists, messages=messages)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog()

