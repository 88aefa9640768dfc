"""The validation report a partner reads: one line per rejected value, in the reader's language."""
from __future__ import annotations

import csv
import io

from services.catalog import Catalog
from services.cells import csv_row

COLUMNS = ("row", "field", "value", "code", "message")
HEADINGS = {
    "ar": ("السطر", "الحقل", "القيمة", "الرمز", "الخطأ"),
    "fr": ("ligne", "champ", "valeur", "code", "erreur"),
    "en": COLUMNS,
}


def report_lines(problems, catalog: Catalog, dataset_code: str, lang: str = "en") -> list[dict]:
    """`problems` are ingest Problems or stored RowErrors (same attributes, `row_number` for the latter)."""
    dataset = catalog.datasets.get(dataset_code)
    lines = []
    for p in problems:
        row = p.row_number if hasattr(p, "row_number") else p.row  # a stored RowError or a fresh Problem
        params = dict(p.params or {})
        label = p.field
        if dataset and p.field in dataset.field_names:
            label = dataset.field(p.field).labels.get(lang) or p.field
        for key in ("before", "after", "part", "whole", "age_field"):
            if dataset and params.get(key) in dataset.field_names:
                params[key] = dataset.field(params[key]).labels.get(lang) or params[key]
        if "codelist" in params and params["codelist"] in catalog.codelists:
            params["codelist"] = catalog.codelists[params["codelist"]].names.get(lang) or params["codelist"]
        params.update(field=label or params.get("field") or "", value=p.value or "", row=row or "")
        message = catalog.message(p.code, lang, **params)
        lines.append({"row": row, "field": p.field, "value": p.value, "code": p.code, "message": message})
    return lines


def report_csv(lines: list[dict], lang: str = "en") -> bytes:
    """UTF-8 with a BOM, so that spreadsheet programs show Arabic correctly; the partner's values
    stay text (services.cells), never formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADINGS.get(lang, COLUMNS))
    for line in lines:
        writer.writerow(csv_row("" if line[c] is None else line[c] for c in COLUMNS))
    return out.getvalue().encode("utf-8-sig")
