"""Hostile and awkward partner files: bounded memory, no silent corruption, right messages.

Each class of file from issue 12 (items 1, 3 and 4) is built here by hand with openpyxl,
zipfile or plain bytes.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest

from services.ingest import reader
from services.ingest.fields import FieldError
from tests.ingest_support import BORDER_HEADER, border_row, csv_bytes, engine, rows_in  # noqa: F401
from tests.test_ingest import CATALOG, WHO, store, submit  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def _book(sheets: dict[str, list[list]]) -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    return book


def _bytes(book) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _table(n: int = 2, **overrides) -> list[list]:
    return [BORDER_HEADER, *([border_row(i, **overrides)[h] for h in BORDER_HEADER] for i in range(1, n + 1))]


def _codes(result) -> list[tuple]:
    return [(p.row, p.field, p.code) for p in result.problems]


# --- 1. a workbook whose grid would not fit in memory ------------------------------------------

def _ingest_in_a_child(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Ingests `path` in a child process with a 3 GiB address space: a crash there is a failed test, not a dead pytest."""
    script = textwrap.dedent(f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        from services import db
        from services.storage import LocalStore
        from tests.test_ingest import submit
        eng = db.make_engine("sqlite:///{tmp_path / 'child.db'}")
        db.upgrade(eng)
        result = submit(eng, LocalStore({str(tmp_path / 'objects')!r}), open({str(path)!r}, "rb").read(),
                        filename="book.xlsx")
        print(json.dumps([[p.row, p.code, p.params] for p in result.problems]))
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)


@pytest.mark.parametrize("rows", [0, 100], ids=["A1 and XFD1048576", "100 rows and a stray last cell"])
def test_a_far_cell_is_named_without_the_grid_being_allocated(tmp_path, rows):
    book = _book({"Data": _table(rows) if rows else [["x"]]})
    book["Data"]["XFD1048576"] = "stray"
    path = tmp_path / "book.xlsx"
    path.write_bytes(_bytes(book))
    assert path.stat().st_size < 20_000
    child = _ingest_in_a_child(path, tmp_path)
    assert child.returncode == 0, child.stderr[-2000:]
    (row, code, params), = json.loads(child.stdout.splitlines()[-1])
    assert code == "stray_cell" and params["cell"] == "XFD1048576" and params["sheet"] == "Data"
    assert params["range"] == ("A1:K101" if rows else "A1:A1")


def test_a_styled_but_empty_far_cell_is_no_cell(engine, store):
    from openpyxl.styles import Font

    book = _book({"Data": _table(2)})
    book["Data"]["XFD1048576"].font = Font(bold=True)  # formatting only: calamine skips it too
    result = submit(engine, store, _bytes(book), filename="book.xlsx")
    assert result.valid, _codes(result)


def test_a_workbook_larger_than_the_bound_once_decompressed_is_refused(engine, store, monkeypatch):
    monkeypatch.setattr(reader, "MAX_UNZIPPED", 1 << 20)
    book = _book({"Data": _table(2, family_name="x" * 3000)})
    for i in range(400):
        book["Data"].append([f"{i}"] + ["y" * 3000] * 10)  # ~12 MB of cells, compressing to little
    result = submit(engine, store, _bytes(book), filename="book.xlsx")
    assert [p.code for p in result.problems] == ["workbook_too_large"]
    assert result.problems[0].params["limit"] == "1 MiB"


def test_a_part_larger_than_its_declared_size_is_refused(tmp_path):
    import zipfile

    data = _bytes(_book({"Data": _table(2)}))
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
    raw = bytearray(out.getvalue())
    # lower the sheet's declared size in the central directory: the bytes inflate to more
    sheet = next(i for i in zipfile.ZipFile(io.BytesIO(raw)).infolist() if i.filename.endswith("sheet1.xml"))
    at = raw.find(sheet.filename.encode(), raw.find(b"PK\x01\x02")) - 46  # its central directory entry
    raw[at + 24:at + 28] = (100).to_bytes(4, "little")
    path = tmp_path / "lying.xlsx"
    path.write_bytes(bytes(raw))
    with pytest.raises(FieldError) as err:
        reader.scan_workbook(path)
    assert err.value.code == "not_text"


def test_a_dense_sheet_beyond_the_grid_bound_is_refused(engine, store, monkeypatch):
    monkeypatch.setattr(reader, "MAX_GRID", 100)
    monkeypatch.setattr(reader, "_SPARSE_GRID", 50)
    result = submit(engine, store, _bytes(_book({"Data": _table(20)})), filename="book.xlsx")
    assert [p.code for p in result.problems] == ["sheet_too_large"]


def test_an_old_xls_sheet_is_read_in_a_child_with_bounded_memory(tmp_path, monkeypatch):
    """The child reader: rows as calamine reads them; past its memory bound, a clear error, not a crash."""
    path = tmp_path / "book.xlsx"  # calamine reads any workbook; an .xls cannot be written here
    book = _book({"Data": _table(3)})
    path.write_bytes(_bytes(book))
    rows = list(reader._bounded_rows(path, "Data"))
    assert [n for n, _ in rows] == [1, 2, 3, 4] and rows[1][1][0] == "E000001"
    book["Data"]["XFD1048576"] = "stray"
    path.write_bytes(_bytes(book))
    with pytest.raises(FieldError) as err:
        list(reader._bounded_rows(path, "Data"))
    assert err.value.code == "xls_too_large" and err.value.params["sheet"] == "Data"


# --- 3. nothing stored other than as the uploader meant it -------------------------------------

def test_a_latin_1_file_loads_its_accents(engine, store):
    data = csv_bytes([border_row(1, family_name="LEFÈVRE", given_name="Hélène"),
                      border_row(2, family_name="ÉLOUARD", given_name="Noël")], encoding="latin-1")
    result = submit(engine, store, data)
    assert result.valid, _codes(result)
    assert result.submission.encoding in ("cp1252", "latin-1")
    assert [(r["family_name"], r["given_name"]) for r in rows_in(engine, CATALOG, "border_crossings")] == \
        [("LEFÈVRE", "Hélène"), ("ÉLOUARD", "Noël")]


def test_windows_1252_and_1256_are_told_apart_by_their_words(tmp_path):
    cases = {"cp1252": [border_row(1, family_name="ŒDIPE", given_name="Zoë"), border_row(2, family_name="DÉSIRÉ")],
             "cp1256": [border_row(1, family_name="بن صالح", given_name="أميرة"), border_row(2, family_name="الطرابلسي")]}
    for encoding, rows in cases.items():
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(csv_bytes(rows, encoding=encoding))
        assert reader.sniff_file(path).encoding == encoding


def test_undecidable_bytes_are_refused_with_the_candidates_then_read_as_the_uploader_says(engine, store):
    data = csv_bytes([border_row(1, family_name="ÉÈ")], encoding="latin-1")  # "ةب" in Windows-1256: one word each way
    result = submit(engine, store, data)
    (problem,) = result.problems
    assert problem.code == "ambiguous_encoding" and problem.row == 2
    assert problem.params["candidates"] == "Windows-1256, Windows-1252"
    assert "ةب" in problem.params["sample"] and "ÉÈ" in problem.params["sample"]
    again = submit_with(engine, store, data, encoding="windows-1252")
    assert again.valid and again.duplicate_of is None, _codes(again)
    assert rows_in(engine, CATALOG, "border_crossings")[0]["family_name"] == "ÉÈ"


def submit_with(engine, store, data, **kwargs):
    from services.ingest import ingest
    from tests.test_ingest import POLICIES

    return ingest(io.BytesIO(data), dataset="border_crossings", institution=WHO.institution, principal=WHO,
                  filename="upload.csv", engine=engine, store=store, catalog=CATALOG, policies=POLICIES, **kwargs)


def test_an_encoding_the_bytes_contradict_is_refused(engine, store):
    data = csv_bytes([border_row(1, family_name="LEFÈVRE")], encoding="latin-1")
    result = submit_with(engine, store, data, encoding="utf-8")
    assert [p.code for p in result.problems] == ["wrong_encoding"]
    result = submit_with(engine, store, data + b"x", encoding="ebcdic")
    assert [p.code for p in result.problems] == ["unknown_encoding"]


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x1c", "\x7f", "\x85"])
def test_a_control_character_anywhere_is_refused_with_row_and_field(engine, store, char):
    rows = [border_row(i) for i in range(1, 2001)]  # the character comes well past the first 64 KiB
    rows[1500]["family_name"] = f"Ben{char}Salah"
    rows[1700]["age"] = f"3{char}4"
    data = csv_bytes(rows)
    assert data.index(char.encode()) > 1 << 16
    result = submit(engine, store, data)
    assert _codes(result) == [(1502, "family_name", "control_character"), (1702, "age", "control_character")]
    assert result.problems[0].params["char"] == f"U+{ord(char):04X}"
    assert "\x00" not in result.problems[0].value


def test_spreadsheet_numbers_and_dates_reach_text_fields_as_written(engine, store):
    table = _table(3)
    table[1][4], table[1][5] = 5120, 5120.0          # person_id, family_name: an integral number
    table[2][4], table[2][5] = 0.1, 12.5             # non-integral ones: their shortest form
    table[3][4], table[3][5] = dt.datetime(2024, 7, 14), dt.datetime(2024, 7, 14, 8, 30)
    result = submit(engine, store, _bytes(_book({"Data": table})), filename="book.xlsx")
    assert result.valid, _codes(result)
    assert [(r["person_id"], r["family_name"]) for r in rows_in(engine, CATALOG, "border_crossings")] == \
        [("5120", "5120"), ("0.1", "12.5"), ("2024-07-14", "2024-07-14 08:30:00")]


# --- 4. partner files refused wrongly, or with the wrong message ------------------------------

def test_the_table_on_a_workbook_s_second_sheet_is_found(engine, store):
    book = _book({"Notes": [["Exported by the border police"], ["July 2024"]], "Empty": [], "Data": _table(2)})
    result = submit(engine, store, _bytes(book), filename="book.xlsx")
    assert result.valid, _codes(result)
    assert result.submission.rows_loaded == 2


def test_a_workbook_without_the_table_names_its_sheets(engine, store):
    result = submit(engine, store, _bytes(_book({"Feuil1": [], "Feuil2": []})), filename="book.xlsx")
    assert [(p.code, p.params) for p in result.problems] == [("empty_workbook", {"sheets": "Feuil1 (—), Feuil2 (—)"})]
    result = submit(engine, store, _bytes(_book({"Notes": [["hello"]], "Other": [["a", "b"]]})), filename="b.xlsx")
    assert [p.code for p in result.problems] == ["no_sheet_with_header"]
    assert result.problems[0].params["sheets"] == "Notes, Other"


def test_rows_cleared_with_spaces_are_blank(engine, store):
    blank = {h: " " for h in BORDER_HEADER}
    data = csv_bytes([border_row(1), blank, {h: "\u00a0" for h in BORDER_HEADER}, border_row(2)])
    result = submit(engine, store, data)
    assert result.valid and result.submission.rows_total == 2, _codes(result)
    table = _table(2)
    table.insert(2, [" "] * len(BORDER_HEADER))
    table.insert(3, ["  ", "", None, " "])
    result = submit(engine, store, _bytes(_book({"Data": table})), filename="book.xlsx")
    assert result.valid and result.submission.rows_total == 2, _codes(result)


def test_the_separator_is_that_of_the_table_not_of_a_title_line_above_it(engine, store):
    title = "Ministère de l'Intérieur, Direction des frontières, juillet 2024\r\n".encode()
    data = title + csv_bytes([border_row(1), border_row(2)], delimiter=";")
    result = submit(engine, store, data)
    assert result.valid, _codes(result)
    assert reader.sniff(data).delimiter == ";"


def test_invisible_direction_marks_around_values_are_formatting_only(engine, store):
    rows = [border_row(1, nationality="\u200fTUN\u200f", sex="\u200eF", border_post="\u061cAIR_TUN\u200e",
                       event_id="E\ufeff000001", age="\u200f34", event_date="\u200e2024-07-14",
                       family_name="\u200fبن صالح\u200f", given_name="\u200dمی\u200cخواهم\u200c")]
    result = submit(engine, store, csv_bytes(rows))
    assert result.valid, _codes(result)
    row = rows_in(engine, CATALOG, "border_crossings")[0]
    assert (row["nationality"], row["sex"], row["border_post"], row["event_id"], row["age"]) == \
        ("TUN", "F", "AIR_TUN", "E000001", 34)
    assert row["event_date"] == dt.date(2024, 7, 14)
    assert row["family_name"] == "بن صالح" and row["given_name"] == "می\u200cخواهم"  # a joiner between letters stays


def test_typographic_apostrophes_in_french_headers_match(engine, store):
    dataset = CATALOG.dataset("border_crossings")
    header = [dataset.field(h).labels["fr"] for h in BORDER_HEADER]
    assert "Identifiant de l'événement" in header
    data = csv_bytes([border_row(1)], header=BORDER_HEADER).decode()
    data = data.replace(",".join(BORDER_HEADER), ",".join(header).replace("'", "\u2019"))
    result = submit(engine, store, data.encode())
    assert result.valid, _codes(result)


@pytest.mark.parametrize("tail", [b"", b"\r\n\r\n\r\n", b" , , \r\n\r\n"], ids=["nothing", "blank lines", "spaces"])
def test_a_header_without_rows_is_rejected_as_such(engine, store, tail):
    result = submit(engine, store, csv_bytes([]) + tail)
    assert _codes(result) == [(1, None, "no_data_rows")]
    assert result.submission.status == "rejected"


def test_cells_written_without_references_are_located_too(tmp_path):
    """The fast scan reads only plain XML; a sheet it cannot vouch for is parsed (here a far cell
    with no r attribute, placed by its row), and both scans agree where both read."""
    import re
    import zipfile

    data = _bytes(_book({"Data": _table(100)}))
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info)
            if info.filename.endswith("sheet1.xml"):
                plain = reader._scan_plain_sheet(io.BytesIO(part), "Data")
                assert plain == reader._scan_sheet(io.BytesIO(part), "Data") and plain.cells == 101 * 11
                part = re.sub(rb"</sheetData>", b'<row r="1048576"><c t="inlineStr"><is><t>x</t></is></c></row>'
                                                b"</sheetData>", part)
                assert reader._scan_plain_sheet(io.BytesIO(part), "Data") is None
            zout.writestr(info, part)
    path = tmp_path / "implicit.xlsx"
    path.write_bytes(out.getvalue())
    with pytest.raises(FieldError) as err:
        reader.scan_workbook(path)
    assert err.value.code == "stray_cell" and err.value.params["cell"] == "A1048576"
    assert err.value.params["range"] == "A1:K101"
