"""Reading a submitted file as a stream of rows: format, encoding and delimiter detection.

Rows come out as (row_number, cells) where row_number is the spreadsheet row number a
person sees (the first line of the file is row 1), so reports point at the right line.
"""
from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from services.ingest.fields import FieldError

_SNIFF_BYTES = 1 << 16
_BLOCK = 1 << 20
csv.field_size_limit(1 << 20)


@dataclass
class FileShape:
    format: str            # csv | xlsx | xls
    encoding: str | None   # for csv
    delimiter: str | None  # for csv


def sniff_file(path: Path) -> FileShape:
    with open(path, "rb") as fh:
        shape = sniff(fh.read(_SNIFF_BYTES))
        if shape.encoding == "utf-8" and not _all_utf8(fh):
            shape.encoding = "cp1256"
    return shape


def _all_utf8(fh: BinaryIO) -> bool:
    """A file whose first block is ASCII may still be Windows-1256 further down: read it all once."""
    fh.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := fh.read(_BLOCK):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def sniff(head: bytes) -> FileShape:
    """Decide format, encoding and delimiter from the first bytes; FieldError when it is no table."""
    if not head.strip(b"\xef\xbb\xbf \r\n\t"):
        raise FieldError("empty_file")
    if head.startswith(b"PK\x03\x04"):
        return FileShape("xlsx", None, None)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return FileShape("xls", None, None)
    encoding = _encoding(head)
    text = head.decode(encoding, errors="ignore")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n")
    if "\x00" in text or controls > max(2, len(text) // 100):
        raise FieldError("not_text")
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    delimiter = max((",", ";", "\t", "|"), key=first_line.count)
    return FileShape("csv", encoding, delimiter)


def _encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        # Arabic-locale Windows exports: the only legacy encoding partners send us.
        return "cp1256"


def read_rows(path: Path, shape: FileShape) -> Iterator[tuple[int, list]]:
    return _csv_rows(path, shape) if shape.format == "csv" else _sheet_rows(path)


def _csv_rows(path: Path, shape: FileShape) -> Iterator[tuple[int, list]]:
    # The encoding was checked over the whole file by sniff_file, so decoding cannot fail
    # half-way; digits are made ASCII per cell by the field parsers.
    with open(path, encoding=shape.encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=shape.delimiter)
        try:
            for cells in reader:
                yield reader.line_num, cells
        except csv.Error as err:
            raise FieldError("bad_csv", detail=str(err), row=reader.line_num) from None
        except UnicodeDecodeError:
            raise FieldError("unrecognised_encoding", encoding=shape.encoding, row=reader.line_num) from None


def _sheet_rows(path: Path) -> Iterator[tuple[int, list]]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
    except Exception as err:  # calamine raises its own error types for corrupt workbooks
        raise FieldError("not_text", detail=str(err)) from None
    start_row = sheet.start[0] if sheet.start else 0
    for offset, cells in enumerate(sheet.iter_rows()):
        yield start_row + offset + 1, list(cells)
