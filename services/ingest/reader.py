"""Reading a submitted file as a stream of rows: format, encoding and delimiter detection.

Rows come out as (row_number, cells) where row_number is the spreadsheet row number a
person sees (the first line of the file is row 1), so reports point at the right line.
"""
from __future__ import annotations

import codecs
import csv
import io
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence, Union

from services.ingest.fields import FieldError

_SNIFF_BYTES = 1 << 16
_FIELD_LIMIT = 1 << 20  # the longest cell the csv module accepts
# Characters validated at a time: bounds memory whatever the file's size, and small enough
# (~2,000 rows) for a block's cells to stay in the CPU cache while each column is checked.
_BLOCK = 1 << 18
_SHEET_BATCH = 10_000   # spreadsheet rows validated at a time
_ROW_END = "\x1e"  # ASCII record separator: marks row ends in a plain block (a block holding one is not plain)
csv.field_size_limit(_FIELD_LIMIT)


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


@dataclass
class Block:
    """Rows already in columns: `columns[c][i]` is the cell of column c in row `numbers[i]`;
    every row has exactly the width asked for. A plain CSV block keeps its text too: one line
    per row, each line its cells joined by `delimiter`, each ended by `end` (the file's last may not be)."""

    numbers: Sequence[int]
    columns: list[list[str]]
    text: str | None = None
    end: str = "\n"
    delimiter: str = ","

    def lines(self, separator: str) -> list[str]:
        """The rows as read, one string each, their cells joined by `separator` instead."""
        assert self.text is not None, "only a plain block has its text"
        return self.text.removesuffix(self.end).replace(self.delimiter, separator).split(self.end)


Batch = Union[Block, list]  # a Block, or a list of (row_number, cells) of any width


def open_rows(path: Path, shape: FileShape) -> "CsvRows | SheetRows":
    """The file's rows: iterate for rows one at a time (the header search), then `.batches(width)`
    for the rest. Use as a context manager, so that the file is closed whatever happens."""
    return CsvRows(path, shape) if shape.format == "csv" else SheetRows(path)


class _Rows:
    """A file's rows, an iterator and a context manager that closes the file (see open_rows)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self


class CsvRows(_Rows):
    """CSV rows. Most blocks of a file are plain (no quotes, one row per line, every row as wide
    as the header): those are cut into columns by two C-level string operations, with no
    per-row object at all. Any other block goes through the csv module, which defines the result."""

    def __init__(self, path: Path, shape: FileShape):
        self.fh = open(path, encoding=shape.encoding, newline="")
        self.encoding, self.delimiter = shape.encoding, shape.delimiter
        self.reader = csv.reader(self.fh, delimiter=shape.delimiter)
        self.lines = 0  # physical lines consumed by blocks (the csv readers count their own)

    def close(self) -> None:
        self.fh.close()

    def __next__(self) -> tuple[int, list]:
        with self._errors(lambda: self.reader.line_num):
            cells = next(self.reader)
        return self.reader.line_num, cells

    def batches(self, width: int) -> Iterator[Batch]:
        """Everything after the rows already iterated, about _BLOCK characters at a time."""
        self.lines = self.reader.line_num
        while True:
            with self._errors(lambda: self.lines):
                text = self.fh.read(_BLOCK)
                if text and text[-1] != "\n":
                    text += self.fh.readline()  # blocks end where lines end
            if not text:
                return
            block = self._plain_block(text, width)
            yield block if block is not None else self._csv_block(text)
            # Let this block's cells go before the next block is cut: new cells then reuse the
            # memory just freed, still in the CPU cache (a third faster than fresh memory).
            del block

    def _plain_block(self, text: str, width: int) -> Block | None:
        """The text's rows as columns when the csv module would read them as plain splits, else None."""
        if '"' in text or "\x00" in text:
            return None
        count = text.count("\n") + (text[-1] != "\n")  # the last line of a file may have no newline
        end = "\n"
        if "\r" in text:  # Windows line ends; a lone carriage return ends a line for the csv module
            end = "\r\n"
            if not text.count("\r") == text.count("\r\n") == count - (text[-1] != "\n"):
                return None
        delimiter = self.delimiter
        if text[0] == "\n" or text.startswith(end) or end + end in text or \
                text.count(delimiter) != count * (width - 1):
            return None  # blank lines, or rows of another width: the general path reports them
        if len(text) > _FIELD_LIMIT:
            return None  # the csv module may refuse a cell of such a long line: let it say so
        if _ROW_END in text:
            return None
        # Each line end becomes a marker closing the row's last cell, then a delimiter. The block's
        # cell count (checked above) can be right while its rows are not (one row a cell too long,
        # the next a cell too short): the rows are aligned only if every marker falls in a
        # last-column cell.
        cells = text.removesuffix(end).replace(end, _ROW_END + delimiter).split(delimiter)
        last = "".join(cells[width - 1::width]).split(_ROW_END)
        if len(last) != count:
            return None  # rows of other widths: the general path reports them
        numbers = range(self.lines + 1, self.lines + count + 1)
        self.lines += count
        return Block(numbers, [cells[c::width] for c in range(width - 1)] + [last], text, end, delimiter)

    def _csv_block(self, text: str) -> list[tuple[int, list]]:
        """The text through the csv module; a quoted cell may run on past it, into the file."""
        lines = io.StringIO(text, newline="").readlines()  # lines as the file itself cuts them
        reader = csv.reader(chain(lines, self.fh), delimiter=self.delimiter)
        rows = []
        with self._errors(lambda: self.lines + reader.line_num):
            for cells in reader:
                rows.append((self.lines + reader.line_num, cells))
                if reader.line_num >= len(lines):
                    break  # a row ended at or past the last line read: the file continues from here
        self.lines += reader.line_num
        return rows

    @contextmanager
    def _errors(self, line):
        # The encoding was checked over the whole file by sniff_file, so decoding cannot fail
        # half-way; digits are made ASCII per cell by the field parsers.
        try:
            yield
        except csv.Error as err:
            raise FieldError("bad_csv", detail=str(err), row=line()) from None
        except UnicodeDecodeError:
            raise FieldError("unrecognised_encoding", encoding=self.encoding, row=line()) from None


class SheetRows(_Rows):
    """Spreadsheet rows, one at a time and then in batches of _SHEET_BATCH."""

    def __init__(self, path: Path):
        self.rows = _sheet_rows(path)

    def close(self) -> None:
        self.rows.close()

    def __next__(self) -> tuple[int, list]:
        return next(self.rows)

    def batches(self, width: int) -> Iterator[Batch]:
        while batch := list(islice(self.rows, _SHEET_BATCH)):
            yield batch


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
