"""Database engine and schema upgrades: Alembic for the system's tables, the catalog for dataset tables."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.config import settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # integrity and concurrent readers
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def default_engine() -> Engine:
    return engine_for(settings().database_url)


def session(engine: Engine | None = None) -> Session:
    return Session(engine or default_engine(), expire_on_commit=False)


def migrated_metadata():
    """The metadata of every table the Alembic migrations own (importing the model modules registers them)."""
    from sqlmodel import SQLModel

    import services.identity.api_tokens  # noqa: F401  (local API tokens)
    import services.models  # noqa: F401  (submissions, audit, accounts)
    import services.models_indicators  # noqa: F401  (indicator cells and releases)

    return SQLModel.metadata


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Dataset tables (ds_*) follow the catalog (services/datasets_db.py), not the migrations."""
    table = obj.table.name if type_ in ("index", "column", "unique_constraint", "foreign_key_constraint") else name
    return not (table or "").startswith("ds_")


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, catalog=None) -> list[str]:
    """Bring the schema to the current code and catalog; returns what changed, for the operator."""
    from alembic import command

    from services import datasets_db
    from services.catalog import default_catalog

    with engine.begin() as conn:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return datasets_db.ensure_tables(engine, catalog or default_catalog())
