"""Ingestion: every kind of input a partner sends, good and bad, on SQLite and PostgreSQL.

Each bad input must get its specific error (row, field, code), load nothing, and still
have its raw bytes archived.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io

import openpyxl
import pytest
from sqlmodel import select

from services import db
from services.catalog import default_catalog
from services.ingest import SubmissionDenied, ingest
from services.ingest.report import report_csv, report_lines
from services.models import RowError, Submission
from services.policy import Principal, load_policies
from services.storage import LocalStore
from tests.ingest_support import (BORDER_HEADER, border_row, count_rows, csv_bytes, engine, rows_in,  # noqa: F401
                                  submitter)

CATALOG = default_catalog()
POLICIES = load_policies()
WHO = submitter(POLICIES, "border_crossings")


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "objects")


def submit(engine, store, data: bytes, dataset="border_crossings", who=WHO, filename="upload.csv"):
    return ingest(io.BytesIO(data), dataset=dataset, institution=who.institution, principal=who,
                  filename=filename, engine=engine, store=store, catalog=CATALOG, policies=POLICIES)


def archived(store, institution: str, data: bytes) -> bool:
    digest = hashlib.sha256(data).hexdigest()
    return store.exists(institution, f"raw/{digest[:2]}/{digest}") and \
        store.get(institution, f"raw/{digest[:2]}/{digest}") == data


# --- files that load -------------------------------------------------------------------------

def test_valid_file_loads_with_provenance(engine, store):
    data = csv_bytes([border_row(1), border_row(2, direction="EXIT", event_date="2024-07-20", person_id="P0000000001"),
                      border_row(3, sex="M", given_name="Karim")])
    result = submit(engine, store, data)
    sub = result.submission
    assert result.valid and sub.status == "validated", [p.code for p in result.problems]
    assert (sub.rows_total, sub.rows_loaded, sub.errors_count) == (3, 3, 0)
    rows = rows_in(engine, CATALOG, "border_crossings")
    assert [r["source_row"] for r in rows] == [2, 3, 4]
    assert {r["submission_id"] for r in rows} == {sub.id} and {r["institution"] for r in rows} == {WHO.institution}
    assert rows[0]["event_date"] == dt.date(2024, 7, 14) and rows[0]["age"] == 34
    assert archived(store, WHO.institution, data)
    assert sub.file_sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("encoding,delimiter", [("utf-8", ","), ("utf-8-sig", ","), ("cp1256", ";"),
                                                ("utf-8", ";"), ("utf-16", "\t")])
def test_encodings_and_delimiters(engine, store, encoding, delimiter):
    data = csv_bytes([border_row(1, family_name="بن صالح", given_name="أميرة"), border_row(2)],
                     delimiter=delimiter, encoding=encoding)
    result = submit(engine, store, data)
    assert result.valid, [(p.row, p.field, p.code) for p in result.problems]
    assert result.submission.encoding == {"utf-16": "utf-16"}.get(encoding, encoding)
    rows = rows_in(engine, CATALOG, "border_crossings")
    assert rows[0]["family_name"] == "بن صالح" and rows[0]["given_name"] == "أميرة"


def test_windows_1256_after_a_long_ascii_start_is_recognised(engine, store):
    rows = [border_row(i) for i in range(1, 1500)] + [border_row(1500, family_name="الطرابلسي")]
    data = csv_bytes(rows, encoding="cp1256")
    assert data[:65536].isascii()
    result = submit(engine, store, data)
    assert result.valid and result.submission.encoding == "cp1256"
    assert rows_in(engine, CATALOG, "border_crossings")[-1]["family_name"] == "الطرابلسي"


def test_normalisation_of_digits_dates_countries_case_and_spaces(engine, store):
    data = csv_bytes([
        border_row(1, event_date="١٤/٠٧/٢٠٢٤", age="٣٤", nationality="Libye", sex=" f "),
        border_row(2, event_date="14/07/2024", nationality="ليبيا", family_name="  Ben   Salah "),
        border_row(3, nationality=" tunisia ", border_post="air_tun", direction="entrée"),
        border_row(4, nationality="Algeria", birth_date="02/03/1990"),
    ])
    result = submit(engine, store, data)
    assert result.valid, [(p.row, p.field, p.code, p.value) for p in result.problems]
    rows = rows_in(engine, CATALOG, "border_crossings")
    assert [r["nationality"] for r in rows] == ["LBY", "LBY", "TUN", "DZA"]
    assert {r["event_date"] for r in rows} == {dt.date(2024, 7, 14)}
    assert rows[0]["age"] == 34 and rows[0]["sex"] == "F"
    assert rows[1]["family_name"] == "Ben Salah"
    assert rows[2]["border_post"] == "AIR_TUN" and rows[2]["direction"] == "ENTRY"
    assert rows[3]["birth_date"] == dt.date(1990, 3, 2)


def _xlsx(rows: list[list], title_rows: list[list] = ()) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in [*title_rows, *rows]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_title_rows_above_the_header(engine, store):
    header = BORDER_HEADER
    body = [[border_row(i)[h] for h in header] for i in (1, 2)]
    body[1][1] = dt.datetime(2024, 7, 15)   # a real date cell
    body[1][10] = 34                         # a number cell
    data = _xlsx([header, *body], title_rows=[["وزارة الداخلية — Ministère de l'Intérieur"], ["Juillet 2024"], []])
    result = submit(engine, store, data, filename="juillet.xlsx")
    assert result.valid, [(p.row, p.field, p.code) for p in result.problems]
    assert result.submission.file_format == "xlsx"
    rows = rows_in(engine, CATALOG, "border_crossings")
    assert [r["source_row"] for r in rows] == [5, 6]   # spreadsheet rows as the partner sees them
    assert rows[1]["event_date"] == dt.date(2024, 7, 15) and rows[1]["age"] == 34


def test_xlsx_with_many_real_date_cells(engine, store):
    # Enough distinct dates in one batch for the batch date parser to be tried on date cells.
    header = BORDER_HEADER
    body = [[border_row(i)[h] for h in header] for i in range(1, 21)]
    for i, row in enumerate(body):
        row[1] = dt.datetime(2024, 7, 1 + i)
    result = submit(engine, store, _xlsx([header, *body]), filename="juillet.xlsx")
    assert result.valid, [(p.row, p.field, p.code) for p in result.problems]
    rows = rows_in(engine, CATALOG, "border_crossings")
    assert sorted(r["event_date"] for r in rows) == [dt.date(2024, 7, d) for d in range(1, 21)]


def test_headers_in_arabic_or_french_are_recognised(engine, store):
    dataset = CATALOG.dataset("border_crossings")
    header_ar = [dataset.field(h).labels["ar"] for h in BORDER_HEADER]
    data = csv_bytes([border_row(1)], header=BORDER_HEADER)
    data = data.replace(",".join(BORDER_HEADER).encode(), ",".join(header_ar).encode())
    assert submit(engine, store, data).valid


# --- files that are rejected -----------------------------------------------------------------

BAD_ROWS = [
    ("required", {"nationality": ""}, "nationality", "required"),
    ("required date", {"event_date": ""}, "event_date", "required"),
    ("unknown code", {"nationality": "Atlantis"}, "nationality", "unknown_code"),
    ("malformed date", {"event_date": "31/02/2024"}, "event_date", "bad_date"),
    ("impossible iso date", {"event_date": "2024-13-40"}, "event_date", "bad_date"),
    ("future date", {"event_date": (dt.date.today() + dt.timedelta(days=40)).isoformat()}, "event_date", "above_max"),
    ("age out of range", {"age": "150", "birth_date": ""}, "age", "above_max"),
    ("not a number", {"age": "thirty"}, "age", "bad_integer"),
    ("too long", {"person_id": "P" * 41}, "person_id", "too_long"),
    ("pattern", {"event_id": "E 1/2"}, "event_id", "bad_pattern"),
    ("age against birth date", {"age": "50"}, "age", "age_mismatch"),
]


@pytest.mark.parametrize("name,override,field,code", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_value_rejects_the_whole_file(engine, store, name, override, field, code):
    data = csv_bytes([border_row(1), border_row(2), border_row(3, **override), border_row(4)])
    result = submit(engine, store, data)
    assert result.submission.status == "rejected"
    assert [(p.row, p.field, p.code) for p in result.problems] == [(4, field, code)]
    assert count_rows(engine, CATALOG, "border_crossings") == 0
    assert archived(store, WHO.institution, data)
    with db.session(engine) as s:
        stored = s.exec(select(RowError).where(RowError.submission_id == result.submission.id)).all()
    assert [(e.row_number, e.field, e.code) for e in stored] == [(4, field, code)]


def test_exit_before_entry_of_the_same_person(engine, store):
    rows = [border_row(1, direction="EXIT", event_date="2024-07-01", person_id="P1"),
            border_row(2, direction="EXIT", event_date="2024-07-10", person_id="P1"),  # no entry between
            border_row(3, direction="ENTRY", event_date="2024-07-12", person_id="P1"),
            border_row(4, direction="EXIT", event_date="2024-07-20", person_id="P1")]
    result = submit(engine, store, csv_bytes(rows))
    assert [(p.row, p.field, p.code) for p in result.problems] == [(3, "event_date", "exit_before_entry")]
    assert count_rows(engine, CATALOG, "border_crossings") == 0


def test_exits_of_different_persons_are_no_error(engine, store):
    # Nobody exits twice: the check stops at its first question (does anyone?).
    rows = [border_row(1, direction="EXIT", event_date="2024-07-01", person_id="P1"),
            border_row(2, direction="EXIT", event_date="2024-07-02", person_id="P2"),
            border_row(3, direction="ENTRY", event_date="2024-07-03", person_id="P1")]
    result = submit(engine, store, csv_bytes(rows))
    assert result.valid, [(p.row, p.field, p.code) for p in result.problems]


def test_exit_check_leaves_the_planner_settings_as_they_were(postgres):
    from sqlalchemy import text

    from services.datasets_db import dataset_table
    from services.ingest.loader import exit_before_entry

    eng = db.make_engine(postgres.create_database("exit_settings"))
    db.upgrade(eng)
    rule = next(r for r in CATALOG.dataset("border_crossings").rules if r.kind == "exit_not_before_entry")
    with eng.connect() as conn, conn.begin():
        assert exit_before_entry(conn, dataset_table(CATALOG.dataset("border_crossings")), rule.params, 1) == []
        assert conn.execute(text("SHOW enable_sort")).scalar() == "on"
    eng.dispose()


FULL_HEADER = CATALOG.dataset("border_crossings").field_names


def _full_row(n: int, **overrides) -> dict:
    return border_row(n, **{"document_number": f"D{n}", "country_of_residence": "TUN", "purpose": "TOURISM",
                            **overrides})


def test_rows_in_field_order_load_as_read_with_empty_cells_as_null(engine, store, monkeypatch):
    from services.ingest.reader import Block

    lines_used = []
    real_lines = Block.lines
    monkeypatch.setattr(Block, "lines", lambda self, sep: lines_used.append(1) or real_lines(self, sep))
    rows = [_full_row(1, family_name="Lefèvre", given_name="Hélène"),
            _full_row(2, family_name="", document_number="", birth_date="", age="", purpose=""),
            _full_row(3, given_name="", country_of_residence="", family_name="Ben Ali")]
    result = submit(engine, store, csv_bytes(rows, header=FULL_HEADER))
    assert result.valid, [(p.row, p.field, p.code) for p in result.problems]
    loaded = rows_in(engine, CATALOG, "border_crossings")
    assert [(r["family_name"], r["given_name"]) for r in loaded] == [("Lefèvre", "Hélène"), (None, "Amira"),
                                                                     ("Ben Ali", None)]
    assert (loaded[1]["document_number"], loaded[1]["birth_date"], loaded[1]["age"], loaded[1]["purpose"]) == \
        (None, None, None, None)
    assert loaded[0]["birth_date"] == dt.date(1990, 3, 2) and loaded[2]["country_of_residence"] is None
    assert bool(lines_used) == (engine.dialect.name == "postgresql")  # COPY took the block's own lines


def test_backslashes_spaces_and_a_literal_null_mark_load_as_written(engine, store):
    rows = [_full_row(1, family_name="A\\B", given_name="\\N"),
            _full_row(2, family_name="\u00a0Ben  Ali ", given_name="  Amira"),
            _full_row(3, family_name="", given_name="Hédi"),
            _full_row(4, family_name="Ben\tAli", given_name="Amira")]   # a tab (COPY's separator) is white space
    result = submit(engine, store, csv_bytes(rows, header=FULL_HEADER))
    assert result.valid, [(p.row, p.field, p.code) for p in result.problems]
    loaded = rows_in(engine, CATALOG, "border_crossings")
    assert [(r["family_name"], r["given_name"]) for r in loaded] == [("A\\B", "\\N"), ("Ben Ali", "Amira"),
                                                                     (None, "Hédi"), ("Ben Ali", "Amira")]


def test_plain_iso_date_columns_are_read_as_parse_date_reads_them():
    """The numpy check of yyyy-mm-dd columns accepts exactly what the per-value parser accepts."""
    import random

    from services.ingest.fields import FieldError, _iso_keys, field_parser

    field = CATALOG.dataset("border_crossings").field("birth_date")
    parse = field_parser(field, CATALOG)
    cells = ["1900-01-01", "1899-12-31", "2000-02-29", "1900-02-29", "2023-02-29", "2024-04-31", "2024-13-01",
             "2024-00-10", "2024-01-00", "0000-01-01", "2024-1-01", "2024/01/01", " 2024-01-01", "2024-W01-1",
             "٢٠٢٤-01-01", "2024-01-011", "", (dt.date.today() + dt.timedelta(days=1)).isoformat(), "2024-01-0a"]
    rnd = random.Random(1)
    cells += ["%04d-%02d-%02d" % (rnd.randrange(10000), rnd.randrange(14), rnd.randrange(33)) for _ in range(3000)]

    def key(cell):
        try:
            day = parse(cell)
        except FieldError:
            return None
        return 0 if day is None else day.year * 10_000 + day.month * 100 + day.day

    for cell in cells:
        keys = _iso_keys([cell], *field.bounds(), field.required)
        if keys is not None:  # accepted: exactly the parser's date (None: the parser decides)
            assert list(keys) == [key(cell)], cell
        elif cell[4:5] == "-" and cell[7:8] == "-" and len(cell) == 10 and cell.isascii() and cell[:4].isdigit():
            assert key(cell) is None, cell  # a plain-looking cell is refused only if the parser refuses it
    assert _iso_keys(["2024-07-14", ""], None, None, required=True) is None  # the parser reports `required`


def test_wide_space_is_all_white_space_beyond_ascii():
    import sys

    from services.ingest.fields import WIDE_SPACE

    wide = [chr(i) for i in range(128, sys.maxunicode + 1) if chr(i).isspace()]
    assert all(WIDE_SPACE.fullmatch(ch) for ch in wide)
    assert len(WIDE_SPACE.findall("".join(chr(i) for i in range(128, sys.maxunicode + 1)))) == len(wide)


def test_date_order_rule(engine, store):
    who = submitter(POLICIES, "residence_permits")
    dataset = CATALOG.dataset("residence_permits")
    header = [f.name for f in dataset.fields]
    good = {"permit_number": "RP1", "application_type": CATALOG.codelists["application_types"].codes[0],
            "person_id": "P1", "nationality": "FRA", "sex": "M", "birth_date": "1980-01-01",
            "permit_type": CATALOG.codelists["residence_permit_types"].codes[0],
            "residence_reason": CATALOG.codelists["residence_reasons"].codes[0],
            "issue_date": "2024-02-01", "expiry_date": "2025-01-31", "governorate_of_residence": "TN-11",
            "permit_status": CATALOG.codelists["permit_status"].codes[0]}
    bad = {**good, "permit_number": "RP2", "expiry_date": "2023-12-31"}
    result = submit(engine, store, csv_bytes([good, bad], header=header), dataset="residence_permits", who=who)
    assert [(p.row, p.field, p.code) for p in result.problems] == [(3, "expiry_date", "date_order")]


def test_every_error_of_a_file_is_reported_and_nothing_loads(engine, store):
    rows = [border_row(i) for i in range(1, 1001)]
    rows[10]["sex"] = "?"
    rows[500]["event_date"] = "yesterday"
    rows[999]["nationality"] = "Narnia"
    result = submit(engine, store, csv_bytes(rows))
    assert [(p.row, p.field) for p in result.problems] == [(12, "sex"), (502, "event_date"), (1001, "nationality")]
    assert result.submission.rows_total == 1000 and result.submission.rows_loaded == 0
    assert count_rows(engine, CATALOG, "border_crossings") == 0


@pytest.mark.parametrize("label,data,code,row", [
    ("empty", b"", "empty_file", None),
    ("only blank lines", b"\r\n\r\n  \r\n", "empty_file", None),
    ("random bytes", bytes((i * 7919 + 13) % 256 for i in range(4096)), "not_text", None),
    ("header of another dataset", "permit_number,issue_date,expiry_date\nRP1,2024-01-01,2025-01-01\n".encode(),
     "no_header_match", 1),
    ("unknown extra column", csv_bytes([border_row(1)], header=[*BORDER_HEADER, "shoe_size"]), "unknown_header", 1),
    ("required column missing", csv_bytes([border_row(1)], header=BORDER_HEADER[1:]), "missing_column", 1),
    ("row with too many columns", csv_bytes([border_row(1)]) + b"E2,2024-07-14,ENTRY,AIR_TUN,P2,A,B,TUN,F,,,x,y\r\n",
     "too_many_columns", 3),
    ("row with too few columns", csv_bytes([border_row(1)]) + b"E2,2024-07-14,ENTRY\r\n", "too_few_columns", 3),
    # The block's cell count is right, yet rows 3 and 4 are not: each must be reported, not shifted.
    ("a row too long, the next as much too short",
     csv_bytes([border_row(1)]) + b"E2,2024-07-14,ENTRY,AIR_TUN,P2,A,B,TUN,F,1990-03-02,34,x\r\n"
                                  b"E3,2024-07-14,ENTRY,AIR_TUN,P3,A,B,TUN,F,1990-03-02\r\n", "too_many_columns", 3),
    ("broken xlsx", b"PK\x03\x04" + b"\x00" * 300, "not_text", None),
])
def test_bad_files(engine, store, label, data, code, row):
    result = submit(engine, store, data)
    assert result.submission.status == "rejected"
    assert code in [p.code for p in result.problems], [(p.row, p.code) for p in result.problems]
    assert [p.row for p in result.problems if p.code == code][0] == row
    assert count_rows(engine, CATALOG, "border_crossings") == 0
    assert archived(store, WHO.institution, data)


def test_same_file_twice_is_recognised(engine, store):
    data = csv_bytes([border_row(1)])
    first = submit(engine, store, data)
    again = submit(engine, store, data, filename="renamed.csv")
    assert again.duplicate_of is not None and again.duplicate_of.id == first.submission.id
    assert [p.code for p in again.problems] == ["duplicate_file"] and not again.valid
    assert count_rows(engine, CATALOG, "border_crossings") == 1
    with db.session(engine) as s:
        assert len(s.exec(select(Submission)).all()) == 1


def test_an_institution_cannot_submit_a_dataset_outside_its_agreement(engine, store):
    other = next(code for code in POLICIES.institutions
                 if "border_crossings" not in POLICIES.datasets_submitted_by(code))
    who = Principal(username="x.submitter", institution=other, roles=frozenset({"submitter"}))
    with pytest.raises(SubmissionDenied):
        submit(engine, store, csv_bytes([border_row(1)]), who=who)
    assert store.list(other) == []


def test_submitting_for_another_institution_is_refused(engine, store):
    intruder = Principal(username="intruder", institution="UNHCR", roles=frozenset({"submitter"}))
    with pytest.raises(SubmissionDenied):
        ingest(io.BytesIO(csv_bytes([border_row(1)])), dataset="border_crossings", institution=WHO.institution,
               principal=intruder, engine=engine, store=store, catalog=CATALOG, policies=POLICIES)


# --- the report -----------------------------------------------------------------------------

def test_report_in_each_language_names_row_field_value_and_expectation(engine, store):
    data = csv_bytes([border_row(1), border_row(2, nationality="Atlantis"), border_row(3, event_date="31/02/2024")])
    result = submit(engine, store, data)
    for lang in ("ar", "fr", "en"):
        lines = report_lines(result.problems, CATALOG, "border_crossings", lang)
        assert [(line["row"], line["field"], line["value"]) for line in lines] == \
            [(3, "nationality", "Atlantis"), (4, "event_date", "31/02/2024")]
        assert all(line["message"] and line["message"] != line["code"] for line in lines)
        if lang == "ar":
            assert any("\u0600" <= ch <= "\u06ff" for ch in lines[0]["message"])
        csv_text = report_csv(lines, lang).decode("utf-8-sig")
        assert "Atlantis" in csv_text and csv_text.count("\n") == 3
    assert "dd/mm/yyyy" in report_lines(result.problems, CATALOG, "border_crossings", "en")[1]["message"]


def test_files_stream_in_bounded_memory(tmp_path, store):
    """Peak Python memory while loading does not grow with the file: 20,000 vs 100,000 rows."""
    import tracemalloc

    engine_ = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade(engine_)
    peaks = []
    for n in (20_000, 100_000):
        path = tmp_path / f"{n}.csv"
        path.write_bytes(csv_bytes([border_row(i, event_id=f"E{n}-{i}") for i in range(n)]))
        tracemalloc.start()
        result = ingest(path, dataset="border_crossings", institution=WHO.institution, principal=WHO,
                        engine=engine_, store=store, catalog=CATALOG, policies=POLICIES)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert result.valid and result.submission.rows_loaded == n
    assert peaks[1] < peaks[0] * 2, f"peak grew from {peaks[0]:,} to {peaks[1]:,} bytes for 5x the rows"


def test_every_problem_the_ingestion_can_report_has_a_message():
    """Codes are written in the code; their texts live in the catalog: none may be missing."""
    import re
    from pathlib import Path

    import services.ingest as package

    source = "".join(p.read_text() for p in Path(package.__file__).parent.glob("*.py"))
    codes = set(re.findall(r'FieldError\("([a-z_]+)"', source))          # FieldError("code", ...)
    codes |= set(re.findall(r'"([a-z][a-z_]+)",\s*\{', source))            # Problem(..., "code", {params})
    codes |= set(re.findall(r'"([a-z][a-z_]+)"\)', source)) & set(re.findall(r'Problem\([^\n]*"([a-z_]+)"\)', source))
    codes |= set(re.findall(r'code = "([a-z_]+)" if .* else "([a-z_]+)"', source)[0])
    assert {"required", "bad_date", "too_many_columns", "load_failed", "exit_before_entry"} <= codes
    missing = sorted(c for c in codes if c not in CATALOG.messages)
    assert not missing, f"no message for {missing}"
