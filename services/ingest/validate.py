"""Validation of a row stream against a dataset definition: header, cells, cross-field rules.

Pure: rows in, typed rows and errors out. Rules that need the whole file (a person's exit
not before their entry) are checked by the loader in SQL, inside the load transaction.
"""
from __future__ import annotations

import datetime as dt
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from typing import Iterable, Iterator

import numpy as np

from services.catalog import Catalog, Dataset, fold
from services.ingest.fields import (NULL, FieldError, IsoDates, cell_text, column_parser, copy_text, field_parser,
                                     printable, strip_invisible)
from services.ingest.reader import Batch, Block

HEADER_SEARCH_ROWS = 20  # title rows a spreadsheet may carry above its header


@dataclass
class Problem:
    """One rejected value or row; rendered into a message in the reader's language later."""

    row: int | None
    field: str | None
    value: str | None
    code: str
    params: dict = field(default_factory=dict)


class Problems:
    """The problems of one file: the first `keep` in full, every later one only counted by
    (code, field). An all-invalid file of millions of rows thus costs the memory of `keep`
    problems and a few counters, while the total stays exact."""

    def __init__(self, keep: int):
        self.keep = keep
        self.kept: list[Problem] = []
        self.more: Counter[tuple[str, str | None]] = Counter()  # (code, field) -> problems not kept

    def append(self, problem: Problem) -> None:
        if len(self.kept) < self.keep:
            self.kept.append(problem)
        else:
            self.more[problem.code, problem.field] += 1

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.append(problem)

    def __len__(self) -> int:  # every problem found, kept or counted
        return len(self.kept) + self.more.total()

    def __bool__(self) -> bool:
        return bool(self.kept or self.more)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.kept)


class LeftOut:
    """The rows left out of the exit-before-entry check (rows with errors), as much as it needs to
    tell whether correcting them may change its findings. An exit left out may add findings if
    its person has another row in the file; an entry left out can only remove one (it may fall
    between two exits), so it matters only where a finding was made. Bounded: past `keep`
    persons, or for a row whose person is not known, it can only say that it may."""

    def __init__(self, keep: int = 10_000):
        self.keep = keep
        self.exits: set[str] = set()    # persons of the exits left out
        self.entries: set[str] = set()  # persons of the entries left out
        self.unknown_exit = False       # an exit (or a row of unknown direction) of an unknown person
        self.unknown_entry = False      # an entry of an unknown person
        self.twice = False              # two exits left out of one person

    def add(self, rows: Iterable[tuple[int, str | None, str | None]], unknown: set[int]) -> None:
        """`rows`: (row number, person, direction); `unknown`: the rows whose person is not known."""
        for row, person, direction in rows:
            exit_ = direction != "ENTRY"  # an unreadable direction may be an exit
            if row in unknown or len(self.exits) + len(self.entries) >= self.keep:
                self.unknown_exit |= exit_
                self.unknown_entry |= not exit_
            elif person is not None:
                if exit_:
                    self.twice = self.twice or person in self.exits
                    self.exits.add(person)
                else:
                    self.entries.add(person)


class FileRejected(Exception):
    """The file as a whole cannot be read as this dataset (no header, not a table...)."""

    def __init__(self, problems: list[Problem]):
        super().__init__(", ".join(p.code for p in problems))
        self.problems = problems


@dataclass
class Header:
    row: int
    columns: list[str | None]  # field name per column position (None: an empty trailing column)


def _is_blank(cells) -> bool:
    return all(c is None or (isinstance(c, str) and not strip_invisible(c).strip()) or c == "" for c in cells)


# Typographic apostrophes a word processor puts in French headings ("Date d’entrée").
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'"})


def header_key(label) -> str:
    """The form in which a heading is compared with the catalog's: folded, its apostrophes
    straight, without the invisible marks an export may leave around it."""
    if label is None:
        return ""
    return fold(strip_invisible(cell_text(label)).translate(_APOSTROPHES))


def find_header(dataset: Dataset, rows) -> Header:
    """The header row, consuming rows up to it; raises FileRejected with every header problem.
    A workbook's sheets are tried in turn (rows.next_sheet) until one has the header."""
    tried = []
    while True:
        try:
            return _find_header(dataset, rows)
        except FileRejected as err:
            if err.problems[0].code not in ("empty_file", "no_header_match"):
                raise  # the header is here, with problems of its own
            tried.append((getattr(rows, "sheet", None), err))
            if not getattr(rows, "next_sheet", lambda: False)():
                break
    sheets = getattr(rows, "sheets", None)
    if sheets is None or (len(tried) == 1 and "," not in sheets):
        raise tried[0][1]  # a CSV file, or a workbook of one sheet: its own problem says it all
    if all(err.problems[0].code == "empty_file" for _, err in tried):
        raise FileRejected([Problem(None, None, None, "empty_workbook", {"sheets": sheets})])
    raise FileRejected([Problem(None, None, None, "no_sheet_with_header", {"dataset": dataset.code, "sheets": sheets})])


def _find_header(dataset: Dataset, rows: Iterator[tuple[int, list]]) -> Header:
    lookup = {header_key(spelling): name for spelling, name in dataset.header_lookup().items()}
    seen: list[tuple[int, list]] = []
    best = None
    for row_number, cells in rows:
        seen.append((row_number, cells))
        labels = [header_key(c) for c in cells]
        known = sum(1 for label in labels if label in lookup)
        filled = sum(1 for label in labels if label)
        if known and known * 2 >= filled:
            best = (row_number, labels)
            break
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    if best is None:
        if not seen or all(_is_blank(cells) for _, cells in seen):
            raise FileRejected([Problem(None, None, None, "empty_file")])
        row, first = next((n, cells) for n, cells in seen if not _is_blank(cells))
        raise FileRejected([Problem(row, None, printable(", ".join(cell_text(c) for c in first))[:200],
                                    "no_header_match", {"dataset": dataset.code})])
    row_number, labels = best
    problems, columns = [], []
    for label in labels:
        name = lookup.get(label) if label else None
        if label and name is None:
            shown = printable(label)
            problems.append(Problem(row_number, None, shown, "unknown_header", {"header": shown}))
        elif name is not None and name in columns:
            problems.append(Problem(row_number, name, label, "duplicate_column", {"field": name}))
        columns.append(name)
    while columns and columns[-1] is None:  # trailing separators some exports add
        columns.pop()
    for f in dataset.fields:
        if f.required and f.name not in columns:
            problems.append(Problem(row_number, f.name, None, "missing_column", {"field": f.name}))
    if problems:
        raise FileRejected(problems)
    return Header(row_number, columns)


class RowValidator:
    """Turns raw rows into typed rows `(row_number, *values in field order, *provenance)`, a batch at a time."""

    def __init__(self, dataset: Dataset, catalog: Catalog, header: Header, today: dt.date | None = None,
                 provenance: tuple = (), progress=None, as_text: bool = False, exit_fields: tuple = ()):
        self.dataset = dataset
        self.progress = progress      # called with the number of rows read so far
        self.as_text = as_text        # batches as one block of COPY text instead of typed rows
        # Once a problem is found the file is rejected, so no more rows are built, unless a check
        # runs in SQL over the rows (exit before entry, on `exit_fields`: person and direction): it
        # still gets the valid ones, and what could matter of those it does not get is kept.
        self.exit_fields = exit_fields
        self.rows_despite_problems = bool(exit_fields)
        self.left_out = LeftOut()
        self.names = dataset.field_names
        index = {name: i for i, name in enumerate(self.names)}
        parsers = {f.name: column_parser(f, catalog, today) for f in dataset.fields}
        mapped = {name for name in header.columns if name}
        self.width = len(header.columns)
        self.rows_seen = 0  # data rows, blank lines not counted
        rules = [rule for rule in dataset.rules if rule.kind in ROW_RULES and all(p in mapped for p in rule.fields)]
        self.rules = [_compile_rule(rule.kind, rule.params, index) for rule in rules]
        # COPY needs only texts; typed values are built for the fields a rule compares (and for inserts)
        typed = {f for rule in rules for f in rule.fields}
        # (column position in the file, field position, column parser, field name, typed values wanted)
        self.plan = [(col, index[name], parsers[name], name, not as_text or name in typed)
                     for col, name in enumerate(header.columns) if name]
        self.in_field_order = header.columns == self.names  # column c of the file is field c
        # (column, parser of one value) of the exit check's person and direction, for the rows left out
        self.exit_cells = [(header.columns.index(name), field_parser(dataset.field(name), catalog, today))
                           for name in exit_fields]
        # the provenance (submission, institution) closes every COPY line the same way
        self.text_tail = "".join("\t" + copy_text(v) for v in provenance)
        self.provenance = provenance

    def validate(self, batches: Iterable[Batch], problems: Problems) -> Iterator[list]:
        """Batches of valid rows (typed tuples, or one COPY text block when `as_text`); every problem
        found is appended to `problems`."""
        read = 0
        for batch in batches:
            if isinstance(batch, Block):
                numbers, raw_columns, source = batch.numbers, batch.columns, batch if batch.text else None
                read += len(numbers)
            else:
                numbers, raw_columns = self._columns_of(batch, problems)
                source = None
                read += len(batch)  # rows of another width were read too
            valid = self._batch(numbers, raw_columns, problems, source) if numbers else []
            del batch, numbers, raw_columns, source  # freed before the next block is cut (see CsvRows.batches)
            yield valid
            if self.progress:
                self.progress(read)

    def _columns_of(self, batch: list[tuple[int, list]], problems: Problems) -> tuple[list, list]:
        """Row numbers and columns of the rows as wide as the header; the others are reported."""
        width = self.width
        numbers, grid = [], []
        for row_number, cells in batch:
            if len(cells) != width:
                if len(cells) > width and _is_blank(cells[width:]):
                    cells = cells[:width]
                elif _is_blank(cells):
                    continue
                else:
                    code = "too_many_columns" if len(cells) > width else "too_few_columns"
                    problems.append(Problem(row_number, None, None, code, {"expected": width, "found": len(cells)}))
                    self.left_out.unknown_exit = True  # whose row it is, and what, cannot be told
                    self.rows_seen += 1
                    continue
            numbers.append(row_number)
            grid.append(cells)
        return numbers, list(zip(*grid))

    def _batch(self, numbers, raw_columns: list, problems: Problems, source: Block | None = None) -> list:
        """The batch's valid rows; `source`, when given, is the block of text the rows were cut from."""
        rows = len(numbers)
        numbers, raw_columns = _without_blank_rows(numbers, raw_columns)
        if not numbers:
            return []
        if len(numbers) != rows:
            source = None  # blank lines dropped: the block's lines are no longer the rows
        self.rows_seen += len(numbers)
        columns: list = [repeat(None)] * len(self.names)
        texts: list = [repeat(NULL)] * len(self.names)
        found: list[Problem] = []
        for col, pos, parse, name, typed in self.plan:
            raw = raw_columns[col]
            values, bad, text = parse(raw, typed, self.as_text)
            columns[pos], texts[pos] = values, text
            for i, err in bad:
                found.append(Problem(numbers[i], name, _shown(raw[i]), err.code, err.params))
        for rule in self.rules:
            found.extend(rule(numbers, columns))
        wrong = set()
        if found:
            found.sort(key=lambda p: p.row)
            problems.extend(found)
            wrong = {p.row for p in found}
            if self.exit_cells:
                self._leave_out(numbers, raw_columns, wrong)
        if problems and not self.rows_despite_problems:
            return []  # the file will be rejected: no need to build rows
        if self.as_text:
            return [self._copy_text(numbers, raw_columns, texts, source, wrong)]
        rows = zip(numbers, *columns, *(repeat(v) for v in self.provenance))
        return [row for row in rows if row[0] not in wrong] if wrong else list(rows)

    def _leave_out(self, numbers, raw_columns: list, wrong: set) -> None:
        """Tell `left_out` the person and direction of the rows with errors (read again, cell by
        cell: they are few, and valid files do not pay for it)."""
        (person_col, person_of), (direction_col, direction_of) = self.exit_cells
        rows, unknown = [], set()
        for i, n in enumerate(numbers):
            if n not in wrong:
                continue
            try:
                person = person_of(raw_columns[person_col][i])
            except FieldError:
                person = None
                unknown.add(n)
            try:
                direction = direction_of(raw_columns[direction_col][i])
            except FieldError:
                direction = None
            rows.append((n, person, direction))
        self.left_out.add(rows, unknown)

    def _copy_text(self, numbers, raw_columns: list, texts: list, source: Block | None, wrong=()) -> str:
        """One block of COPY lines: the row number, the fields' texts, the provenance; not the `wrong` rows."""
        if source is not None and self.in_field_order and all(map(operator.is_, texts, raw_columns)):
            # Every cell goes to the database as it was read (column parsers return the very column
            # then): the block's own lines, tab-separated, are the fields' texts, and cost no joins.
            lines = source.lines("\t")
        elif wrong:  # the wrong rows have no text for their wrong cells
            lines = ("" if n in wrong else "\t".join(cells) for n, cells in zip(numbers, zip(*texts)))
        else:
            lines = map("\t".join, zip(*texts))
        tail = self.text_tail
        if wrong:
            return "".join([f"{n}\t{line}{tail}\n" for n, line in zip(numbers, lines) if n not in wrong])
        return "".join([f"{n}\t{line}{tail}\n" for n, line in zip(numbers, lines)])


def _without_blank_rows(numbers, columns: list) -> tuple:
    """A row that is empty in every column (or holds only spaces: a row cleared with the space
    bar) is a spreadsheet's blank line, not a row."""
    if not columns or not _some_blank(columns[0]):
        return numbers, columns
    keep = [i for i, cells in enumerate(zip(*columns)) if not _is_blank(cells)]
    if len(keep) == len(numbers):
        return numbers, columns
    return [numbers[i] for i in keep], [[column[i] for i in keep] for column in columns]


_INVISIBLE_OR_SPACE = "\\s\u200b-\u200f\u061c\u2066-\u2069\u202a-\u202e\ufeff"
_BLANK_FIRST = re.compile(f"[\\x1f{_INVISIBLE_OR_SPACE}]")      # a first cell empty, or starting with a space
_BLANK_NEXT = re.compile(f"\\x1f[\\x1f{_INVISIBLE_OR_SPACE}]")  # a literal first: sre scans for it fast


def _some_blank(column) -> bool:
    """Whether some cell of the column may be blank: empty, or starting with white space or an invisible mark."""
    try:
        joined = "\x1f".join(column)
    except TypeError:  # spreadsheet cells: None, numbers, dates
        return any(c is None or (type(c) is str and (not c or _BLANK_FIRST.match(c))) for c in column)
    return not joined or joined[-1] == "\x1f" or _BLANK_FIRST.match(joined) is not None or \
        _BLANK_NEXT.search(joined) is not None


def _shown(value) -> str | None:
    if value is None:
        return None
    text = printable(cell_text(value))  # a control character is shown, not stored
    return text if len(text) <= 200 else text[:200] + "…"


def _age_at(birth: dt.date, when: dt.date) -> int:
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


_NONE = np.iinfo(np.int64).min  # an empty or invalid value in an integer array
_CACHE_LIMIT = 100_000


def _as_integers(values: list, cache: dict, convert) -> np.ndarray:
    """`values` as an int64 array, each distinct value converted once (None -> _NONE)."""
    try:
        return np.fromiter(map(cache.__getitem__, values), np.int64, len(values))
    except KeyError:
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        cache[None] = _NONE
        cache.update((v, convert(v)) for v in set(values).difference(cache))
        return np.fromiter(map(cache.__getitem__, values), np.int64, len(values))


def _small(value: int) -> int:
    if abs(value) > 1 << 40:  # far from int64's limits, so that no difference overflows
        raise OverflowError(value)
    return value


def _age_suspects(ages: list, births: list, refs: list, tolerance: int, caches: tuple[dict, dict]):
    """Positions where the age may not match the birth date, found column-wise; each is checked
    again row by row, so this only has to miss none."""
    try:
        a = _as_integers(ages, caches[0], _small)
    except OverflowError:  # an integer field with no bound: every row is a suspect
        return range(len(ages))
    b, w = (_day_numbers(days, caches[1]) for days in (births, refs))
    known = (a != _NONE) & (b != _NONE) & (w != _NONE)
    expected = w // 10_000 - b // 10_000 - (w % 10_000 < b % 10_000)  # _age_at on yyyymmdd integers
    return np.flatnonzero(known & (np.abs(expected - a) > tolerance)).tolist()


def _day_numbers(days, cache: dict) -> np.ndarray:
    """yyyymmdd of each date as an int64 array, _NONE where there is none."""
    if isinstance(days, IsoDates):  # already counted, from the cells
        return np.where(days.keys == 0, _NONE, days.keys)
    return _as_integers(days, cache, lambda d: d.year * 10_000 + d.month * 100 + d.day)


def _compile_rule(kind: str, params: dict, index: dict[str, int]):
    """A function (row numbers, columns of values) -> problems; None values (empty or invalid) are skipped."""
    if kind == "date_order":
        before, after = index[params["before"]], index[params["after"]]

        def date_order(numbers, columns):
            return [Problem(n, params["after"], a.isoformat(), "date_order",
                            {"before": params["before"], "after": params["after"]})
                    for n, b, a in zip(numbers, columns[before], columns[after])
                    if b is not None and a is not None and a < b]

        return date_order
    if kind == "age_matches_birth_date":
        age, birth = index[params["age"]], index[params["birth_date"]]
        reference = index.get(params.get("reference"))  # absent from the catalog: age today
        tolerance = int(params.get("tolerance", 1))
        today = dt.date.today()

        caches: tuple[dict, dict] = ({}, {})  # ages and dates seen -> their integers

        def age_matches(numbers, columns):
            ages, births = columns[age], columns[birth]
            refs = columns[reference] if reference is not None else [today] * len(ages)
            out = []
            for i in _age_suspects(ages, births, refs, tolerance, caches):
                a, b, when = ages[i], births[i], refs[i]
                if a is None or b is None or when is None:  # nothing to compare, or already reported
                    continue
                expected = _age_at(b, when)
                if abs(expected - a) > tolerance:
                    out.append(Problem(numbers[i], params["age"], str(a), "age_mismatch",
                                       {"age": a, "birth_date": b.isoformat(), "expected": expected}))
            return out

        return age_matches
    if kind == "not_greater":
        part, whole = index[params["part"]], index[params["whole"]]

        def not_greater(numbers, columns):
            return [Problem(n, params["part"], str(p), "not_greater", {"part": params["part"], "whole": params["whole"]})
                    for n, p, w in zip(numbers, columns[part], columns[whole])
                    if p is not None and w is not None and p > w]

        return not_greater
    raise ValueError(kind)


ROW_RULES = ("date_order", "age_matches_birth_date", "not_greater")
