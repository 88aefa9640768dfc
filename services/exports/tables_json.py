"""IndicatorTables as JSON: how tables travel to `marsad report --tables` and between processes.

    {"indicator": "entries", "dimensions": ["period", "sex"], "unit": "persons",
     "cells": [{"key": ["2024-01", "F"], "value": 120}, {"key": ["2024-01", "X"], "value": null,
                "flag": "primary"}],
     "meta": {...}}

A file holds one table or a list of them. Keys are lists (JSON has no tuples).
"""
from __future__ import annotations

import json
from pathlib import Path

from services.indicators.table import IndicatorTable

# meta the engine keeps for disclosure control only (the counts behind rates): never written out
INTERNAL_META = ("observations",)


def table_to_json(table: IndicatorTable) -> dict:
    cells = []
    for key, value in table.cells.items():
        cell = {"key": list(key), "value": None if table.flags.get(key) else value}
        if table.flags.get(key):
            cell["flag"] = table.flags[key]
        cells.append(cell)
    meta = {k: v for k, v in table.meta.items() if k not in INTERNAL_META}
    return {"indicator": table.indicator, "dimensions": list(table.dimensions), "unit": table.unit,
            "cells": cells, "meta": meta}


def table_from_json(data: dict) -> IndicatorTable:
    try:
        dims = tuple(data["dimensions"])
        cells, flags = {}, {}
        for i, cell in enumerate(data["cells"]):
            key = tuple(cell["key"])
            if len(key) != len(dims):
                raise ValueError(f"cells[{i}]: key {list(key)} has {len(key)} values for {len(dims)} dimensions")
            cells[key] = cell.get("value")
            if cell.get("flag"):
                flags[key] = cell["flag"]
        return IndicatorTable(indicator=data["indicator"], dimensions=dims, cells=cells,
                              unit=data.get("unit", "persons"), flags=flags, meta=data.get("meta") or {})
    except (KeyError, TypeError) as err:
        raise ValueError(f"not an indicator table: missing or malformed {err}") from None


def tables_from_json(source) -> list[IndicatorTable]:
    """Tables from a path, a JSON string, or parsed JSON (one table or a list)."""
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        source = Path(source).read_text(encoding="utf-8")
    data = json.loads(source) if isinstance(source, str) else source
    return [table_from_json(t) for t in (data if isinstance(data, list) else [data])]
