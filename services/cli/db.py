"""`marsad db`: schema upgrades."""
from __future__ import annotations

import click

from services import db


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def upgrade() -> None:
    """Apply Alembic migrations and create dataset tables from the catalog (idempotent)."""
    engine = db.default_engine()
    changes = db.upgrade(engine)
    for change in changes:
        click.echo(change)
    click.echo(f"database at head: {engine.url.render_as_string(hide_password=True)}")


COMMANDS = [db_group]
