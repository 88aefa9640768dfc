"""Synthetic partner files for every dataset in the catalog (`marsad synth`).

For demos, training sandboxes, tests and benchmarks: realistic, reproducible rows, with
optional messy-but-valid spellings and deliberately injected, recorded errors.

Conventions other parts of the system rely on:

* Row numbers are spreadsheet row numbers: the header is row 1, so the first data row is
  row 2 -- the same numbering the ingestion report uses.
* Error kinds are named as the validator names the problem it reports: required,
  unknown_code, bad_date, above_max, below_min, too_long, date_order, age_mismatch,
  not_greater, exit_before_entry. The recorded field is the one the validator blames
  (for date_order the `after` field, for exit_before_entry the rule's date field).
  Each injected row carries exactly one error; every other row is valid.
* Same arguments, same bytes (for a given catalog and, where a field's bound is "today",
  a given day). Values, messiness and errors use separate random streams, so a file with
  errors differs from the clean file with the same seed only in the rows recorded.
  exit_before_entry is a whole-file check that the ingestion runs only on files without
  row errors: to see it reported, ask for it alone (error_kinds=["exit_before_entry"]).
* Messiness (default 0.1, the share of cells) only writes valid spellings the ingestion
  normalises: Arabic-Indic digits, a code's label in ar/fr/en or an alias instead of the
  code, dd/mm/yyyy (or yyyy-mm-dd under date_style="dmy") and d/m/yyyy, d.m.yyyy,
  yyyy/mm/dd, stray spaces, names in capitals. messiness=0 writes canonical values only
  (codes, ISO or dd/mm/yyyy dates as asked, ASCII digits). Optional fields are sometimes
  empty in clean files too, as in real ones.
* Windows-1256 lacks Arabic-Indic digits and some Latin letters (É, ş...): under
  encoding="cp1256" they are written as ASCII digits and unaccented letters.
* Same arguments, same bytes (for a given catalog and, where a field's bound is "today",
  a given day). Values, messiness and errors use separate random streams, so a file with
  errors differs from the clean file with the same seed only in the rows recorded.
* Person ids ("P" + 10 digits) are derived from the seed; some persons are drawn from a
  pool shared by every dataset of that seed, with the same names, birth date and documents,
  so the same person appears in several datasets as in real life.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from services.catalog import Catalog, Dataset, default_catalog

from .engine import ERROR_KINDS, DatasetSynth
from .output import ENCODINGS, FORMATS, write_rows

__all__ = ["ERROR_KINDS", "SynthSummary", "generate_rows", "write_file", "default_year"]


@dataclass
class SynthSummary:
    rows: int
    errors_injected: list[tuple[int, str, str]] = field(default_factory=list)  # (row, field, kind)
    path: Path | None = None


def default_year(today: dt.date | None = None) -> int:
    """The last complete year: event dates may not lie in the future."""
    return (today or dt.date.today()).year - 1


def generate_rows(dataset: Dataset, catalog: Catalog, *, rows: int, year: int, seed: int,
                  error_rate: float = 0.0, messiness: float = 0.1, date_style: str = "iso",
                  errors: list | None = None, today: dt.date | None = None,
                  error_kinds: Iterable[str] | None = None) -> Iterator[dict[str, str]]:
    """Rows as {field name: text}, as a partner would write them; streaming, constant memory.

    Pass a list as `errors` to receive the injected errors as (row, field, kind), row being
    the spreadsheet row number (header = 1, first data row = 2). `error_kinds` restricts the
    errors to some of ERROR_KINDS; a row drawn for an error that no allowed kind fits stays
    clean, so the realised rate can then be lower than `error_rate`.
    """
    synth = DatasetSynth(dataset, catalog, year=year, seed=seed, messiness=messiness,
                         date_style=date_style, today=today, error_kinds=error_kinds)
    names = synth.names
    for values in synth.rows(rows, error_rate, errors):
        yield dict(zip(names, values))


def write_file(path, dataset_code: str, *, rows: int, year: int, seed: int, error_rate: float = 0.0,
               messiness: float = 0.1, fmt: str = "csv", encoding: str = "utf-8", delimiter: str = ",",
               date_style: str = "iso", catalog: Catalog | None = None,
               progress: Callable[[int], None] | None = None, today: dt.date | None = None,
               error_kinds: Iterable[str] | None = None) -> SynthSummary:
    """Write a synthetic file for one dataset; the header is the catalog's field names.

    `progress`, if given, is called with the number of rows written so far every 10,000 rows
    and at the end.
    """
    catalog = catalog or default_catalog()
    dataset = catalog.dataset(dataset_code)
    if not 0.0 <= error_rate <= 1.0:
        raise ValueError("error rate must be between 0 and 1")
    if not 0.0 <= messiness <= 1.0:
        raise ValueError("messiness must be between 0 and 1")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}")
    synth = DatasetSynth(dataset, catalog, year=year, seed=seed, messiness=messiness,
                         date_style=date_style, today=today, error_kinds=error_kinds)
    errors: list[tuple[int, str, str]] = []
    path = Path(path)
    written = write_rows(path, synth.names, synth.rows(rows, error_rate, errors), fmt=fmt,
                         encoding=encoding, delimiter=delimiter, progress=progress,
                         numeric=[f.type in ("integer", "decimal") for f in dataset.fields])
    return SynthSummary(rows=written, errors_injected=errors, path=path)
