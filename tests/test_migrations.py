"""The Alembic migrations build exactly the tables the models declare, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services import db
from tests.ingest_support import engine  # noqa: F401


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": db.include_object})
        diff = compare_metadata(context, db.migrated_metadata())
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_is_idempotent(engine):
    assert db.upgrade(engine) == []  # the fixture already upgraded: nothing left to do
