"""Validation of a row stream against a dataset definition: header, cells, cross-field rules.

Pure: rows in, typed rows and errors out. Rules that need the whole file (a person's exit
not before their entry) are checked by the loader in SQL, inside the load transaction.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from itertools import islice, repeat
from typing import Iterable, Iterator

from services.catalog import Catalog, Dataset, fold
from services.ingest.fields import NULL, column_parser, copy_text

HEADER_SEARCH_ROWS = 20  # title rows a spreadsheet may carry above its header


@dataclass
class Problem:
    """One rejected value or row; rendered into a message in the reader's language later."""

    row: int | None
    field: str | None
    value: str | None
    code: str
    params: dict = field(default_factory=dict)


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
    return all(c is None or (isinstance(c, str) and not c.strip()) or c == "" for c in cells)


def find_header(dataset: Dataset, rows: Iterator[tuple[int, list]]) -> Header:
    """The header row, consuming rows up to it; raises FileRejected with every header problem."""
    lookup = dataset.header_lookup()
    seen: list[tuple[int, list]] = []
    best = None
    for row_number, cells in rows:
        seen.append((row_number, cells))
        labels = [fold(str(c)) if c is not None else "" for c in cells]
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
        first = next(cells for _, cells in seen if not _is_blank(cells))
        raise FileRejected([Problem(1, None, ", ".join(str(c) for c in first)[:200], "no_header_match",
                                    {"dataset": dataset.code})])
    row_number, labels = best
    problems, columns = [], []
    for label in labels:
        name = lookup.get(label) if label else None
        if label and name is None:
            problems.append(Problem(row_number, None, label, "unknown_header", {"header": label}))
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

    BATCH = 10_000  # rows held at once: bounds memory whatever the file's size

    def __init__(self, dataset: Dataset, catalog: Catalog, header: Header, today: dt.date | None = None,
                 provenance: tuple = (), progress=None, as_text: bool = False):
        self.dataset = dataset
        self.provenance = provenance  # values appended to every row (submission, institution)
        self.progress = progress      # called with the number of rows read so far
        self.as_text = as_text        # batches as one block of COPY text instead of typed rows
        self.names = dataset.field_names
        index = {name: i for i, name in enumerate(self.names)}
        parsers = {f.name: column_parser(f, catalog, today) for f in dataset.fields}
        # (column position in the file, field position, column parser, field name)
        self.plan = [(col, index[name], parsers[name], name) for col, name in enumerate(header.columns) if name]
        mapped = {name for name in header.columns if name}
        self.width = len(header.columns)
        self.rows_seen = 0  # data rows, blank lines not counted
        self.rules = [_compile_rule(rule.kind, rule.params, index) for rule in dataset.rules
                      if rule.kind in ROW_RULES and all(p in mapped for p in rule.fields)]

    def validate(self, rows: Iterable[tuple[int, list]], problems: list[Problem]) -> Iterator[list]:
        """Batches of valid rows (typed tuples, or one COPY text block when `as_text`); every problem
        found is appended to `problems`."""
        rows = iter(rows)
        read = 0
        while batch := list(islice(rows, self.BATCH)):
            yield self._batch(batch, problems)
            read += len(batch)
            if self.progress:
                self.progress(read)

    def _batch(self, batch: list[tuple[int, list]], problems: list[Problem]) -> list[tuple]:
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
                    self.rows_seen += 1
                    continue
            numbers.append(row_number)
            grid.append(cells)
        if not grid:
            return []
        raw_columns = list(zip(*grid))
        # A row that is empty in every column is a spreadsheet's blank line, not a row.
        empty = [not any(cells) or _is_blank(cells) for cells in grid] if "" in raw_columns[0] else None
        if empty and any(empty):
            keep = [i for i, e in enumerate(empty) if not e]
            numbers = [numbers[i] for i in keep]
            grid = [grid[i] for i in keep]
            raw_columns = list(zip(*grid)) if grid else []
            if not grid:
                return []
        self.rows_seen += len(grid)
        columns: list = [repeat(None)] * len(self.names)
        texts: list = [repeat(NULL)] * len(self.names)
        found: list[Problem] = []
        for col, pos, parse, name in self.plan:
            raw = raw_columns[col]
            values, bad, text = parse(raw, self.as_text)
            columns[pos], texts[pos] = values, text
            for i, err in bad:
                found.append(Problem(numbers[i], name, _shown(raw[i]), err.code, err.params))
        for rule in self.rules:
            found.extend(rule(numbers, columns))
        if found:
            found.sort(key=lambda p: p.row)
            problems.extend(found)
        if problems:
            return []  # the file will be rejected: no need to build rows
        if self.as_text:
            lines = map("\t".join, zip(map(str, numbers), *texts, *(repeat(copy_text(v)) for v in self.provenance)))
            return ["\n".join(lines) + "\n"]
        return list(zip(numbers, *columns, *(repeat(v) for v in self.provenance)))


def _shown(value) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _age_at(birth: dt.date, when: dt.date) -> int:
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


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

        def age_matches(numbers, columns):
            refs = columns[reference] if reference is not None else repeat(today)
            out = []
            for n, a, b, when in zip(numbers, columns[age], columns[birth], refs):
                if a is None or b is None or when is None:  # nothing to compare, or already reported
                    continue
                expected = _age_at(b, when)
                if abs(expected - a) > tolerance:
                    out.append(Problem(n, params["age"], str(a), "age_mismatch",
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
