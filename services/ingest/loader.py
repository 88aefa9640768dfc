"""Writing validated rows into a dataset table inside the caller's transaction.

PostgreSQL gets COPY, streamed while validation goes on, so the database server parses
and stores rows on its own core while Python validates the next ones. Other databases
(SQLite in the demo) get batched inserts. Either way nothing is committed here: the
caller commits only when the whole file is valid.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterable

from sqlalchemy import Table, text
from sqlalchemy.engine import Connection

from services.catalog import Dataset
from services.ingest.validate import Problem

def write_rows(conn: Connection, table: Table, dataset: Dataset, batches: Iterable[list[tuple]],
               problems: list[Problem]) -> int:
    """Write batches of `(row_number, *values, submission_id, institution)` until the first problem;
    keep consuming the batches so that validation finishes and reports every problem."""
    columns = ["source_row", *dataset.field_names, "submission_id", "institution"]
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, columns, batches, problems)
    return _insert(conn, table, columns, batches, problems)


def _copy(conn, table, columns, batches, problems) -> int:
    """Batches arrive as blocks of COPY text (see RowValidator.as_text), sent by a thread of their own."""
    raw = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    written = 0
    # an empty text is NULL, as fields.NULL writes it
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN (NULL \'\')') as copy, \
            _Sender(copy.write) as send:
        for batch in batches:
            if problems:  # the load will be rolled back: stop sending, keep validating
                continue
            for block in batch:
                send(block)
                written += block.count("\n")
    return written


class _Sender:
    """Writes blocks on a thread of its own, so that validating the next block (Python, holding
    the GIL) overlaps sending this one (psycopg waits on the socket without the GIL) while the
    server stores rows on the other core. The queue is short: memory stays bounded."""

    def __init__(self, write):
        self.write, self.error = write, None
        self.queue: queue.Queue = queue.Queue(maxsize=8)
        self.thread = threading.Thread(target=self._run, name="copy-sender", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.send

    def send(self, block: str) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(block)

    def _run(self):
        while (block := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.write(block)
                except BaseException as err:  # kept for the caller; the queue is still drained
                    self.error = err

    def __exit__(self, *exc):
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error


def _insert(conn, table, columns, batches, problems) -> int:
    statement = table.insert()
    written = 0
    for batch in batches:
        if problems or not batch:  # an empty list would insert one row of defaults
            continue
        conn.execute(statement, [dict(zip(columns, row)) for row in batch])
        written += len(batch)
    return written


def exit_before_entry(conn: Connection, table: Table, params: dict, submission_id: int) -> list[Problem]:
    """Rows where a person exits twice with no entry between: the second exit has no entry before it.

    A first exit with no entry in the file is fine (the person entered before the period),
    which is why this checks consecutive events rather than every exit.
    """
    person, date, direction = (f'"{params[k]}"' for k in ("person", "date", "direction"))
    if not _someone_exits_twice(conn, table, person, direction, submission_id):
        return []  # an exit can follow an exit only for a person with two of them
    if conn.dialect.name == "postgresql":  # a million-row sort stays in memory instead of spilling to disk
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
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


def _someone_exits_twice(conn: Connection, table: Table, person: str, direction: str, submission_id: int) -> bool:
    """Whether some person has two exits in the submission: one pass over the exits, far cheaper
    than the full check's sort of every row by person and date, which it spares most files."""
    sql = text(f"""
        SELECT EXISTS (SELECT 1 FROM "{table.name}"
                       WHERE submission_id = :submission AND {direction} = 'EXIT' AND {person} IS NOT NULL
                       GROUP BY {person} HAVING count(*) > 1)""")
    if conn.dialect.name != "postgresql":
        return bool(conn.execute(sql, {"submission": submission_id}).scalar())
    # With no statistics yet on rows loaded in this transaction, PostgreSQL would sort the exits
    # by person; hashing them takes one pass and can stop at the first person found twice.
    # The setting is undone with the savepoint, so it holds for this query only.
    with conn.begin_nested() as savepoint:
        conn.execute(text("SET LOCAL enable_sort = off"))
        found = bool(conn.execute(sql, {"submission": submission_id}).scalar())
        savepoint.rollback()
    return found
