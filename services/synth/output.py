"""Writing generated rows as a partner's file: CSV in the usual encodings, or XLSX."""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import shutil
import unicodedata
import zipfile
from pathlib import Path
from typing import Callable, Iterable

FORMATS = ("csv", "xlsx")
ENCODINGS = ("utf-8", "utf-8-sig", "cp1256")
CHUNK = 10_000
_FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# Letters Windows-1256 lacks and Unicode decomposition does not reduce to ASCII.
_LETTERS = {"ß": "ss", "ı": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
            "æ": "ae", "Æ": "AE", "ð": "d", "þ": "th", "—": "-", "–": "-",
            # nor Arabic-Indic digits: Arabic Windows software writes ASCII digits
            **{chr(0x0660 + i): str(i) for i in range(10)}}


def _transliterate(err: UnicodeEncodeError):
    """Windows-1256 has Arabic and most lower-case French letters but not, for instance,
    É or ş: a partner's system writing cp1256 drops the accent, so do the same."""
    out = []
    for ch in err.object[err.start:err.end]:
        if ch in _LETTERS:
            out.append(_LETTERS[ch])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        try:
            base.encode(err.encoding)
            out.append(base)
        except UnicodeEncodeError:
            out.append("")
    return "".join(out), err.end


codecs.register_error("marsad-transliterate", _transliterate)


def write_rows(path: Path, header: list[str], rows: Iterable[list[str]], *, fmt: str = "csv",
               encoding: str = "utf-8", delimiter: str = ",", progress: Callable[[int], None] | None = None,
               numeric: list[bool] | None = None) -> int:
    """Stream rows into `path`; returns the number of data rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return _write_csv(path, header, rows, encoding, delimiter, progress)
    if fmt == "xlsx":
        return _write_xlsx(path, header, rows, progress, numeric or [False] * len(header))
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def _write_csv(path, header, rows, encoding, delimiter, progress) -> int:
    if len(delimiter) != 1:
        raise ValueError("the delimiter must be one character")
    errors = "marsad-transliterate" if encoding == "cp1256" else "strict"
    counter = _Counter(rows, progress)
    with open(path, "w", encoding=encoding, errors=errors, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(counter)  # straight from the generator: no chunk lists to build
    counter.done()
    return counter.count


class _Counter:
    """Passes rows through, counting them and reporting progress every CHUNK rows."""

    def __init__(self, rows: Iterable[list[str]], progress: Callable[[int], None] | None):
        self.rows, self.progress, self.count = rows, progress, 0

    def __iter__(self):
        progress, count = self.progress, 0
        for count, row in enumerate(self.rows, 1):
            yield row
            if progress is not None and count % CHUNK == 0:
                progress(count)
        self.count = count

    def done(self) -> None:
        if self.progress is not None:
            self.progress(self.count)


class _ReproducibleZip(zipfile.ZipFile):
    """A zip whose members carry a fixed timestamp, so the same rows give the same bytes."""

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = self._info(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None, **kwargs):
        with open(filename, "rb") as src, self.open(self._info(arcname or str(filename)), "w",
                                                    force_zip64=True) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def _write_xlsx(path, header, rows, progress, numeric) -> int:
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook(write_only=True)
    wb.properties.created = wb.properties.modified = dt.datetime(2000, 1, 1)
    wb.properties.creator = "marsad synth"
    ws = wb.create_sheet(title="data")
    ws.append(header)
    columns = [i for i, flag in enumerate(numeric) if flag]
    counter = _Counter(rows, progress)
    for row in counter:
        for i in columns:  # a spreadsheet keeps plain numbers as numbers, the rest as typed
            v = row[i]
            if v and _NUMBER.match(v):
                row[i] = float(v) if "." in v else int(v)
        ws.append(row)
    counter.done()
    with _ReproducibleZip(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()
    return counter.count
