"""Spreadsheet cells that stay data: the one rule every CSV and XLSX Marsad writes follows.

A spreadsheet program takes a cell starting with = + - @, a tab or a carriage return for a
formula (OWASP, "CSV Injection"), so a value a partner typed, or a label, could run
`=HYPERLINK(...)` or a DDE command on the reader's machine. Such text is neutralised; a
plain number, even a negative one, is never a formula and stays as it is.
"""
from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def formula_like(value) -> bool:
    """Whether a spreadsheet could read this value as a formula."""
    return (isinstance(value, str) and value.startswith(FORMULA_STARTS)
            and _PLAIN_NUMBER.fullmatch(value) is None)


def csv_cell(value):
    """The value to hand a CSV writer: formula-like text gets OWASP's leading single quote."""
    return "'" + value if formula_like(value) else value


def csv_row(values) -> list:
    return [csv_cell(v) for v in values]


def xlsx_text_only(workbook):
    """Every text cell of every sheet stays text; call it just before saving.

    openpyxl turns a string starting with "=" into a formula and "#N/A" and the like into
    error values; here every such cell goes back to being a string. Formula-like text also
    carries Excel's quote prefix (what typing a leading ' does), so that editing the cell in
    a spreadsheet keeps it text. Numbers, dates and booleans are left as they are. Marsad's
    workbooks hold no formula of their own (drop-down lists and bounds are data validations).
    """
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if not isinstance(cell.value, str):
                    continue   # numbers, dates, empty and merged cells
                if cell.data_type in ("f", "e"):
                    cell.data_type = "s"
                if formula_like(cell.value):
                    cell.quotePrefix = True
    return workbook
