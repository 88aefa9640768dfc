"""Long-term immigration and emigration from border crossings: the 12-month usual-residence rule.

The UN Recommendations on Statistics of International Migration (Rev. 1, 1998) count a
long-term migrant as a person who changes their country of usual residence for at least a
year. With border crossings only, a person's usual residence is a state that changes when a
stay or an absence lasts long enough:

* a crossing is *long* when the person's next crossing comes at least `minimum_stay_days`
  (365) days later, or when there is none and the data reach that far;
* after a long entry the person is resident, after a long exit non-resident; before their
  first long crossing they have the status their first crossing declares (declared country
  of residence; when blank, the citizenship of the country);
* an *immigration* is a long entry of a non-resident, an *emigration* a long exit of a
  resident. A resident back from a short trip, or a visitor leaving, is neither.

Censoring. Whether a crossing on day d is long depends on the 365 days after d, so a year
Y is computed only once the accepted data reach the end of year Y+1: the coverage ends on the
last day of the month of the latest accepted crossing (partners send whole months), and Y is
complete when 31 December Y + 365 days <= that day. Earlier years keep being read: they set
who is resident when Y starts.

All in SQL with window functions (LEAD, ROW_NUMBER, a running MAX), which SQLite and
PostgreSQL both have: "the latest long crossing before this one" is the running maximum of
2 * sequence number + (1 if it was an entry), so its parity says resident or not.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from services.catalog import Catalog
from services.indicators.compute import (Cells, Slice, _as_date, accepted, days_between, dimension_inputs,
                                         dimension_outputs, month_end, row_dimensions, year_of)
from services.indicators.definitions import Indicator

IMMIGRATION, EMIGRATION, NET = "IMMIGRATION", "EMIGRATION", "NET"


def coverage_end(conn: Connection, ind: Indicator, table) -> dt.date | None:
    date = table.c[ind.measure["date"]]
    latest = conn.execute(select(func.max(date)).where(accepted(table, ind.dataset))).scalar()
    if latest is None:
        return None
    latest = _as_date(latest)
    return month_end(latest.year, latest.month)


def complete_years(conn: Connection, ind: Indicator, table, since: int | None = None) -> list[int]:
    """Years the data let the rule judge: every crossing followed by a full year of data."""
    end = coverage_end(conn, ind, table)
    if end is None:
        return []
    date = table.c[ind.measure["date"]]
    first = conn.execute(select(func.min(date)).where(accepted(table, ind.dataset))).scalar()
    first_year = max(_as_date(first).year, since or 0)
    days = int(ind.measure.get("minimum_stay_days", 365))
    return [y for y in range(first_year, end.year + 1) if dt.date(y, 12, 31) + dt.timedelta(days=days) <= end]


def slices(conn: Connection, ind: Indicator, table, submission_id: int | None = None) -> set[Slice]:
    """Years to recompute. A submission's crossings can change the judgement of crossings up to a
    year before them (their next crossing) and the residence status of every later one."""
    if submission_id is None:
        return {(y, 0) for y in complete_years(conn, ind, table)}
    date = table.c[ind.measure["date"]]
    first = conn.execute(select(func.min(date)).where(table.c.submission_id == submission_id)).scalar()
    if first is None:
        return set()
    return {(y, 0) for y in complete_years(conn, ind, table, since=_as_date(first).year - 1)}


def cells(conn: Connection, ind: Indicator, table, catalog: Catalog, years) -> dict[Slice, Cells]:
    m = ind.measure
    end = coverage_end(conn, ind, table)
    if end is None or not years:
        return {}
    days = int(m.get("minimum_stay_days", 365))
    dialect = conn.dialect.name
    date, person, direction = table.c[m["date"]], table.c[m["person"]], table.c[m["direction"]]
    residence, citizenship, home = table.c[m["declared_residence"]], table.c[m["citizenship"]], m["country"]
    entry, exit_ = m.get("entry", "ENTRY"), m.get("exit", "EXIT")

    is_entry = case((direction == entry, 1), else_=0)
    # Same-day crossings: entry first, as the ingestion's exit-after-entry check orders them.
    order = [date, case((direction == entry, 0), else_=1), table.c.row_id]
    resident_at_first = case((residence == home, 1), (residence.is_not(None), 0), (citizenship == home, 1), else_=0)
    events = select(
        person.label("person"), date.label("day"), is_entry.label("is_entry"),
        *dimension_inputs(ind, table, date),
        func.lead(date).over(partition_by=person, order_by=order).label("next_day"),
        func.row_number().over(partition_by=person, order_by=order).label("seq"),
        func.first_value(resident_at_first).over(partition_by=person, order_by=order).label("first_resident"),
    ).where(accepted(table, ind.dataset), person.is_not(None), date.is_not(None),
            direction.in_((entry, exit_))).subquery()

    last_judged = end - dt.timedelta(days=days)  # a last crossing on or before this day is long
    long_ = case(
        (and_(events.c.next_day.is_not(None), days_between(dialect, events.c.day, events.c.next_day) >= days), 1),
        (and_(events.c.next_day.is_(None), events.c.day <= last_judged), 1),
        else_=0)
    judged = select(events, long_.label("long")).subquery()
    latest_long = func.max(case((judged.c.long == 1, judged.c.seq * 2 + judged.c.is_entry), else_=None)).over(
        partition_by=judged.c.person, order_by=judged.c.seq, rows=(None, -1))
    status = select(judged, latest_long.label("latest_long")).subquery()

    resident_before = case((status.c.latest_long.is_(None), status.c.first_resident),
                           else_=status.c.latest_long % 2)
    immigration = case((and_(status.c.is_entry == 1, status.c.long == 1, resident_before == 0), 1), else_=0)
    emigration = case((and_(status.c.is_entry == 0, status.c.long == 1, resident_before == 1), 1), else_=0)
    year = year_of(status.c.day).label("year")
    keys = dimension_outputs(ind, status, catalog)
    stmt = (select(year, *keys, func.sum(immigration), func.sum(emigration))
            .where(status.c.long == 1, year_of(status.c.day).in_(sorted({y for y, _ in years})))
            .group_by(year, *keys))
    n_dims = len(row_dimensions(ind))

    out: dict[Slice, Cells] = {(y, 0): {} for y, _ in years}
    flow_at = next(i for i, d in enumerate(ind.dimensions) if d.kind == "method")
    for row in conn.execute(stmt):
        codes = tuple(row[1:1 + n_dims])
        imm, emi = int(row[-2] or 0), int(row[-1] or 0)
        if not imm and not emi:
            continue
        target = out[(int(row[0]), 0)]
        for flow, value, observations in ((IMMIGRATION, imm, imm), (EMIGRATION, emi, emi),
                                          (NET, imm - emi, imm + emi)):
            if flow != NET and not value:
                continue
            key = codes[:flow_at] + (flow,) + codes[flow_at:]
            old = target.get(key, (0, 0))
            target[key] = (old[0] + value, old[1] + observations)
    return out
