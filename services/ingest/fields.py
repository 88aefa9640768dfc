"""Field parsers compiled from the catalog: a submitted cell in, a typed value out, or a FieldError.

Pure functions, no I/O. They are on the hot path of every load, so each field gets one
closure built once per file, and low-cardinality fields (codes, dates, small integers)
remember what they have already parsed.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

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


def normalise_text(value) -> str:
    """Stray whitespace trimmed and collapsed; digits in ASCII."""
    text = value if type(value) is str else str(value)
    if not text.isascii():  # isascii is a flag check: the common case costs nothing
        text = text.translate(DIGITS)
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
            text = normalise_text(raw)
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
                value = int(raw) if isinstance(raw, int) else int(normalise_text(raw).replace(" ", ""))
            except ValueError:
                raise FieldError("bad_integer") from None
            return _check_bounds(value, field, lo, hi)

    elif kind == "decimal":
        def parse(raw):
            text = normalise_text(raw).replace(" ", "")
            if "," in text and "." not in text:  # French decimal comma
                text = text.replace(",", ".")
            try:
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
    parse = _with_required(parse, field.required)
    return _memoised(parse) if kind in ("code", "date", "boolean", "integer") else parse


def _with_required(parse, required: bool):
    def parse_cell(raw):
        if raw is None or raw == "" or (type(raw) is str and raw.isspace()):
            if required:
                raise FieldError("required")
            return None
        return parse(raw)

    return parse_cell


def _memoised(parse):
    """Remember results and errors per raw value, up to a bound; most code and date cells repeat."""
    memo: dict = {}

    def parse_cached(raw):
        try:
            hit = memo[raw]
        except KeyError:
            try:
                hit = parse(raw)
            except FieldError as err:
                hit = err
            except TypeError:  # unhashable never happens for cells; be safe anyway
                return parse(raw)
            if len(memo) < _MEMO_LIMIT:
                memo[raw] = hit
        if isinstance(hit, FieldError):
            raise hit.with_traceback(None)  # a shared instance must not collect tracebacks
        return hit

    return parse_cached
