"""Reading a submitted file as a stream of rows: format, encoding and delimiter detection.

Rows come out as (row_number, cells) where row_number is the spreadsheet row number a
person sees (the first line of the file is row 1), so reports point at the right line.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence, Union

import numpy as np

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


# The encodings partners' files come in: Unicode, and the Windows code pages of Arabic and
# French offices (Latin-1 is Windows-1252 but for bytes 0x80-0x9F, which it makes controls).
ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1256": "Windows-1256",
             "cp1252": "Windows-1252", "latin-1": "Latin-1"}
_LEGACY = ("cp1256", "cp1252", "latin-1")


def encoding_name(name: str) -> str:
    """The codec name of an encoding a person names (windows-1256, latin1, UTF-8...); FieldError if not one of ours."""
    try:
        codec = codecs.lookup(name).name
    except (LookupError, TypeError, ValueError):
        codec = None
    codec = {"iso8859-1": "latin-1"}.get(codec, codec)
    if codec not in ENCODINGS:
        raise FieldError("unknown_encoding", encoding=str(name)[:40], candidates=_names(ENCODINGS))
    return codec


def sniff_file(path: Path, encoding: str | None = None) -> FileShape:
    """The file's shape; its encoding decided over the whole file (or `encoding`, as the uploader says)."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        shape = sniff(head, encoding)
        if shape.format == "csv" and shape.encoding in ("utf-8", *_LEGACY):
            shape.encoding = _file_encoding(fh, encoding and encoding_name(encoding))
            shape.delimiter = _delimiter(_decode_head(head, shape.encoding))
    return shape


def sniff(head: bytes, encoding: str | None = None) -> FileShape:
    """Decide format, encoding and delimiter from the first bytes; FieldError when it is no table."""
    if not head.strip(b"\xef\xbb\xbf \r\n\t"):
        raise FieldError("empty_file")
    if head.startswith(b"PK\x03\x04"):
        return FileShape("xlsx", None, None)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return FileShape("xls", None, None)
    encoding = _bom_encoding(head) or (encoding and encoding_name(encoding)) or _head_encoding(head)
    text = _decode_head(head, encoding)
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n")
    if "\x00" in text or controls > max(2, len(text) // 100):
        raise FieldError("not_text")
    return FileShape("csv", encoding, _delimiter(text))


def _decode_head(head: bytes, encoding: str) -> str:
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head).lstrip("\ufeff")


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _head_encoding(head: bytes) -> str:
    """UTF-8, or a legacy code page: then sniff_file decides which over the whole file."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1256"


def _delimiter(text: str) -> str:
    """The separator that cuts the most of the first lines into the same number (>1) of cells:
    the table's rows agree with each other, a title line above them does not."""
    lines = text.splitlines()[:50]
    if len(text) >= _SNIFF_BYTES // 2 and len(lines) > 1:
        lines.pop()  # the head may end in the middle of a line
    lines = [line for line in lines if line.strip()]
    best, best_score = ",", (0, 0)
    for delimiter in (",", ";", "\t", "|"):
        try:
            widths = Counter(len(cells) for cells in csv.reader(lines, delimiter=delimiter) if len(cells) > 1)
        except csv.Error:
            continue
        score = max(((count, width) for width, count in widths.items()), default=(0, 0))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _file_encoding(fh: BinaryIO, forced: str | None) -> str:
    """UTF-8 when the whole file is; else the legacy code page its words read best in (see _legacy_encoding)."""
    if forced in ("utf-16", "utf-8-sig"):
        return forced
    if forced is None or forced == "utf-8":
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        lines = 1
        try:
            while block := fh.read(_BLOCK):
                decoder.decode(block)
                lines += block.count(b"\n")
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            if forced:
                raise FieldError("wrong_encoding", encoding=ENCODINGS[forced], row=lines) from None
    fh.seek(0)
    return _legacy_encoding(iter(lambda: fh.read(_BLOCK) + fh.readline(), b""), 1, forced)


_HIGH_WORD = re.compile(rb"[A-Za-z\x80-\xff]*[\x80-\xff][A-Za-z\x80-\xff]*")
_WORDS = re.compile(r"[^\W\d_]+")
_EVIDENCE = 20_000  # distinct non-ASCII words weighed: enough to decide, and a bound on the time spent


def _legacy_encoding(blocks, first_line: int, forced: str | None = None) -> str:
    """The code page among _LEGACY that reads the file's non-ASCII words as words.

    Every byte decodes in every one of them (but five in Windows-1252), so decoding cannot decide;
    what can is whether the words read as a person writes them: one script in a word (no Arabic
    letter inside a Latin word), no three accented letters in a row, no capital after a small
    letter. A word counts as often as it occurs. When two code pages read the words about as well,
    the uploader is asked to say which, with a line shown both ways."""
    present = np.zeros(256, dtype=bool)
    words: Counter = Counter()
    where: dict[bytes, tuple[int, bytes]] = {}  # a word -> its first line (number, bytes), for the sample
    line = first_line
    for block in blocks:
        if not block.isascii():
            present |= np.bincount(np.frombuffer(block, np.uint8), minlength=256).astype(bool)
            if len(words) < _EVIDENCE:
                for match in _HIGH_WORD.finditer(block):
                    word = match[0]
                    if word not in where:
                        start = block.rfind(b"\n", 0, match.start()) + 1
                        end = block.find(b"\n", match.end())
                        where[word] = (line + block.count(b"\n", 0, start), block[start:end if end >= 0 else None])
                    words[word] += 1
                    if len(where) >= _EVIDENCE:
                        break
        line += block.count(b"\n")
    high = bytes((np.flatnonzero(present[0x80:]) + 0x80).tolist())  # the non-ASCII bytes the file holds
    undefined = {enc for enc in _LEGACY if _undecodable(high, enc)}
    if forced is not None:
        if forced in undefined:
            raise FieldError("wrong_encoding", encoding=ENCODINGS[forced], row=None)
        return forced
    candidates = [enc for enc in _LEGACY if enc not in undefined]
    readings: dict[str, str] = {}  # code pages that read the file's bytes alike are one: the first is kept
    for enc in candidates:
        readings.setdefault(high.decode(enc), enc)
    candidates = list(readings.values())
    if len(candidates) == 1:
        return candidates[0]
    differing = [w for w in words if len({w.decode(enc) for enc in candidates}) > 1]
    scores = {enc: sum(words[w] for w in differing if not _reads_well(w.decode(enc))) for enc in candidates}
    ranked = sorted(candidates, key=scores.__getitem__)
    if 2 * scores[ranked[0]] < scores[ranked[1]]:
        return ranked[0]
    tied = [enc for enc in ranked if 2 * scores[ranked[0]] >= scores[enc]]
    shown = max((w for w in differing if len({w.decode(enc) for enc in tied}) > 1), key=words.__getitem__)
    number, text = where[shown]
    sample = " | ".join(f"{ENCODINGS[enc]}: {_printable(text.decode(enc))[:120]}" for enc in tied)
    raise FieldError("ambiguous_encoding", candidates=_names(tied), sample=sample, row=number)


def _undecodable(byte: bytes, encoding: str) -> bool:
    try:
        byte.decode(encoding)
        return False
    except UnicodeDecodeError:
        return True


def _reads_well(text: str) -> bool:
    for word in _WORDS.findall(text):
        arabic = sum(1 for ch in word if "\u0600" <= ch <= "\u06ff")
        if arabic and arabic != len(word):
            return False  # two scripts in one word
        if not arabic and (re.search(r"[^\x00-\x7f]{3}", word) or re.search(r"[a-z\u00df-\u00ff][\u00c0-\u00de]", word)):
            return False  # three accented letters in a row, or a capital after a small letter
    return not any("\x80" <= ch <= "\x9f" for ch in text)  # Latin-1's control characters


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text.rstrip("\r"))


def _names(encodings) -> str:
    return ", ".join(dict.fromkeys(ENCODINGS[enc] for enc in encodings))


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
    return CsvRows(path, shape) if shape.format == "csv" else SheetRows(path, shape.format)


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
    """Spreadsheet rows, one at a time and then in batches of _SHEET_BATCH. The rows are those of
    the first sheet that holds cells; `next_sheet()` moves on to the next one (the header search
    asks, when a sheet has no header), `sheets` names them all and says which are empty."""

    def __init__(self, path: Path, format: str = "xlsx"):
        from python_calamine import CalamineWorkbook

        extents = scan_workbook(path) if format == "xlsx" else None
        try:
            self.workbook = CalamineWorkbook.from_path(str(path))
            names = [m.name for m in self.workbook.sheets_metadata if str(m.typ).endswith("WorkSheet")]
        except Exception as err:  # calamine raises its own error types for corrupt workbooks
            raise FieldError("not_text", detail=str(err)) from None
        if extents is not None:  # an xlsx: each sheet's cells are counted already, and bounded
            names = [name for name in names if name in extents]
            self.filled = [name for name in names if extents[name].cells]
        else:  # an old .xls cannot be scanned beforehand: see _bounded
            self.filled = list(names)
        self.sheets = ", ".join(name if name in self.filled else f"{name} (—)" for name in names)
        self.sheet, self.rows = None, iter(())
        self.format, self.path = format, path
        self.next_sheet()

    def next_sheet(self) -> bool:
        """Moves to the next sheet holding cells; False when there is none."""
        if not self.filled:
            self.sheet, self.rows = None, iter(())
            return False
        self.sheet = self.filled.pop(0)
        self.rows = _sheet_rows(self.workbook, self.sheet, self.path if self.format != "xlsx" else None)
        return True

    def close(self) -> None:
        close = getattr(self.rows, "close", None)
        if close:
            close()
        self.workbook.close()

    def __next__(self) -> tuple[int, list]:
        return next(self.rows)

    def batches(self, width: int) -> Iterator[Batch]:
        while batch := list(islice(self.rows, _SHEET_BATCH)):
            yield batch


def _sheet_rows(workbook, name: str, unscanned: Path | None) -> Iterator[tuple[int, list]]:
    if unscanned is not None:
        yield from _bounded_rows(unscanned, name)
        return
    try:
        sheet = workbook.get_sheet_by_name(name)
    except Exception as err:  # calamine raises its own error types for corrupt workbooks
        raise FieldError("not_text", detail=str(err)) from None
    start_row = sheet.start[0] if sheet.start else 0
    for offset, cells in enumerate(sheet.iter_rows()):
        yield start_row + offset + 1, list(cells)


# --- workbooks, measured before they are read --------------------------------------------
# calamine holds a sheet as one dense grid from its first to its last cell: two cells, A1 and
# XFD1048576, are 17 billion cells, and a failed allocation aborts the process (Rust cannot
# raise). So an xlsx is read as a zip first, each of its parts decompressed once with a bound,
# and each sheet's cells counted and located; calamine gets only a workbook whose grids are small.

MAX_UNZIPPED = 1 << 30    # bytes a workbook may hold decompressed (an xlsx compresses ~10 times)
MAX_GRID = 1 << 24        # cells of a sheet's grid (calamine: 32 bytes each, 512 MiB)
_SPARSE_GRID = 1 << 20    # a grid this small is fine whatever it holds; a larger one must be
_SPARSE_RATIO = 8         # ... at least 1/8 full


@dataclass
class SheetExtent:
    name: str
    cells: int = 0        # cells holding a value (or a formula)
    top: int = 0          # first and last row and column (1-based) of those cells
    left: int = 0
    bottom: int = 0
    right: int = 0
    rows: dict = field(default_factory=dict)     # row -> first column holding a cell in it
    columns: dict = field(default_factory=dict)  # column -> first row holding a cell in it

    @property
    def grid(self) -> int:
        return (self.bottom - self.top + 1) * (self.right - self.left + 1) if self.cells else 0

    def add(self, row: int, column: int) -> None:
        if not self.cells:
            self.top, self.bottom, self.left, self.right = row, row, column, column
        else:
            self.top, self.bottom = min(self.top, row), max(self.bottom, row)
            self.left, self.right = min(self.left, column), max(self.right, column)
        self.cells += 1
        self.rows.setdefault(row, column)
        self.columns.setdefault(column, row)


def scan_workbook(path: Path) -> dict[str, SheetExtent]:
    """Each worksheet's extent, by name; FieldError when the workbook is too large once
    decompressed, or a sheet's grid is (a cell far from the table: `stray_cell`)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            parts = zf.infolist()
            declared = sum(info.file_size for info in parts)
            if declared > MAX_UNZIPPED:
                raise FieldError("workbook_too_large", size=_mib(declared), limit=_mib(MAX_UNZIPPED))
            sheets = _sheet_parts(zf)
            extents = {}
            for info in parts:
                # Every part is read to its end: zipfile stops at the declared size and checks the
                # CRC, so no part holds more than declared when calamine reads it after us.
                with zf.open(info) as fh:
                    name = sheets.get(info.filename)
                    if name is not None:
                        extents[name] = _scan_plain_sheet(fh, name)
                        if extents[name] is None:  # XML the fast scan cannot vouch for: parse it
                            with zf.open(info) as again:
                                extents[name] = _scan_sheet(again, name)
                    else:
                        while fh.read(1 << 20):
                            pass
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, KeyError,
            ValueError, RuntimeError) as err:
        raise FieldError("not_text", detail=str(err)[:200]) from None
    for extent in extents.values():
        _check_grid(extent)
    return extents


def _sheet_parts(zf) -> dict[str, str]:
    """Worksheet part (a path in the zip) -> sheet name, from the workbook and its relationships."""
    import posixpath

    rels = {}
    for attrs in _elements(zf, "xl/_rels/workbook.xml.rels", "Relationship"):
        if attrs.get("Type", "").endswith("/worksheet"):
            target = attrs.get("Target", "")
            rels[attrs.get("Id")] = target.lstrip("/") if target.startswith("/") else \
                posixpath.normpath(posixpath.join("xl", target))
    out = {}
    for attrs in _elements(zf, "xl/workbook.xml", "sheet"):
        rel = next((v for k, v in attrs.items() if k.endswith(" id")), None)  # r:id
        if rel in rels:
            out[rels[rel]] = attrs.get("name", "")
    return out


def _elements(zf, part: str, tag: str) -> list[dict]:
    """The attributes of each `tag` element of a small part of the zip."""
    from xml.parsers import expat

    found = []
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = lambda name, attrs: found.append(attrs) if name.rpartition(" ")[2] == tag else None
    with zf.open(part) as fh:
        parser.ParseFile(fh)
    return found


_C_TAG = re.compile(rb"<c[\s/>]")
_C_CELL = re.compile(rb'<c(?=[\s/>])[^>]*?\sr="([A-Z]{1,3})([0-9]{1,7})"[^>]*?(/?)>(</c>)?')
_PREFIXED_C = re.compile(rb"<[A-Za-z_][\w.-]*:c[\s/>]")


def _scan_plain_sheet(fh, name: str) -> SheetExtent | None:
    """_scan_sheet's extent at regex speed, for sheet XML as Excel and its likes write it (every
    <c> unprefixed, with its r attribute, no comment, CDATA or processing instruction); None
    when the XML is otherwise (every <c> tag must be one the pattern read, or none counts)."""
    extent = SheetExtent(name)
    columns: dict[bytes, int] = {}
    tail, first = b"", True
    while True:
        chunk = fh.read(1 << 22)
        data = tail + chunk
        cut = data.rfind(b"<c") if chunk else len(data)  # every <c ...> tag whole, with a </c> right after it
        if cut <= 0 and chunk:
            cut = len(data) if len(data) > (1 << 24) else 0  # no cell at all in 16 MiB: let it through whole
        data, tail = data[:cut], data[cut:]
        if first and data.startswith(b"<?xml"):
            data = data[data.find(b"?>") + 2:]
        first = False
        if b"<!" in data or b"<?" in data or _PREFIXED_C.search(data):
            return None
        cells = _C_CELL.findall(data)
        if len(cells) != len(_C_TAG.findall(data)):
            return None
        valued = [(letters, digits) for letters, digits, closed, empty in cells if not closed and not empty]
        if valued:
            for letters, _ in valued:
                if letters not in columns:
                    columns[letters] = _cell_position(letters.decode() + "1")[0]
            rows = np.array([d for _, d in valued]).astype(np.int64)
            cols = np.fromiter((columns[letters] for letters, _ in valued), np.int64, len(valued))
            _add_cells(extent, rows, cols)
            if extent.cells > MAX_GRID:
                raise FieldError("sheet_too_large", sheet=name, cells=f"{extent.cells:,}", limit=f"{MAX_GRID:,}")
        if not chunk and not tail:
            return extent


def _add_cells(extent: SheetExtent, rows, cols) -> None:
    """SheetExtent.add for arrays of cells, in their order."""
    if not extent.cells:
        extent.top, extent.bottom, extent.left, extent.right = int(rows[0]), int(rows[0]), int(cols[0]), int(cols[0])
    extent.top, extent.bottom = min(extent.top, int(rows.min())), max(extent.bottom, int(rows.max()))
    extent.left, extent.right = min(extent.left, int(cols.min())), max(extent.right, int(cols.max()))
    extent.cells += len(rows)
    for values, others, first_of in ((rows, cols, extent.rows), (cols, rows, extent.columns)):
        unique, at = np.unique(values, return_index=True)
        for value, other in zip(unique.tolist(), others[at].tolist()):
            first_of.setdefault(value, other)


def _scan_sheet(fh, name: str) -> SheetExtent:
    """Locates the sheet's cells as calamine will: a <c> holding a value, inline text or a formula,
    at its reference, or (a reference may be left out) next to the cell before it."""
    from xml.parsers import expat

    extent = SheetExtent(name)
    state = {"row": 0, "col": 0, "counted": True}

    def start(tag, attrs):
        tag = tag.rpartition(" ")[2]
        if tag == "c":
            ref = attrs.get("r")
            if ref:
                state["col"], state["row"] = _cell_position(ref)
            else:
                state["col"] += 1
            state["counted"] = False
        elif tag == "row":
            state["row"] = int(attrs["r"]) if attrs.get("r", "").isdigit() else state["row"] + 1
            state["col"] = 0
        elif tag in ("v", "is", "f") and not state["counted"]:
            state["counted"] = True
            extent.add(state["row"], state["col"])
            if extent.cells > MAX_GRID:
                raise FieldError("sheet_too_large", sheet=name, cells=f"{extent.cells:,}", limit=f"{MAX_GRID:,}")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    try:
        parser.ParseFile(fh)
    except expat.ExpatError as err:
        raise FieldError("not_text", detail=f"{name}: {err}") from None
    return extent


def _cell_position(ref: str) -> tuple[int, int]:
    """(column, row) of a reference such as "XFD1048576"; ValueError when it is none."""
    letters = ref.rstrip("0123456789")
    digits = ref[len(letters):]
    if not letters.isalpha() or not letters.isascii() or len(letters) > 3 or not digits.isdigit():
        raise ValueError(f"bad cell reference {ref[:20]!r}")
    column = 0
    for ch in letters.upper():
        column = column * 26 + ord(ch) - 64
    return column, int(digits)


def cell_name(column: int, row: int) -> str:
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row}"


def _check_grid(extent: SheetExtent) -> None:
    """A grid larger than _SPARSE_GRID must be mostly cells; else the cells far from the others
    are named (the first of them), with the range of the table they are far from."""
    grid = extent.grid
    if grid <= _SPARSE_GRID or (grid <= MAX_GRID and grid <= _SPARSE_RATIO * extent.cells):
        return
    rows, columns = _cluster(sorted(extent.rows)), _cluster(sorted(extent.columns))
    table = f"{cell_name(columns[0], rows[0])}:{cell_name(columns[-1], rows[-1])}"
    if rows[-1] < extent.bottom:  # a row far below the table
        row = next(r for r in sorted(extent.rows) if r > rows[-1])
        stray = cell_name(extent.rows[row], row)
    elif columns[-1] < extent.right:  # a column far right of it
        column = next(c for c in sorted(extent.columns) if c > columns[-1])
        stray = cell_name(column, extent.columns[column])
    else:
        raise FieldError("sheet_too_large", sheet=extent.name, cells=f"{grid:,}", limit=f"{MAX_GRID:,}")
    raise FieldError("stray_cell", sheet=extent.name, cell=stray, range=table)


def _cluster(positions: list[int]) -> tuple[int, int]:
    """The first run of positions with no gap wider than the run itself (and 10): the table's rows
    or columns, before a stray far one."""
    first = last = positions[0]
    for p in positions[1:]:
        if p - last - 1 > max(10, last - first + 1):
            break
        last = p
    return first, last


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


XLS_MEMORY = 2 << 30  # address space of the process that reads an old .xls sheet

# Run by a child process: reads one sheet with calamine under a memory limit and writes its rows,
# pickled a batch at a time, to stdout. Past the limit calamine aborts the child, not us.
_XLS_CHILD = """
import pickle, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]), int(sys.argv[3])))
from python_calamine import CalamineWorkbook
sheet = CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_name(sys.argv[2])
first = sheet.start[0] + 1 if sheet.start else 1
batch = []
for n, cells in enumerate(sheet.iter_rows(), first):
    batch.append((n, list(cells)))
    if len(batch) >= 1000:
        pickle.dump(batch, sys.stdout.buffer); batch = []
pickle.dump(batch, sys.stdout.buffer)
"""


def _bounded_rows(path: Path, name: str) -> Iterator[tuple[int, list]]:
    """An old .xls sheet's rows, read in a child process whose memory is bounded: an .xls
    cannot be measured beforehand as an xlsx is."""
    import pickle
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", _XLS_CHILD, str(path), name, str(XLS_MEMORY)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while True:
            try:
                batch = pickle.load(child.stdout)
            except (EOFError, pickle.UnpicklingError):  # the end, or a child stopped mid-batch
                break
            yield from batch
        child.wait()
    finally:
        if child.poll() is None:  # rows no longer wanted (no header on this sheet)
            child.kill()
            child.wait()
        error = child.stderr.read().decode(errors="replace").strip()
        child.stdout.close()
        child.stderr.close()
    if child.returncode < 0 or "memory allocation" in error or "MemoryError" in error:
        raise FieldError("xls_too_large", sheet=name, limit=_mib(XLS_MEMORY))
    if child.returncode:
        raise FieldError("not_text", detail=error.splitlines()[-1][:200] if error else "")
