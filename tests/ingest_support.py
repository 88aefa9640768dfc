"""Shared pieces of the ingestion tests: databases on both engines, files built by hand.

Files here are written cell by cell, independently of the synthetic-data generator, so
the tests check the ingestion against what a person would type.
"""
from __future__ import annotations

import csv
import io
import itertools

import pytest
from sqlalchemy import select, func

from services import db
from services.datasets_db import dataset_table
from services.policy import Principal

_counter = itertools.count()

BORDER_HEADER = ["event_id", "event_date", "direction", "border_post", "person_id", "family_name", "given_name",
                 "nationality", "sex", "birth_date", "age"]


def border_row(n: int, **overrides) -> dict:
    row = {"event_id": f"E{n:06d}", "event_date": "2024-07-14", "direction": "ENTRY", "border_post": "AIR_TUN",
           "person_id": f"P{n:010d}", "family_name": "Ben Salah", "given_name": "Amira", "nationality": "TUN",
           "sex": "F", "birth_date": "1990-03-02", "age": "34"}
    row.update(overrides)
    return row


def csv_bytes(rows: list[dict], header=BORDER_HEADER, *, delimiter=",", encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return out.getvalue().encode(encoding)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    """A fresh database at head, on SQLite (the demo) and on PostgreSQL (deployments)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'marsad.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"t{next(_counter)}_{tmp_path.name[-8:]}".lower()
                                                                  .replace("-", "_"))
    eng = db.make_engine(url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def rows_in(engine, catalog, dataset: str) -> list[dict]:
    table = dataset_table(catalog.dataset(dataset))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.source_row))]


def count_rows(engine, catalog, dataset: str) -> int:
    table = dataset_table(catalog.dataset(dataset))
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def submitter(policies, dataset: str) -> Principal:
    from services.demo import submitter_of

    institution = submitter_of(policies, dataset)
    return Principal(username=f"{institution.lower()}.submitter", institution=institution,
                     roles=frozenset({"submitter"}))
