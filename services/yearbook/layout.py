"""How an IndicatorTable of any shape is laid out on the page: cross-tables and one chart.

The rules, so that a new indicator needs no layout code:
  * a dimension with one value (the year of the yearbook) is stated above the table;
  * of the others, the one with fewest values (at most 13: sex, direction, months)
    becomes the columns, the one with most values the rows;
  * any further dimension is shown at its total (_T) when the table has it, otherwise the
    table is split into one panel per value (at most MAX_PANELS, else one long list);
  * rows of a long codelist (countries) are ranked by their total, largest first;
  * the chart: lines over time when the table has three periods or more, else bars over
    the row dimension, both at the totals of the other dimensions.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from services.exports.metadata import Description, format_number, message, shown_value
from services.indicators.table import TOTAL, IndicatorTable

from . import charts

MAX_COLUMNS = 13
MAX_PANELS = 12
RANK_ABOVE = 30     # rows of a codelist longer than this are ranked by value, not listed in code order
BARS_SHOWN = 15
NO_DATA = "–"


@dataclass
class Cell:
    text: str
    suppressed: bool = False
    total: bool = False


@dataclass
class Grid:
    title: str                          # panel title ("Sex: Female"), empty for a single grid
    corner: str                         # heading above the row labels
    columns: list[str]
    rows: list[tuple[str, list[Cell], bool]] = field(default_factory=list)  # (label, cells, is total)

    @property
    def wide(self) -> bool:
        return len(self.columns) > 8


@dataclass
class Layout:
    fixed: list[str]                    # "Period: 2024" for dimensions with a single value
    grids: list[Grid]

    @property
    def wide(self) -> bool:
        return any(g.wide for g in self.grids)


def _distinct(table: IndicatorTable, description: Description, i: int) -> list:
    dim = description.dimensions[i]
    return sorted({key[i] for key in table.cells}, key=dim.sort_key)


def _cell(table: IndicatorTable, key: tuple, lang: str, marker: str) -> Cell:
    total = TOTAL in key
    if key not in table.cells:
        return Cell(NO_DATA, total=total)
    value = shown_value(table, key)
    if value is None:
        return Cell(marker, suppressed=True, total=total)
    return Cell(format_number(value, lang), total=total)


def tabulate(table: IndicatorTable, description: Description, lang: str, marker: str,
             fixed_label) -> Layout:
    """`fixed_label(dimension, code label)` words a dimension held at one value."""
    dims = description.dimensions
    codes = [_distinct(table, description, i) for i in range(len(dims))]
    fixed_idx = [i for i in range(len(dims)) if len(codes[i]) == 1]
    varying = [i for i in range(len(dims)) if len(codes[i]) > 1]
    fixed = [fixed_label(dims[i].label(lang), dims[i].code_label(codes[i][0], lang)) for i in fixed_idx]
    value_heading = description.unit_label(lang)

    def key_of(assign: dict[int, object]) -> tuple:
        return tuple(assign[i] if i in assign else codes[i][0] for i in range(len(dims)))

    if not varying:
        grid = Grid("", "", [value_heading])
        if table.cells:
            grid.rows.append((description.name(lang), [_cell(table, key_of({}), lang, marker)], False))
        return Layout(fixed, [grid])

    if len(varying) == 1:
        r = varying[0]
        grid = Grid("", dims[r].label(lang), [value_heading])
        for code in _ranked(table, description, r, codes[r], None, codes, key_of):
            grid.rows.append((dims[r].code_label(code, lang),
                              [_cell(table, key_of({r: code}), lang, marker)], code == TOTAL))
        return Layout(fixed, [grid])

    by_size = sorted(varying, key=lambda i: (len(codes[i]), i))
    col = by_size[0]
    if len(codes[col]) > MAX_COLUMNS:
        return Layout(fixed, [_long(table, description, lang, marker, varying, codes, key_of)])
    row = by_size[-1]
    others = [i for i in varying if i not in (col, row)]
    at_total = [i for i in others if TOTAL in codes[i]]
    panel_dims = [i for i in others if TOTAL not in codes[i]]
    fixed += [fixed_label(dims[i].label(lang), dims[i].code_label(TOTAL, lang)) for i in at_total]
    panels = list(itertools.product(*(codes[i] for i in panel_dims)))
    if len(panels) > MAX_PANELS:
        return Layout(fixed[:len(fixed_idx)], [_long(table, description, lang, marker, varying, codes, key_of)])

    grids = []
    for panel in panels:
        base = {i: TOTAL for i in at_total} | dict(zip(panel_dims, panel))
        title = " · ".join(fixed_label(dims[i].label(lang), dims[i].code_label(c, lang))
                           for i, c in zip(panel_dims, panel))
        grid = Grid(title, dims[row].label(lang), [dims[col].code_label(c, lang) for c in codes[col]])
        for code in _ranked(table, description, row, codes[row], (col, base), codes, key_of):
            cells = [_cell(table, key_of(base | {row: code, col: c}), lang, marker) for c in codes[col]]
            grid.rows.append((dims[row].code_label(code, lang), cells, code == TOTAL))
        grids.append(grid)
    return Layout(fixed, grids)


def _ranked(table, description, r, row_codes, col_and_base, codes, key_of) -> list:
    """Row codes in codelist order, or for a long codelist (countries: its code order means
    nothing to a reader) by value, largest first; totals last."""
    codelist = description.dimensions[r].codelist
    if len(codelist.codes if codelist is not None else row_codes) <= RANK_ABOVE:
        return row_codes

    def size(code):
        if col_and_base is None:
            key = key_of({r: code})
        else:
            col, base = col_and_base
            col_code = TOTAL if TOTAL in codes[col] else codes[col][0]
            key = key_of(base | {r: code, col: col_code})
        value = shown_value(table, key)
        return -(value if value is not None else -1)

    body = sorted((c for c in row_codes if c != TOTAL), key=lambda c: (size(c), description.dimensions[r].sort_key(c)))
    return body + [c for c in row_codes if c == TOTAL]


def _long(table, description, lang, marker, varying, codes, key_of) -> Grid:
    """Every cell on its own row: the fallback for shapes no cross-table fits."""
    dims = description.dimensions
    grid = Grid("", " / ".join(dims[i].label(lang) for i in varying), [description.unit_label(lang)])
    for key in sorted(table.cells, key=description.sort_key):
        label = " / ".join(dims[i].code_label(key[i], lang) for i in varying)
        grid.rows.append((label, [_cell(table, key, lang, marker)], all(key[i] == TOTAL for i in varying)))
    return grid


def chart(table: IndicatorTable, description: Description, lang: str, marker: str,
          top_note) -> tuple[str | None, str]:
    """(chart HTML or None, a note under it). Only cells at the totals of the dimensions not
    drawn are used: adding cells up here could reveal a suppressed one."""
    dims = description.dimensions
    codes = [_distinct(table, description, i) for i in range(len(dims))]
    varying = [i for i in range(len(dims)) if len(codes[i]) > 1]

    def at(assign: dict[int, object]) -> tuple | None:
        key = []
        for i in range(len(dims)):
            if i in assign:
                key.append(assign[i])
            elif len(codes[i]) == 1:
                key.append(codes[i][0])
            elif TOTAL in codes[i]:
                key.append(TOTAL)
            else:
                return None
        return tuple(key)

    def value(key):
        return None if key is None else shown_value(table, key)

    time = next((i for i, d in enumerate(dims) if d.is_time), None)
    periods = [c for c in codes[time] if c != TOTAL] if time is not None else []
    if len(periods) >= 3:
        series = []
        total_key = [at({time: p}) for p in periods]
        if all(k is not None for k in total_key):
            series.append((message("total", lang), [value(k) for k in total_key]))
        small = [i for i in varying if i != time and 1 < len([c for c in codes[i] if c != TOTAL]) <= 6]
        if small:
            s = small[0]
            for code in (c for c in codes[s] if c != TOTAL):
                keys = [at({time: p, s: code}) for p in periods]
                if all(k is not None for k in keys):
                    series.append((dims[s].code_label(code, lang), [value(k) for k in keys]))
        if not series or all(v is None for _, vs in series for v in vs):
            return None, ""
        return charts.line_chart([str(p) for p in periods], series, lang), ""

    candidates = [i for i in varying if i != time]
    if not candidates:
        return None, ""
    r = max(candidates, key=lambda i: (len(codes[i]), i))
    items = []
    for code in (c for c in codes[r] if c != TOTAL):
        key = at({r: code})
        if key is None:
            return None, ""
        items.append((code, value(key)))
    note = ""
    if len(items) > BARS_SHOWN:
        items = sorted(items, key=lambda cv: -(cv[1] if cv[1] is not None else -1))[:BARS_SHOWN]
        note = top_note(BARS_SHOWN)
    if not items or all(v is None for _, v in items):
        return None, ""
    return charts.bar_chart([(dims[r].code_label(c, lang), v) for c, v in items], lang, marker), note
