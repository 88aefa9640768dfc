"""Writing validated rows into a dataset table inside the caller's transaction.

PostgreSQL gets COPY, streamed while validation goes on, so the database server parses
and stores rows on its own core while Python validates the next ones. Other databases
(SQLite in the demo) get batched inserts. Either way nothing is committed here: the
caller commits only when the whole file is valid.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import Table, text
from sqlalchemy.engine import Connection

from services.catalog import Dataset
from services.ingest.validate import Problem

_BATCH = 5_000


def write_rows(conn: Connection, table: Table, dataset: Dataset, submission_id: int, institution: str,
               rows: Iterable[tuple[int, list]], problems: list[Problem]) -> int:
    """Write each valid row until the first problem appears; keep consuming so validation finishes."""
    columns = ["submission_id", "institution", "source_row", *dataset.field_names]
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, columns, submission_id, institution, rows, problems)
    return _insert(conn, table, columns, submission_id, institution, rows, problems)


def _copy(conn, table, columns, submission_id, institution, rows, problems) -> int:
    raw = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    written = 0
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        write = copy.write_row
        for row_number, values in rows:
            if problems:  # the load will be rolled back: stop sending, keep validating
                continue
            write((submission_id, institution, row_number, *values))
            written += 1
    return written


def _insert(conn, table, columns, submission_id, institution, rows, problems) -> int:
    statement = table.insert()
    batch: list[dict] = []
    written = 0
    for row_number, values in rows:
        if problems:
            batch.clear()
            continue
        batch.append(dict(zip(columns, (submission_id, institution, row_number, *values))))
        if len(batch) >= _BATCH:
            conn.execute(statement, batch)
            written += len(batch)
            batch.clear()
    if batch and not problems:
        conn.execute(statement, batch)
        written += len(batch)
    return written


def exit_before_entry(conn: Connection, table: Table, params: dict, submission_id: int) -> list[Problem]:
    """Rows where a person exits twice with no entry between: the second exit has no entry before it.

    A first exit with no entry in the file is fine (the person entered before the period),
    which is why this checks consecutive events rather than every exit.
    """
    person, date, direction = (f'"{params[k]}"' for k in ("person", "date", "direction"))
    sql = text(f"""
        SELECT source_row, event_date, person FROM (
          SELECT source_row, {date} AS event_date, {person} AS person, {direction} AS direction,
                 LAG({direction}) OVER (PARTITION BY {person}
                                         ORDER BY {date}, CASE {direction} WHEN 'ENTRY' THEN 0 ELSE 1 END,
                                                  source_row) AS previous
          FROM "{table.name}" WHERE submission_id = :submission AND {person} IS NOT NULL
        ) AS events
        WHERE direction = 'EXIT' AND previous = 'EXIT'
        ORDER BY source_row LIMIT 100000""")
    return [Problem(row, params["date"], str(day), "exit_before_entry", {"person": who})
            for row, day, who in conn.execute(sql, {"submission": submission_id})]
