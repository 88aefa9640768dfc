"""Property-based fuzz of the file reader and the field parsers (hypothesis, derandomised).

Whatever the bytes, reading ends in rows or in the documented refusals (FieldError,
FileRejected), within a time bound; no other exception escapes. Bounded to well under a
minute: a fixed number of examples, each with a deadline.
"""
from __future__ import annotations

import codecs
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.catalog import default_catalog
from services.ingest.fields import FieldError, field_parser
from services.ingest.reader import open_rows, sniff_file
from services.ingest.validate import FileRejected, find_header
from tests.ingest_support import BORDER_HEADER, border_row, csv_bytes

CATALOG = default_catalog()
DATASET = CATALOG.dataset("border_crossings")
FUZZ = settings(derandomize=True, max_examples=150, deadline=dt.timedelta(seconds=2), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Bytes that look like the files partners send, broken in every way: a real table's bytes cut,
# spliced with random bytes, BOMs, separators, quotes, control characters and legacy code pages.
_pieces = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b",", b";", b"\t", b"|", b'"', b"\r\n", b"\n", b"\r", b"\x00", b"\x1c", codecs.BOM_UTF8,
                     codecs.BOM_UTF16_LE, b"\xc8", b"\xe9", b"\x81", b"\xff\xfe", "é".encode(), "ب".encode()]),
    st.text(max_size=20).map(lambda t: t.encode("utf-8")),
)
_table = csv_bytes([border_row(1), border_row(2, family_name="بن صالح")])


@st.composite
def files(draw) -> bytes:
    base = draw(st.sampled_from([b"", _table, _table.decode().encode("utf-16"),
                                 _table.replace("بن صالح".encode(), "LEFÈVRE".encode("latin-1"))]))
    cut = draw(st.integers(0, len(base)))
    return base[:cut] + b"".join(draw(st.lists(_pieces, max_size=8))) + base[cut:]


def _read_all(path) -> int:
    """Every row of the file, through the same calls the ingestion makes."""
    shape = sniff_file(path)
    with open_rows(path, shape) as rows:
        header = find_header(DATASET, rows)
        return sum(len(batch.numbers) if hasattr(batch, "numbers") else len(batch)
                   for batch in rows.batches(len(header.columns)))


@FUZZ
@given(data=files())
def test_any_bytes_read_as_rows_or_a_documented_refusal(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "upload.csv"
    path.write_bytes(data)
    try:
        _read_all(path)
    except (FieldError, FileRejected):
        pass


@FUZZ
@given(data=st.binary(max_size=2048))
def test_bytes_after_a_zip_signature_are_a_workbook_or_a_refusal(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "upload.xlsx"
    path.write_bytes(b"PK\x03\x04" + data)
    try:
        _read_all(path)
    except (FieldError, FileRejected):
        pass


_cells = st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                   st.datetimes(), st.dates(),
                   st.sampled_from(["", " ", "\u200fTUN", "٣٤", "1_0", "1e999", "nan", "31/02/2024", "2024-13-01",
                                    "\x00", "é\u200c", "-0", "0x10"]))


@pytest.mark.parametrize("name", [f.name for f in DATASET.fields])
def test_field_parsers_give_a_value_or_a_field_error(name):
    parse = field_parser(DATASET.field(name), CATALOG)

    @FUZZ
    @given(cell=_cells)
    def check(cell):
        try:
            value = parse(cell)
        except FieldError as err:
            assert err.code in CATALOG.messages, err.code
            return
        if isinstance(value, str):  # what is stored is printable text, trimmed
            assert value == value.strip() and not any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 for ch in value)

    check()


def test_the_fuzzed_table_itself_reads(tmp_path):
    """The base file the fuzzer breaks is read whole: the properties above are not vacuous."""
    path = tmp_path / "t.csv"
    path.write_bytes(_table)
    assert _read_all(path) == 2 and BORDER_HEADER[0] == "event_id"
