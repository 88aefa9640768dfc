"""The aggregate table dashboards read: refreshed from accepted data, queried without touching microdata.

    refresh(engine)                      every indicator, every period (an operator's full rebuild)
    refresh(engine, submission_id=42)    only the (indicator, period) slices submission 42's rows
                                         fall in, deleted and recomputed in one transaction
    on_accepted(engine, submission_id)   what the workflow calls once a submission is accepted
    query(engine, "foreign_residents", {"year": 2024, "sex": "F"}, by=("nationality",))

Flows are recomputed a month at a time: a touched year's total is the sum of its months,
the untouched ones read back from the table. Stocks are recomputed per reference date the
submission's rows are valid on. Net migration is recomputed for every complete year from
the year before the submission's first crossing (see net_migration.py).
"""
from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from services.catalog import Catalog, default_catalog
from services.datasets_db import dataset_table
from services.indicators import compute, net_migration
from services.indicators.definitions import Indicator, default_indicators, population_table
from services.indicators.definitions import indicator as find_indicator
from services.indicators.table import IndicatorTable
from services.models import Submission, utcnow
from services.models_indicators import DIMENSION_COLUMNS, IndicatorCell, IndicatorSlice

log = logging.getLogger(__name__)

CELL = IndicatorCell.__table__
SLICE = IndicatorSlice.__table__
CELL_COLUMNS = ("indicator", "year", "month", "grouping", *DIMENSION_COLUMNS, "value", "observations")
_LOCK = 7452302  # PostgreSQL advisory lock: one refresh at a time, so slices are never written twice


@dataclass
class RefreshReport:
    indicator: str
    slices: list[tuple[int, int]] = field(default_factory=list)
    cells: int = 0
    seconds: float = 0.0


def on_accepted(engine: Engine, submission_id: int) -> list[RefreshReport]:
    """Bring the indicators up to date with a submission just accepted (workflow.move calls this)."""
    return refresh(engine, submission_id)


def refresh(engine: Engine, submission_id: int | None = None, *, indicators: Iterable[str] | None = None,
            catalog: Catalog | None = None, definitions: dict[str, Indicator] | None = None,
            today: dt.date | None = None) -> list[RefreshReport]:
    """Recompute slices of the aggregate table in one transaction; returns what was done per indicator.

    Without `submission_id` every slice of the chosen indicators (default: all) is rebuilt;
    with it, only the indicators computed from that submission's dataset, and only the slices
    its rows touch.
    """
    catalog = catalog or default_catalog()
    definitions = definitions if definitions is not None else default_indicators()
    chosen = [find_indicator(c, definitions) for c in indicators] if indicators else list(definitions.values())
    today = today or dt.date.today()
    reports = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
        if submission_id is not None:
            dataset = conn.execute(select(Submission.__table__.c.dataset)
                                   .where(Submission.__table__.c.id == submission_id)).scalar()
            if dataset is None:
                raise KeyError(f"no submission {submission_id}")
            chosen = [ind for ind in chosen if ind.dataset == dataset]
        for ind in chosen:
            started = time.perf_counter()
            report = _refresh_indicator(conn, ind, catalog, submission_id, today)
            report.seconds = time.perf_counter() - started
            log.info("indicator %s: %d slices, %d cells in %.2f s", ind.code, len(report.slices), report.cells,
                     report.seconds)
            reports.append(report)
    return reports


def _refresh_indicator(conn: Connection, ind: Indicator, catalog: Catalog, submission_id: int | None,
                       today: dt.date) -> RefreshReport:
    table = dataset_table(catalog.dataset(ind.dataset))
    full = submission_id is None
    if ind.method == "net_migration":
        slices = net_migration.slices(conn, ind, table, submission_id)
        finest = net_migration.cells(conn, ind, table, catalog, slices)
    elif ind.is_stock:
        computed_until = None if full else _last_stock_reference(conn, ind)
        slices = compute.stock_slices(conn, ind, table, today, submission_id, computed_until)
        finest = _stock_finest(conn, ind, table, catalog, slices)
    else:
        slices = compute.flow_slices(conn, ind, table, submission_id)
        finest = _flow_finest(conn, ind, table, catalog, slices, full)

    if full:  # rebuild: slices that no longer hold data must go too
        conn.execute(delete(CELL).where(CELL.c.indicator == ind.code))
        conn.execute(delete(SLICE).where(SLICE.c.indicator == ind.code))
    else:
        for year, months in _by_year(slices).items():
            conn.execute(delete(CELL).where(CELL.c.indicator == ind.code, CELL.c.year == year,
                                            CELL.c.month.in_(months)))
            conn.execute(delete(SLICE).where(SLICE.c.indicator == ind.code, SLICE.c.year == year,
                                             SLICE.c.month.in_(months)))
    populations = population_table() if ind.rate else {}
    rows, slice_rows = [], []
    for s in sorted(slices):
        cells = compute.cube(ind, finest.get(s, {}))
        if ind.rate:
            cells = compute.apply_rate(ind, s[0], cells, populations)
        for (grouping, key), (value, observations) in cells.items():
            dims = list(key) + [None] * (len(DIMENSION_COLUMNS) - len(key))
            rows.append((ind.code, s[0], s[1], grouping, *dims, value, observations))
        slice_rows.append({"indicator": ind.code, "year": s[0], "month": s[1], "cells": len(cells),
                           "computed_at": utcnow()})
    write_cells(conn, CELL, CELL_COLUMNS, rows)
    if slice_rows:
        conn.execute(insert(SLICE), slice_rows)
    if conn.dialect.name == "postgresql" and len(rows) > 10_000:
        conn.exec_driver_sql("ANALYZE indicator_cell")  # fresh statistics keep dashboard plans on the index
    return RefreshReport(ind.code, sorted(slices), len(rows))


def _by_year(slices) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for year, month in slices:
        out.setdefault(year, []).append(month)
    return out


def _last_stock_reference(conn: Connection, ind: Indicator) -> dt.date | None:
    row = conn.execute(select(SLICE.c.year, SLICE.c.month).where(SLICE.c.indicator == ind.code)
                       .order_by(SLICE.c.year.desc(), SLICE.c.month.desc()).limit(1)).first()
    if row is None:
        return None
    return compute.reference_date((row[0], row[1]))


def _stock_finest(conn, ind, table, catalog, slices) -> dict:
    by_date: dict[dt.date, compute.Cells] = {}
    out = {}
    for s in sorted(slices):
        ref = compute.reference_date(s)
        if ref not in by_date:  # December and the year share 31 December
            by_date[ref] = compute.stock_cells(conn, ind, table, catalog, ref)
        out[s] = by_date[ref]
    return out


def _flow_finest(conn, ind, table, catalog, slices, full: bool) -> dict:
    years = {y for y, m in slices if m == 0}
    if "month" not in ind.frequency:
        return compute.flow_cells(conn, ind, table, catalog, years=years)
    months = {s for s in slices if s[1] != 0}
    out = compute.flow_cells(conn, ind, table, catalog, months=months)
    # A year is the sum of its months; months this refresh does not touch are read back.
    full_grouping = (1 << len(ind.dimensions)) - 1
    for year in years:
        total: compute.Cells = {}
        for (y, m), cells in out.items():
            if y == year:
                _add(total, cells)
        if not full:
            untouched = [m for m in range(1, 13) if (year, m) not in months]
            stored = select(*[CELL.c[c] for c in DIMENSION_COLUMNS[:len(ind.dimensions)]],
                            CELL.c.value, CELL.c.observations).where(
                CELL.c.indicator == ind.code, CELL.c.year == year, CELL.c.month.in_(untouched),
                CELL.c.grouping == full_grouping)
            for row in conn.execute(stored):
                _add(total, {tuple(row[:-2]): (compute._number(row[-2]), int(row[-1] or 0))})
        out[(year, 0)] = total
    return out


def _add(total: compute.Cells, cells: compute.Cells) -> None:
    for key, (value, observations) in cells.items():
        old = total.get(key, (0, 0))
        total[key] = (old[0] + value, old[1] + observations)


def write_cells(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert many cells: COPY on PostgreSQL (a refresh may write hundreds of thousands), batched INSERT elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        names = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for i in range(0, len(rows), 20_000):  # COPY text built in blocks: far cheaper than row by row
                copy.write("".join("\t".join(_copy_text(v) for v in row) + "\n" for row in rows[i:i + 20_000]))
        return
    statement = insert(table)
    for i in range(0, len(rows), 5000):
        conn.execute(statement, [dict(zip(columns, row)) for row in rows[i:i + 5000]])


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return str(value)


# --- reading -----------------------------------------------------------------------------------

def query(engine: Engine, indicator: str, filters: dict | None = None, by: tuple[str, ...] = (), *,
          definitions: dict[str, Indicator] | None = None, catalog: Catalog | None = None) -> IndicatorTable:
    """Cells of `indicator` broken down `by` dimensions (and "year", "month"), for the `filters`.

    filters: {"year": 2024, "month": 7 | "2024-07", "sex": "F", "nationality": ["FRA", "ITA"], ...}.
    A dimension neither filtered nor in `by` is taken at its total; without a year the latest
    computed one is used (said in meta["year"]); without a month, the whole year. Several codes
    of a dimension outside `by` are added up (each person lies in one code), several periods
    only for flows. Reads the aggregate table only.
    """
    ind = find_indicator(indicator, definitions if definitions is not None else default_indicators())
    with engine.connect() as conn:
        return select_cells(conn, ind, CELL, CELL.c.indicator == ind.code, filters or {}, tuple(by), catalog)


_META: dict = {}


def _meta(ind: Indicator, catalog: Catalog | None) -> dict:
    """An indicator's metadata, built once per definition (queries copy it before adding to it)."""
    key = (ind.code, id(catalog))
    cached = _META.get(key)
    if cached is None or cached[0] is not ind:  # a reloaded definition gets its own
        cached = _META[key] = (ind, ind.meta(catalog))
    return cached[1]


def _codes(value) -> list[str]:
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    return [str(v) for v in values]


def select_cells(conn: Connection, ind: Indicator, table: Table, base, filters: dict, by: tuple[str, ...],
                 catalog: Catalog | None = None) -> IndicatorTable:
    """The selection shared by the live table and frozen releases (`base` picks which)."""
    names = ("year", "month", *ind.dimension_names)
    unknown = [n for n in (*filters, *by) if n not in names]
    if unknown:
        raise ValueError(f"indicator {ind.code} has no dimension {', '.join(map(repr, unknown))}; "
                         f"it has {', '.join(names)}")
    if len(set(by)) != len(by):
        raise ValueError("a dimension appears twice in `by`")
    where = [base]
    years = [int(y) for y in _codes(filters["year"])] if "year" in filters else None
    months = None
    if "month" in filters:
        months = []
        for m in _codes(filters["month"]):
            if "-" in m:  # "2024-07" says the year too
                y, m = m.split("-", 1)
                years = sorted(set(years or []) | {int(y)})
            months.append(int(m))
    if "month" in by and "month" not in ind.frequency:
        raise ValueError(f"indicator {ind.code} is yearly: it has no month")
    if not ind.additive_over_periods:
        for name, chosen in (("year", years), ("month", months)):
            if chosen is not None and len(chosen) > 1 and name not in by:
                raise ValueError(f"{ind.code} values do not add up over periods: put {name} in `by` "
                                 f"to see several")
    grouping = 0
    for i, d in enumerate(ind.dimensions):
        column = table.c[DIMENSION_COLUMNS[i]]
        if d.name in by or d.name in filters:
            grouping |= 1 << i
            if d.name in filters:
                codes = _codes(filters[d.name])
                if ind.rate and ind.rate.get("population_of") == d.name and len(codes) > 1 and d.name not in by:
                    raise ValueError(f"rates of different {d.name} have different denominators: put it in `by`")
                where.append(column.in_(codes))
        elif not d.total:
            grouping |= 1 << i
            where.append(column == d.default)
    where.append(table.c.grouping == grouping)
    if "month" in by:
        where.append(table.c.month != 0)
        if months is not None:
            where.append(table.c.month.in_(months))
    elif months is not None:
        where.append(table.c.month.in_(months))
    else:
        where.append(table.c.month == 0)
    meta = copy.deepcopy(_meta(ind, catalog))
    if years is not None:
        where.append(table.c.year.in_(years))
    elif "year" not in by:
        latest = conn.execute(select(func.max(table.c.year)).where(*where)).scalar()
        if latest is None:
            return IndicatorTable(ind.code, by, {}, ind.unit, meta={**meta, "filters": dict(filters)})
        where.append(table.c.year == latest)
        meta["year"] = latest
    selected = []
    for name in by:
        if name == "year":
            selected.append(table.c.year)
        elif name == "month":
            selected.extend([table.c.year, table.c.month])
        else:
            selected.append(table.c[DIMENSION_COLUMNS[ind.dimension_names.index(name)]])
    selected = list(dict.fromkeys(selected))  # year once, even with month
    stmt = (select(*selected, func.sum(table.c.value), func.sum(table.c.observations),
                   func.count(table.c.value))
            .where(*where).group_by(*selected)
            .having(func.count() > 0))  # no rows, no cell: a total over nothing is not a blank cell
    # Where each element of a cell's key comes from in a result row: built once, used per row.
    at = {c.key: i for i, c in enumerate(selected)}
    picks = [("year", at["year"], None) if name == "year" else
             ("month", at["year"], at["month"]) if name == "month" else
             ("code", at[DIMENSION_COLUMNS[ind.dimension_names.index(name)]], None) for name in by]
    cells, observations = {}, {}
    for row in conn.execute(stmt):
        key = tuple(str(row[i]) if kind == "year" else f"{row[i]:04d}-{row[j]:02d}" if kind == "month" else row[i]
                    for kind, i, j in picks)
        value = row[-3] if row[-1] else None  # a sum of blank rates stays blank
        cells[key] = compute._number(value) if value is not None else None
        observations[key] = int(row[-2] or 0)
    meta["filters"] = dict(filters)
    if ind.rate:
        meta["observations"] = observations  # the counts behind the rates, for disclosure control
    return IndicatorTable(ind.code, tuple(by), cells, ind.unit, meta=meta)


def available_periods(engine: Engine, indicator: str) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(SLICE.c.year, SLICE.c.month).where(SLICE.c.indicator == indicator)
                            .order_by(SLICE.c.year, SLICE.c.month))
        return [(int(y), int(m)) for y, m in rows]


__all__ = ["RefreshReport", "available_periods", "on_accepted", "query", "refresh", "select_cells"]
