"""What the portal's views share: the database engine, the object store, the catalog and the policies.

Built once per application (not per request) and reached through `runtime()`; each request
gets its own database session, closed when the request ends.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services import db

EXTENSION = "marsad"


@dataclass
class Runtime:
    engine: Engine
    store: Any = None
    catalog: Any = None
    _policies: Any = field(default=None, repr=False)

    @property
    def policies(self):
        # Loaded on first use: the policy files are read and checked once per process.
        if self._policies is None:
            from services.policy import default_policies

            self._policies = default_policies()
        return self._policies

    def object_store(self):
        if self.store is None:
            from services.storage import store_from_env

            self.store = store_from_env()
        return self.store


def init_app(app, config: dict) -> Runtime:
    from services.catalog import default_catalog

    rt = Runtime(
        engine=config.get("ENGINE") or db.engine_for(app.config["DATABASE_URL"]),
        store=config.get("STORE"),
        catalog=config.get("CATALOG") or default_catalog(),
        _policies=config.get("POLICIES"),
    )
    app.extensions[EXTENSION] = rt
    app.teardown_appcontext(_close_session)
    return rt


def runtime() -> Runtime:
    return current_app.extensions[EXTENSION]


def db_session() -> Session:
    """The request's database session (one per request, opened on first use)."""
    if "db" not in g:
        g.db = db.session(runtime().engine)
    return g.db


def _close_session(_exc) -> None:
    s = g.pop("db", None)
    if s is not None:
        s.close()
