"""Computing indicator cells from accepted rows, with SQLAlchemy Core (SQLite and PostgreSQL alike).

A *slice* is one (year, month) of one indicator, month 0 standing for the whole year. The
database does the heavy part (filter, group, count) and returns the finest cells of a slice:
one per combination of dimension codes. `cube` then adds every margin in Python, which is
cheap (the finest cells number thousands, not millions) and lets a dashboard read any
breakdown as stored cells.

Only rows of submissions whose status is "accepted" are read.
"""
from __future__ import annotations

import calendar
import datetime as dt

from sqlalchemy import Integer, String, and_, case, cast, extract, false, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from services.catalog import Catalog
from services.indicators.definitions import UNKNOWN, Dimension, Indicator
from services.indicators.table import TOTAL
from services.models import Status, Submission

SUBMISSION = Submission.__table__
Slice = tuple[int, int]           # (year, month); month 0 = the year
Cells = dict[tuple, tuple]        # finest key (a code per dimension) -> (value, observations)


# --- periods -----------------------------------------------------------------------------------

def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def reference_date(s: Slice) -> dt.date:
    """The date a stock slice is counted on: the month's last day, 31 December for the year."""
    year, month = s
    return month_end(year, month or 12)


def month_ranges(months) -> list[tuple[dt.date, dt.date]]:
    """Contiguous [first day, first day after) ranges covering the given (year, month)s."""
    ranges: list[list[dt.date]] = []
    for year, month in sorted(months):
        start = dt.date(year, month, 1)
        end = month_end(year, month) + dt.timedelta(days=1)
        if ranges and ranges[-1][1] == start:
            ranges[-1][1] = end
        else:
            ranges.append([start, end])
    return [(a, b) for a, b in ranges]


def in_ranges(column, ranges) -> ColumnElement:
    if not ranges:
        return false()
    return or_(*(and_(column >= a, column < b) for a, b in ranges))


# --- SQL pieces --------------------------------------------------------------------------------

def accepted(table, dataset: str) -> ColumnElement:
    return table.c.submission_id.in_(
        select(SUBMISSION.c.id).where(SUBMISSION.c.status == Status.accepted.value, SUBMISSION.c.dataset == dataset))


class _DatePart(FunctionElement):
    """The year, month or day of a date as an integer. PostgreSQL computes EXTRACT in numeric,
    several times slower over millions of rows than date_part, which it gets instead."""

    type = Integer()
    inherit_cache = True
    part = ""


class year_of(_DatePart):
    name, part, inherit_cache = "year_of", "year", True


class month_of(_DatePart):
    name, part, inherit_cache = "month_of", "month", True


class day_of(_DatePart):
    name, part, inherit_cache = "day_of", "day", True


for _part in (year_of, month_of, day_of):
    @compiles(_part)
    def _extract(element, compiler, **kw):
        (expr,) = element.clauses
        return compiler.process(extract(element.part, expr), **kw)

    @compiles(_part, "postgresql")
    def _date_part(element, compiler, **kw):
        (expr,) = element.clauses
        return f"CAST(date_part('{element.part}', {compiler.process(expr, **kw)}) AS INTEGER)"


def _month_day(value):
    if isinstance(value, dt.date):
        return literal(value.year), literal(value.month * 100 + value.day)
    return year_of(value), month_of(value) * 100 + day_of(value)


def completed_years(start, end) -> ColumnElement:
    """Whole years from `start` to `end` (columns or dates): an age when `start` is a birth date."""
    sy, smd = _month_day(start)
    ey, emd = _month_day(end)
    return ey - sy - case((emd < smd, 1), else_=0)


def days_between(dialect: str, start, end) -> ColumnElement:
    if dialect == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return end - start  # PostgreSQL: date - date is a number of days


def age_expression(dim: Dimension, table, when) -> ColumnElement | None:
    """Age at `when` (a column or a date): from the birth date, else the recorded age moved on
    by the years since the date it was recorded at (`age_at`)."""
    exprs = []
    if dim.birth_date:
        exprs.append(completed_years(table.c[dim.birth_date], when))
    if dim.age:
        age = table.c[dim.age]
        if dim.age_at:
            age = age + func.coalesce(completed_years(table.c[dim.age_at], when), 0)
        exprs.append(age)
    return exprs[0] if len(exprs) == 1 else func.coalesce(*exprs)


def age_group_of(age, codelist) -> ColumnElement:
    """The age band (codelist attributes min / max) an age falls in, UNKNOWN when none."""
    whens = []
    for item in codelist.items:
        attrs = item.get("attributes") or {}
        lo, hi = attrs.get("min"), attrs.get("max")
        test = age >= lo if hi is None else and_(age >= lo, age <= hi)
        whens.append((test, literal(item["code"])))
    return case(*whens, else_=literal(UNKNOWN))


def row_dimensions(ind: Indicator):
    """The dimensions a row's columns give (parts and method dimensions are added afterwards)."""
    return [d for d in ind.dimensions if d.kind in ("field", "age_group")]


def dimension_inputs(ind: Indicator, table, when) -> list[ColumnElement]:
    """What each row dimension reads from a row, labelled i0, i1...: the code, or the age at
    `when`. Ages are grouped into bands a query level up (`dimension_outputs`), so that the
    age is computed once per row and not once per band."""
    out = []
    for i, d in enumerate(row_dimensions(ind)):
        expr = func.coalesce(table.c[d.field], literal(UNKNOWN)) if d.kind == "field" else \
            age_expression(d, table, when)
        out.append(expr.label(f"i{i}"))
    return out


def dimension_outputs(ind: Indicator, source, catalog: Catalog) -> list[ColumnElement]:
    """The codes of the row dimensions, over a subquery that selected `dimension_inputs`."""
    out = []
    for i, d in enumerate(row_dimensions(ind)):
        column = source.c[f"i{i}"]
        out.append((column if d.kind == "field" else age_group_of(column, catalog.codelists[d.codelist]))
                   .label(f"d{i}"))
    return out


def filter_clause(ind: Indicator, table) -> ColumnElement | None:
    clauses = []
    for f in ind.filters:
        column = table.c[f.field]
        if f.op == "in":
            clauses.append(column.in_(f.values))
        else:  # a blank is not excluded by a list of codes to leave out
            clauses.append(or_(column.is_(None), column.not_in(f.values)))
    return and_(*clauses) if clauses else None


def _signed_sum(table, signed) -> ColumnElement:
    expr = None
    for sign, name in signed:
        term = func.coalesce(table.c[name], 0)
        if expr is None:
            expr = term if sign > 0 else -term
        else:
            expr = expr + term if sign > 0 else expr - term
    return func.sum(expr)


def _measure_inputs(ind: Indicator, table) -> list[ColumnElement]:
    """The columns the measures add up, selected by the inner query under their own names."""
    parts = ind.parts_dimension
    signed = [f for fields in parts.parts.values() for f in fields] if parts else list(ind.sum_fields)
    return [table.c[name] for name in dict.fromkeys(name for _, name in signed)]


def _measures(ind: Indicator, source) -> list[ColumnElement]:
    if ind.count == "rows":
        return [func.count()]
    parts = ind.parts_dimension
    if parts is not None:
        return [_signed_sum(source, signed) for signed in parts.parts.values()]
    return [_signed_sum(source, ind.sum_fields)]


def _number(value):
    if value is None:
        return 0
    value = float(value)
    return int(value) if value.is_integer() else value


def _assemble(ind: Indicator, row_codes: tuple, measures: tuple, out: Cells) -> None:
    """Put a row's measures into finest cells, splitting parts into their dimension."""
    parts = ind.parts_dimension
    if parts is None:
        value = _number(measures[0])
        key = row_codes
        old = out.get(key, (0, 0))
        out[key] = (old[0] + value, old[1] + value)
        return
    position = ind.dimensions.index(parts)
    for code, amount in zip(parts.parts, measures):
        value = _number(amount)
        key = row_codes[:position] + (code,) + row_codes[position:]
        old = out.get(key, (0, 0))
        out[key] = (old[0] + value, old[1] + value)


# --- flows -------------------------------------------------------------------------------------

def flow_cells(conn: Connection, ind: Indicator, table, catalog: Catalog, *, months=None, years=None) -> dict:
    """Finest cells per slice for a flow: by month (when `months` is given) or by year."""
    date = table.c[ind.period["date"]]
    periods = [year_of(date).label("p0")]
    if months is not None:
        periods.append(month_of(date).label("p1"))
    where = [accepted(table, ind.dataset), date.is_not(None)]
    if months is not None:
        where.append(in_ranges(date, month_ranges(months)))
    else:
        where.append(in_ranges(date, [(dt.date(y, 1, 1), dt.date(y + 1, 1, 1)) for y in sorted(years)]))
    extra = filter_clause(ind, table)
    if extra is not None:
        where.append(extra)
    rows = select(*periods, *dimension_inputs(ind, table, date), *_measure_inputs(ind, table)).where(*where)
    rows = rows.subquery()
    keys = [rows.c[p.name] for p in periods] + dimension_outputs(ind, rows, catalog)
    stmt = select(*keys, *_measures(ind, rows)).group_by(*keys)
    out: dict[Slice, Cells] = {}
    n_periods, n_keys = len(periods), len(keys)
    for row in conn.execute(stmt):
        s = (int(row[0]), int(row[1])) if months is not None else (int(row[0]), 0)
        _assemble(ind, tuple(row[n_periods:n_keys]), tuple(row[n_keys:]), out.setdefault(s, {}))
    return out


def flow_slices(conn: Connection, ind: Indicator, table, submission_id: int | None = None) -> set[Slice]:
    """Slices holding rows: of accepted data (full refresh) or of one submission (its touched slices)."""
    date = table.c[ind.period["date"]]
    where = [date.is_not(None)]
    where.append(accepted(table, ind.dataset) if submission_id is None else table.c.submission_id == submission_id)
    stmt = select(year_of(date), month_of(date)).where(*where).distinct()
    months = {(int(y), int(m)) for y, m in conn.execute(stmt)}
    out = {(y, 0) for y, _ in months}
    if "month" in ind.frequency:
        out |= months
    return out


# --- stocks ------------------------------------------------------------------------------------

def stock_cells(conn: Connection, ind: Indicator, table, catalog: Catalog, ref: dt.date) -> Cells:
    """Persons counted on `ref`: rows valid that day, one per person (their latest row), then filtered."""
    valid_from = table.c[ind.period["valid_from"]]
    where = [accepted(table, ind.dataset), valid_from <= ref]
    if ind.period.get("valid_to"):
        valid_to = table.c[ind.period["valid_to"]]
        where.append(or_(valid_to.is_(None), valid_to >= ref))
    person = ind.measure["person"]
    # A row without a person identifier is its own person.
    who = func.coalesce(table.c[person], literal("row:") + cast(table.c.row_id, String))
    order = [table.c[name].desc() for name in ind.measure.get("latest") or ()] + [table.c.row_id.desc()]
    # Ascending NULLs sort first in SQLite and last in PostgreSQL: say where they go.
    order = [o.nulls_last() for o in order]
    keep = filter_clause(ind, table)
    inner = select(
        *dimension_inputs(ind, table, ref),
        func.row_number().over(partition_by=who, order_by=order).label("nth"),
        (case((keep, 1), else_=0) if keep is not None else literal(1)).label("keep"),
    ).where(*where).subquery()
    keys = dimension_outputs(ind, inner, catalog)
    stmt = select(*keys, func.count()).where(inner.c.nth == 1, inner.c.keep == 1).group_by(*keys)
    out: Cells = {}
    for row in conn.execute(stmt):
        _assemble(ind, tuple(row[:-1]), (row[-1],), out)
    return out


def stock_coverage(conn: Connection, ind: Indicator, table, today: dt.date) -> dt.date | None:
    """The last reference date the accepted data support: the end of the month of the latest
    validity start (later stocks would miss renewals not yet submitted), and never after today."""
    valid_from = table.c[ind.period["valid_from"]]
    latest = conn.execute(select(func.max(valid_from)).where(accepted(table, ind.dataset))).scalar()
    if latest is None:
        return None
    latest = _as_date(latest)
    end = month_end(latest.year, latest.month)
    if end > today:  # the current month is not over: its end is not a reference date yet
        end = month_end(*_previous_month(today.year, today.month))
    return end


def _previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def stock_reference_slices(ind: Indicator, start: dt.date, end: dt.date) -> set[Slice]:
    """Slices whose reference date lies in [start, end], from the indicator's `since` year on."""
    since = int(ind.period.get("since") or 1900)
    start = max(start, dt.date(since, 1, 1))
    out: set[Slice] = set()
    year, month = start.year, start.month
    while month_end(year, month) <= end:
        if "month" in ind.frequency:
            out.add((year, month))
        if month == 12:
            out.add((year, 0))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def stock_slices(conn: Connection, ind: Indicator, table, today: dt.date, submission_id: int | None = None,
                 computed_until: dt.date | None = None) -> set[Slice]:
    """All stock slices (full refresh), or those a submission's rows are valid on, plus any new
    reference dates its data open up (the coverage moved past what was computed before)."""
    end = stock_coverage(conn, ind, table, today)
    if end is None:
        return set()
    valid_from = table.c[ind.period["valid_from"]]
    valid_to = table.c[ind.period["valid_to"]] if ind.period.get("valid_to") else None
    if submission_id is None:
        first = conn.execute(select(func.min(valid_from)).where(accepted(table, ind.dataset))).scalar()
        return stock_reference_slices(ind, _as_date(first), end)
    columns = [func.min(valid_from), func.max(valid_to) if valid_to is not None else literal(None)]
    first, last = conn.execute(select(*columns).where(table.c.submission_id == submission_id)).one()
    if first is None:
        return set()
    last = _as_date(last) if last is not None and valid_to is not None else end
    out = stock_reference_slices(ind, _as_date(first), min(last, end))
    if computed_until is None or computed_until < end:
        opened = (computed_until or _as_date(first)) + dt.timedelta(days=1)
        out |= stock_reference_slices(ind, opened, end)
    return out


# --- margins -----------------------------------------------------------------------------------

def cube(ind: Indicator, finest: Cells) -> dict[tuple[int, tuple], tuple]:
    """Every margin of the finest cells: (grouping, key) -> (value, observations).

    `grouping` has bit i set when dimension i is a code, not TOTAL. Values add up because
    each person or event lies in exactly one finest cell of a slice. Dimensions without a
    total (e.g. immigration / emigration / net) are never summed over.

    Margins are taken one dimension after the other (each pass adds, for every cell so far,
    its total over one more dimension), which costs about (dimensions x cube size) rather
    than (finest cells x 2 ** dimensions).
    """
    cells: dict[tuple, list] = {key: [value, observations] for key, (value, observations) in finest.items()}
    for i, d in enumerate(ind.dimensions):
        if not d.total:
            continue
        margins: dict[tuple, list] = {}
        for key, (value, observations) in cells.items():
            margin = key[:i] + (TOTAL,) + key[i + 1:]
            cell = margins.get(margin)
            if cell is None:
                margins[margin] = [value, observations]
            else:
                cell[0] += value
                cell[1] += observations
        cells.update(margins)
    n = len(ind.dimensions)
    out = {}
    for key, (value, observations) in cells.items():
        grouping = 0
        for i in range(n):
            if key[i] != TOTAL:
                grouping |= 1 << i
        out[(grouping, key)] = (value, observations)
    return out


def apply_rate(ind: Indicator, year: int, cells: dict, populations: dict[str, dict[int, int]]) -> dict:
    """Counts turned into rates per `per` inhabitants; a cell without a population gets no value."""
    rate = ind.rate
    per = rate.get("per", 1)
    position = ind.dimension_names.index(rate["population_of"]) if "population_of" in rate else None
    out = {}
    for (grouping, key), (value, observations) in cells.items():
        country = rate.get("population") if position is None else key[position]
        population = populations.get(str(country), {}).get(year)
        out[(grouping, key)] = (value * per / population if population else None, observations)
    return out
