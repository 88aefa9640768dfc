"""`marsad demo`: the embedded demo system."""
from __future__ import annotations

import click

from services import demo
from services.accounts import DEMO_PASSWORD
from services.cli.common import YEAR


@click.group("demo")
def demo_group() -> None:
    """The demo on embedded defaults (SQLite and a local object store under var/)."""


@demo_group.command("init")
@click.option("--year", default=2025, show_default=True, type=YEAR)
def init(year: int) -> None:
    """Create the database, demo accounts, and load a synthetic YEAR of every dataset (idempotent)."""
    demo.init(year=year, say=click.echo)


@demo_group.command("logins")
def logins() -> None:
    """Print the demo accounts."""
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for username, institution, role in demo.logins():
        click.echo(f"  {username:<28} {institution:<8} {role}")


COMMANDS = [demo_group]
