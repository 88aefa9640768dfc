"""Downloads of indicator tables: CSV and XLSX for people, SDMX-CSV and SDMX-ML for machines.

All work from an IndicatorTable alone; what they say about the indicator (names,
definition, references, release) is read from `table.meta` -- the keys are listed in
services/exports/metadata.py. Suppressed cells (value None, or any flagged cell) are
exported empty with their flag, never with a value.
"""
from __future__ import annotations

from .metadata import Description, describe, format_number
from .sdmx import data_structure, to_sdmx_csv
from .tables_json import table_from_json, table_to_json, tables_from_json
from .tabular import to_csv, to_xlsx

FORMATS = {
    # format -> (file extension, media type)
    "csv": ("csv", "text/csv; charset=utf-8"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "sdmx-csv": ("csv", "application/vnd.sdmx.data+csv; version=2.0.0; charset=utf-8"),
    "sdmx-structure": ("xml", "application/vnd.sdmx.structure+xml; version=2.1"),
}

__all__ = ["FORMATS", "Description", "data_structure", "describe", "format_number", "table_from_json",
           "table_to_json", "tables_from_json", "to_csv", "to_sdmx_csv", "to_xlsx"]
