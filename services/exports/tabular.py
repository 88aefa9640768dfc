"""CSV and XLSX downloads of an IndicatorTable, for people who open them in a spreadsheet.

Every dimension gets two columns, its code (stable, for joining and re-use) and its label
in the reader's language. A suppressed cell is written empty with the reason in the flag
column; its value, even if the table still held one, is never written.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from services.catalog import Catalog
from services.cells import csv_row, xlsx_text_only
from services.indicators.table import IndicatorTable

from .metadata import (Description, check_lang, describe, localised, message, ordered_keys, plain_number,
                       shown_value)

HEADER_FONT = Font(bold=True)
SUPPRESSED_FILL = PatternFill("solid", fgColor="EEEEEE")


def flag_text(table: IndicatorTable, key: tuple, lang: str) -> str:
    flag = table.flags.get(key)
    if flag in ("primary", "secondary"):
        return message(f"flag_{flag}", lang)
    if flag or table.cells.get(key) is None:
        return message("flag_confidential", lang)
    return ""


def _header(description: Description, lang: str) -> list[str]:
    out = []
    for d in description.dimensions:
        out += [f"{d.label(lang)} ({message('code', lang)})", d.label(lang)]
    return out + [message("value", lang), message("flag", lang)]


def _records(table: IndicatorTable, description: Description, lang: str):
    """(code and label per dimension..., value or None, flag text) in publication order."""
    for key in ordered_keys(table, description):
        cols = []
        for d, code in zip(description.dimensions, key):
            cols += [str(code), d.code_label(code, lang)]
        yield cols, shown_value(table, key), flag_text(table, key, lang)


def to_csv(table: IndicatorTable, lang: str = "en", catalog: Catalog | None = None) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel on Windows reads Arabic correctly."""
    check_lang(lang)
    description = describe(table, catalog)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(csv_row(_header(description, lang)))
    for cols, value, flag in _records(table, description, lang):
        writer.writerow(csv_row([*cols, plain_number(value), flag]))
    return buf.getvalue().encode("utf-8-sig")


def metadata_rows(description: Description, lang: str, generated_at: dt.datetime) -> list[tuple[str, str]]:
    """(label, text) pairs describing the indicator, as the metadata sheet and the yearbook print them."""
    release = description.release
    rows = [
        (message("indicator", lang), description.name(lang)),
        (message("indicator_code", lang), description.code),
        (message("definition", lang), localised(description.definition, lang)),
        (message("unit", lang), description.unit_label(lang)),
        (message("reference", lang), "; ".join(description.references)),
        (message("sources", lang), "; ".join(description.source_label(s, lang) for s in description.sources)),
        (message("dimensions", lang), "; ".join(d.label(lang) for d in description.dimensions)),
        (message("release_version", lang), str(release.get("version") or "")),
        (message("release_date", lang), str(release.get("date") or "")),
        (message("release_note", lang), description.release_note(lang)),
        (message("disclosure", lang), description.disclosure_text(lang)),
        (message("notes", lang), localised(description.notes, lang)),
        (message("generated_at", lang), generated_at.isoformat(timespec="seconds")),
    ]
    return [(label, text) for label, text in rows if text]


def to_xlsx(table: IndicatorTable, lang: str = "en", catalog: Catalog | None = None,
            generated_at: dt.datetime | None = None) -> bytes:
    """A data sheet and a metadata sheet; both right to left in Arabic."""
    check_lang(lang)
    description = describe(table, catalog)
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    book = Workbook()
    data = book.active
    data.title = message("sheet_data", lang)[:31]
    header = _header(description, lang)
    data.append(header)
    for cell in data[1]:
        cell.font = HEADER_FONT
    value_col = len(header) - 1
    for cols, value, flag in _records(table, description, lang):
        data.append([*cols, value, flag or None])
        row = data.max_row
        value_cell = data.cell(row=row, column=value_col)
        if value is None:
            value_cell.fill = SUPPRESSED_FILL
        else:
            value_cell.number_format = "#,##0" if float(value).is_integer() else "#,##0.0##"
    data.freeze_panes = "A2"
    data.auto_filter.ref = data.dimensions
    for i, title in enumerate(header, start=1):
        data.column_dimensions[get_column_letter(i)].width = max(12, min(45, len(title) + 4))

    meta = book.create_sheet(message("sheet_metadata", lang)[:31])
    for label, text in metadata_rows(description, lang, generated_at):
        meta.append([label, text])
    for row in meta.iter_rows():
        row[0].font = HEADER_FONT
        row[0].alignment = Alignment(vertical="top")
        row[1].alignment = Alignment(wrap_text=True, vertical="top")
    meta.column_dimensions["A"].width = 30
    meta.column_dimensions["B"].width = 90

    for sheet in (data, meta):
        sheet.sheet_view.rightToLeft = lang == "ar"
    xlsx_text_only(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
