"""Field parsers compiled from the catalog: a submitted cell in, a typed value out, or a FieldError.

Pure functions, no I/O. They are on the hot path of every load: each field gets one
closure built once per file, applied to whole columns of a batch of rows (see below).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import numpy as np

from services.catalog import Catalog, Field, fold

# Arabic-Indic (U+0660..) and Extended Arabic-Indic (Persian, U+06F0..) digits, Arabic
# decimal and thousands separators: partners type them; the database wants ASCII.
DIGITS = str.maketrans(
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬",
    "01234567890123456789.,",
)
DATE_EXPECTED = "dd/mm/yyyy | yyyy-mm-dd"
_MEMO_LIMIT = 50_000
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_TRUE = {"1", "true", "yes", "y", "oui", "o", "vrai", "نعم"}
_FALSE = {"0", "false", "no", "n", "non", "faux", "لا"}


class FieldError(Exception):
    """A value that breaks its field's definition: `code` names a message in catalog/messages.yaml."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


# Control characters (C0 but tab and line ends, DEL, C1): no partner means one, so a cell
# holding one is refused, never stored.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Invisible formatting an export leaves around values: direction marks and embeddings, the
# Arabic letter mark, byte-order marks, zero-width spaces, word joiners, soft hyphens.
_FORMATTING = "\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff"
_INVISIBLE = re.compile(f"[{_FORMATTING}\u200c\u200d]")
# Zero-width (non-)joiners shape the letters they stand between (Persian, Arabic names): there
# they are kept in a text; anywhere else, and in codes, numbers and dates, they mean nothing.
_LOOSE_JOINER = re.compile(f"[{_FORMATTING}]|(?<![^\\W\\d_])[\u200c\u200d]|[\u200c\u200d](?![^\\W\\d_])")
# Anything that makes a string column's cells need more than the fast path (see _string_column).
_SUSPECT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1e\x7f-\x9f{_FORMATTING}\u200c\u200d]")


_ASCII_PLAIN = bytes(range(0x20, 0x7f)) + b"\t\n\r"


def _suspect(joined: str, cells: int) -> bool:
    """Whether the `cells` joined by \\x1f hold a control character or an invisible mark (or a \\x1f of their own)."""
    if joined.count("\x1f") != cells - 1:
        return True
    if joined.isascii():  # deleting the plain bytes leaves the separators only: C speed, no regex
        return len(joined.encode("ascii").translate(None, _ASCII_PLAIN)) != cells - 1
    return _SUSPECT.search(joined) is not None


def cell_text(value) -> str:
    """A cell as the text a person sees in it: a spreadsheet's number 5120 is "5120", not "5120.0";
    0.1 is "0.1" (the shortest form that reads back as the same number); a date is yyyy-mm-dd."""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(" ", "seconds" if not value.microsecond else "auto")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def strip_invisible(text: str, keep_joiners: bool = False) -> str:
    """`text` without invisible formatting marks (see _INVISIBLE); joiners between letters kept if asked."""
    if text.isascii():
        return text
    return (_LOOSE_JOINER if keep_joiners else _INVISIBLE).sub("", text)


def printable(text: str) -> str:
    """`text` with each control character shown as its code point (for reports)."""
    return CONTROL.sub(lambda m: f"<U+{ord(m[0]):04X}>", text)


def check_controls(text: str) -> str:
    m = CONTROL.search(text)
    if m:
        raise FieldError("control_character", char=f"U+{ord(m[0]):04X}", position=m.start() + 1)
    return text


def normalise_text(value, keep_joiners: bool = False) -> str:
    """Stray whitespace trimmed and collapsed; digits in ASCII; invisible marks dropped;
    FieldError for a control character."""
    text = cell_text(value)
    if not text.isascii():  # isascii is a flag check: the common case costs nothing
        text = strip_invisible(text, keep_joiners).translate(DIGITS)
    if not text.isprintable():
        check_controls(text)
    return " ".join(text.split())


def parse_date(text: str) -> dt.date:
    if len(text) >= 10 and text[4] == "-" and (len(text) == 10 or text[10] in " T"):
        try:  # ISO, possibly with a time part as spreadsheets export it
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            raise FieldError("bad_date", expected=DATE_EXPECTED) from None
    m = _DMY.match(text)
    if m:
        day, month, year = (int(g) for g in m.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            pass
    if len(text) == 10 and text[4] == "/":  # yyyy/mm/dd, as some Arabic-locale exports write it
        try:
            return dt.date(int(text[:4]), int(text[5:7]), int(text[8:10]))
        except ValueError:
            pass
    raise FieldError("bad_date", expected=DATE_EXPECTED)


def _check_bounds(value, field: Field, lo, hi):
    if lo is not None and value < lo:
        raise FieldError("below_min", min=str(lo))
    if hi is not None and value > hi:
        raise FieldError("above_max", max=str(hi))
    return value


def field_parser(field: Field, catalog: Catalog, today: dt.date | None = None):
    """A function raw cell -> value (None when empty and optional), raising FieldError."""
    lo, hi = field.bounds(today)
    kind = field.type

    if kind == "string":
        pattern = re.compile(field.pattern) if field.pattern else None
        max_length = field.max_length

        def parse(raw):
            text = normalise_text(raw, keep_joiners=True)
            if not text:
                if field.required:
                    raise FieldError("required")
                return None
            if max_length and len(text) > max_length:
                raise FieldError("too_long", max_length=max_length)
            if pattern and not pattern.match(text):
                raise FieldError("bad_pattern", expected=field.pattern)
            return text

    elif kind == "integer":
        def parse(raw):
            if isinstance(raw, float) and raw.is_integer():  # XLSX numbers arrive as floats
                raw = int(raw)
            try:
                if isinstance(raw, int):
                    value = int(raw)
                else:
                    text = normalise_text(raw).replace(" ", "")
                    if "_" in text:  # int() reads "1_0" as 10
                        raise ValueError(text)
                    value = int(text)
            except ValueError:
                raise FieldError("bad_integer") from None
            return _check_bounds(value, field, lo, hi)

    elif kind == "decimal":
        def parse(raw):
            text = normalise_text(raw).replace(" ", "")
            if "," in text and "." not in text:  # French decimal comma
                text = text.replace(",", ".")
            try:
                if "_" in text:  # Decimal() reads "1_0" as 10
                    raise InvalidOperation(text)
                value = Decimal(text)
            except InvalidOperation:
                raise FieldError("bad_decimal") from None
            if not value.is_finite():
                raise FieldError("bad_decimal")
            return _check_bounds(value, field, lo, hi)

    elif kind == "date":
        def parse(raw):
            if isinstance(raw, dt.datetime):
                value = raw.date()
            elif isinstance(raw, dt.date):
                value = raw
            else:
                value = parse_date(normalise_text(raw))
            return _check_bounds(value, field, lo, hi)

    elif kind == "code":
        codelist = catalog.codelists[field.codelist]

        def parse(raw):
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            code = codelist.resolve(normalise_text(raw))
            if code is None:
                raise FieldError("unknown_code", codelist=field.codelist)
            return code

    elif kind == "boolean":
        def parse(raw):
            if isinstance(raw, bool):
                return raw
            text = fold(normalise_text(raw))
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise FieldError("bad_boolean")

    else:  # the catalog loader rejects unknown types; this guards a future one
        raise ValueError(f"no parser for field type {kind}")

    if kind == "string":  # checks emptiness itself, saving a call per cell
        return parse
    return _with_required(parse, field.required)


def _with_required(parse, required: bool):
    def parse_cell(raw):
        if raw is None or raw == "" or (type(raw) is str and not strip_invisible(raw).strip() and not CONTROL.search(raw)):
            if required:
                raise FieldError("required")
            return None
        return parse(raw)

    return parse_cell


# --- whole columns -------------------------------------------------------------------------
# Validation runs a batch of rows at a time, column by column: most work then happens in
# C (dict look-ups through map, str methods over a joined column) and Python code runs
# only for values never seen before or that need fixing. The per-value parsers above stay
# the single definition of what a valid value is.
#
# Each column comes out twice: typed values (for the cross-field rules and for inserts) and,
# when asked, its text for PostgreSQL's COPY (text format, backslash escapes). NULL is written
# as an empty text (the loader's COPY says so), as an empty cell is read: no value is ever an
# empty string, and a column whose cells need no change is then its own text, empty cells too.

NULL = ""
_ARABIC_DIGITS = re.compile(r"[\u0660-\u066c\u06f0-\u06f9]")  # a bare class: far faster than alternatives


def copy_text(value) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def column_parser(field: Field, catalog: Catalog, today: dt.date | None = None):
    """A function (column of raw cells, want_values, want_text) -> (typed values or None,
    [(index, FieldError)], COPY texts or None)."""
    parse = field_parser(field, catalog, today)
    if field.type == "string":
        return _string_column(field, parse)
    if field.type == "date":
        bounds = field.bounds(today)
        return _date_column(_memo_column(parse, _iso_dates(*bounds)), *bounds, field.required)
    if field.type in ("code", "boolean", "integer"):
        return _memo_column(parse)
    return _plain_column(parse)


def _plain_column(parse):
    def run(column, want_values=True, want_text=False):
        values, bad = [], []
        for i, raw in enumerate(column):
            try:
                values.append(parse(raw))
            except FieldError as err:
                values.append(None)
                bad.append((i, err))
        return values, bad, [copy_text(v) for v in values] if want_text else None

    return run


def _iso_dates(lo, hi):
    """A function raw values -> (raws, dates) when every one of them is a yyyy-mm-dd date within
    the bounds (what `parse` would make of them, checked by _iso_keys), else None."""
    def parse_all(raws):
        raws = list(raws)
        if _iso_keys(raws, lo, hi, required=True) is None:
            return None
        return raws, list(map(dt.date.fromisoformat, raws))

    return parse_all


class IsoDates(Sequence):
    """The dates of a column of empty or plain yyyy-mm-dd cells, held as yyyymmdd integers
    (`keys`, 0 for an empty cell): a date object is made only for a cell asked for."""

    def __init__(self, cells: list, keys: np.ndarray):
        self.cells, self.keys = cells, keys

    def __len__(self) -> int:
        return len(self.cells)

    def __getitem__(self, i):
        return dt.date.fromisoformat(self.cells[i]) if self.cells[i] else None

    def __iter__(self):
        return (dt.date.fromisoformat(cell) if cell else None for cell in self.cells)


def _date_column(memo, lo, hi, required: bool):
    """Dates for COPY: a column of plain yyyy-mm-dd cells within the bounds (birth dates, all
    different) is checked at numpy speed and is its own text; any other goes to `memo`."""
    def run(column, want_values=True, want_text=False):
        if want_text:
            keys = _iso_keys(column, lo, hi, required)
            if keys is not None:
                return IsoDates(column, keys) if want_values else None, [], column
        return memo(column, want_values, want_text)

    return run


_DIGITS_AT = [0, 1, 2, 3, 5, 6, 8, 9]  # yyyy-mm-dd
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _iso_keys(cells, lo: dt.date | None, hi: dt.date | None, required: bool) -> np.ndarray | None:
    """yyyymmdd of each cell (0 for an empty one) when every cell is empty (and may be) or a valid
    yyyy-mm-dd date within the bounds, as parse_date would find; else None (then `parse` decides)."""
    try:
        "".join(cells)  # only strings join (a spreadsheet's date cells are dates)
    except TypeError:
        return None
    chars = np.array(cells, dtype="U11").view(np.uint32).reshape(len(cells), 11)  # code points, 0-padded
    empty = chars[:, 0] == 0
    if (required and empty.any()) or chars[:, 10].any():  # a cell longer than 10 characters
        return None
    dated = chars[~empty]
    digits = dated[:, _DIGITS_AT] - ord("0")  # unsigned: a character below "0" wraps to a large number
    if (digits > 9).any() or (dated[:, [4, 7]] != ord("-")).any():
        return None
    digits = digits.astype(np.int64)
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 4] * 10 + digits[:, 5]
    day = digits[:, 6] * 10 + digits[:, 7]
    if (year < 1).any() or (month < 1).any() or (month > 12).any():
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if (day < 1).any() or (day > _MONTH_DAYS[month] + (leap & (month == 2))).any():
        return None
    keys = year * 10_000 + month * 100 + day
    if (lo is not None and keys.min(initial=99_999_999) < _key(lo)) or \
            (hi is not None and keys.max(initial=0) > _key(hi)):
        return None
    out = np.zeros(len(cells), np.int64)
    out[~empty] = keys
    return out


def _key(day: dt.date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day


def _memo_column(parse, parse_all=None):
    """Codes, dates and small integers repeat: each distinct raw value is parsed once per file,
    and a batch whose values were all seen before costs one dict look-up per cell.
    `parse_all`, when given, may parse all the new values of a batch at once (see _iso_dates)."""
    value_of: dict = {}  # raw -> typed value
    text_of: dict = {}   # raw -> COPY text (never None: a raw value missing here is new or invalid)
    as_read: set = set()  # the raw values whose COPY text is the raw value itself
    errors: dict = {}

    def learn(column) -> dict:
        """Parses the values not seen yet; returns {raw: FieldError} for the invalid ones."""
        missing = set(column).difference(text_of)
        if len(text_of) + len(missing) > _MEMO_LIMIT:
            value_of.clear()  # a high-cardinality column (birth dates): start afresh, memory stays bounded
            text_of.clear()
            as_read.clear()
            missing = set(column)
        new = missing
        if parse_all is not None and len(missing) > 8:
            parsed = parse_all(missing.difference(("",)))  # an empty cell: `parse` says required or None
            if parsed is not None:
                raws, values = parsed
                value_of.update(zip(raws, values))
                text_of.update(zip(raws, map(dt.date.isoformat, values)))
                missing = missing.difference(raws)
        failed = {}
        for raw in missing:
            err = errors.get(raw)
            if err is None:
                try:
                    value = value_of[raw] = parse(raw)
                    text_of[raw] = copy_text(value)
                    continue
                except FieldError as failure:
                    err = failure
                    if len(errors) < _MEMO_LIMIT:
                        errors[raw] = failure
            failed[raw] = err
        as_read.update(raw for raw in new if text_of.get(raw) == raw)
        return failed

    def texts_of(column):
        """COPY texts of values all known valid (else KeyError): the column itself when every
        value is written as it came."""
        return column if as_read.issuperset(column) else list(map(text_of.__getitem__, column))

    def run(column, want_values=True, want_text=False):
        bad = []
        try:
            texts = texts_of(column)
        except KeyError:  # values not seen yet, or invalid
            failed = learn(column)
            if failed:
                texts = list(map(text_of.get, column))
                bad = [(i, failed[raw]) for i, raw in enumerate(column) if raw in failed]
            else:
                texts = texts_of(column)
        values = list(map(value_of.get, column)) if want_values else None
        return values, bad, texts if want_text else None

    return run


def _string_column(field: Field, parse):
    max_length, required = field.max_length, field.required
    pattern = re.compile(field.pattern) if field.pattern else None

    def run(column, want_values=True, want_text=False):
        try:
            joined = "\x1f".join(column)
        except TypeError:  # spreadsheet cells that are numbers or dates: the slow, general path
            return _plain_column(parse)(column, want_values, want_text)
        if _edge_space(joined, len(column)):
            values = list(map(str.strip, column))
            joined = "\x1f".join(values)
        else:  # nothing to strip (the common case): the column's own cells
            values = column if type(column) is list else list(column)
        if _suspect(joined, len(column)):
            # a control character (refused) or an invisible mark (dropped): each cell by itself
            return _plain_column(parse)(column, want_values, want_text)
        untidy = "  " in joined or "\t" in joined or "\n" in joined or "\r" in joined
        if not untidy and not joined.isascii():
            untidy = "\u00a0" in joined or _ARABIC_DIGITS.search(joined) is not None
        if untidy:
            values = [normalise_text(v) for v in values]
        tidy = values  # the column's COPY texts while no value is bad or holds a backslash (NULL is "")
        bad = []
        if "" in values:
            if required:
                bad = [(i, FieldError("required")) for i, v in enumerate(values) if not v]
            values = [v or None for v in values]
        present = [v for v in values if v is not None] if None in values else values
        if max_length and present and max(map(len, present)) > max_length:
            bad.extend((i, FieldError("too_long", max_length=max_length))
                       for i, v in enumerate(values) if v is not None and len(v) > max_length)
        if pattern and not all(map(pattern.match, present)):
            bad.extend((i, FieldError("bad_pattern", expected=field.pattern))
                       for i, v in enumerate(values) if v is not None and not pattern.match(v)
                       and not (max_length and len(v) > max_length))
        if bad:
            values = list(values)  # never the caller's column: its raw cells name the errors
            for i, _ in bad:
                values[i] = None
        if not want_text:
            return values, bad, None
        backslash = "\\" in joined
        return values, bad, tidy if not bad and not backslash else _string_texts(values, backslash)

    return run


_EDGE_SPACE = re.compile(r"(?:^|\x1f)\s|\s(?:\x1f|$)")
# White space beyond ASCII (str.isspace's); a bare class, as for the digits above.
WIDE_SPACE = re.compile("[\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def _edge_space(joined: str, cells: int) -> bool:
    """Whether some of the `cells` joined by \\x1f starts or ends with white space (str.strip's)."""
    if joined.count("\x1f") == cells - 1 and not any(ch in joined for ch in "\t\n\r\x0b\x0c\x1c\x1d\x1e") \
            and (joined.isascii() or WIDE_SPACE.search(joined) is None):
        # The only white space is " " (and the separators): look for one beside a separator.
        return " \x1f" in joined or "\x1f " in joined or joined[:1] == " " or joined[-1:] == " "
    return _EDGE_SPACE.search(joined) is not None  # \s is str.strip's white space


def _string_texts(values: list, backslash: bool) -> list:
    """COPY texts of tidy strings: they hold no tab or newline; only a backslash needs escaping."""
    if backslash:
        return [NULL if v is None else v.replace("\\", "\\\\") for v in values]
    if None in values:
        return [NULL if v is None else v for v in values]
    return values
