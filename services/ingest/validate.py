"""Validation of a row stream against a dataset definition: header, cells, cross-field rules.

Pure: rows in, typed rows and errors out. Rules that need the whole file (a person's exit
not before their entry) are checked by the loader in SQL, inside the load transaction.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from services.catalog import Catalog, Dataset, fold
from services.ingest.fields import FieldError, field_parser

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
    """Turns raw rows into typed tuples in the dataset's field order, collecting problems."""

    def __init__(self, dataset: Dataset, catalog: Catalog, header: Header, today: dt.date | None = None):
        self.dataset = dataset
        self.names = dataset.field_names
        index = {name: i for i, name in enumerate(self.names)}
        parsers = {f.name: field_parser(f, catalog, today) for f in dataset.fields}
        # (column position, field position, parser, field name) for each mapped column
        self.plan = [(col, index[name], parsers[name], name) for col, name in enumerate(header.columns) if name]
        mapped = {name for name in header.columns if name}
        self.width = len(header.columns)
        self.rows_seen = 0  # data rows, blank lines not counted
        self.row_rules = [_compile_rule(rule.kind, rule.params, index) for rule in dataset.rules
                          if rule.kind in ROW_RULES and all(p in mapped for p in rule.fields)]

    def validate(self, rows: Iterable[tuple[int, list]], problems: list[Problem]) -> Iterator[tuple[int, list]]:
        nfields = len(self.names)
        plan, width, row_rules = self.plan, self.width, self.row_rules
        for row_number, cells in rows:
            self.rows_seen += 1
            if len(cells) != width:
                if len(cells) > width and _is_blank(cells[width:]):
                    cells = cells[:width]
                elif _is_blank(cells):
                    self.rows_seen -= 1
                    continue
                elif len(cells) > width:
                    problems.append(Problem(row_number, None, None, "too_many_columns",
                                            {"expected": width, "found": len(cells)}))
                    continue
                else:
                    problems.append(Problem(row_number, None, None, "too_few_columns",
                                            {"expected": width, "found": len(cells)}))
                    continue
            values = [None] * nfields
            before = len(problems)
            ok = True
            for col, pos, parse, name in plan:
                try:
                    values[pos] = parse(cells[col])
                except FieldError as err:
                    ok = False
                    problems.append(Problem(row_number, name, _shown(cells[col]), err.code, err.params))
            if ok:
                for rule in row_rules:
                    problem = rule(row_number, values)
                    if problem is not None:
                        ok = False
                        problems.append(problem)
            elif _is_blank(cells):  # an all-empty row of the full width: a spreadsheet's blank line
                self.rows_seen -= 1
                del problems[before:]
                continue
            if ok:
                yield row_number, values


def _shown(value) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _age_at(birth: dt.date, when: dt.date) -> int:
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def _compile_rule(kind: str, params: dict, index: dict[str, int]):
    if kind == "date_order":
        before, after = index[params["before"]], index[params["after"]]

        def date_order(row_number, values):
            b, a = values[before], values[after]
            if b is not None and a is not None and a < b:
                return Problem(row_number, params["after"], a.isoformat(), "date_order",
                               {"before": params["before"], "after": params["after"]})

        return date_order
    if kind == "age_matches_birth_date":
        age, birth = index[params["age"]], index[params["birth_date"]]
        reference = index.get(params.get("reference"))
        tolerance = int(params.get("tolerance", 1))

        def age_matches(row_number, values):
            a, b = values[age], values[birth]
            if a is None or b is None:
                return None
            when = values[reference] if reference is not None and values[reference] else dt.date.today()
            expected = _age_at(b, when)
            if abs(expected - a) > tolerance:
                return Problem(row_number, params["age"], str(a), "age_mismatch",
                               {"age": a, "birth_date": b.isoformat(), "expected": expected})

        return age_matches
    if kind == "not_greater":
        part, whole = index[params["part"]], index[params["whole"]]

        def not_greater(row_number, values):
            p, w = values[part], values[whole]
            if p is not None and w is not None and p > w:
                return Problem(row_number, params["part"], str(p), "not_greater",
                               {"part": params["part"], "whole": params["whole"]})

        return not_greater
    raise ValueError(kind)


ROW_RULES = ("date_order", "age_matches_birth_date", "not_greater")
