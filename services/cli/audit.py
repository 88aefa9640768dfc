"""`marsad audit`: read and verify the hash-chained audit trail."""
from __future__ import annotations

import sys

import click
from sqlmodel import select

from services import audit as trail
from services import db
from services.cli import EXIT_PROBLEMS
from services.models import AuditEntry


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
def verify() -> None:
    """Check the chain: report any altered, reordered or deleted entry; exit 1 if any."""
    with db.session() as s:
        report = trail.verify(s)
    for problem in report.problems:
        click.echo(problem, err=True)
    click.echo(f"{report.count} entries, head {report.head}")
    if not report.ok:
        click.echo(f"audit trail BROKEN: {len(report.problems)} problem(s)", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo("audit trail intact")


@audit_group.command("list")
@click.option("--limit", default=20, show_default=True)
@click.option("--action", default=None, help="Only entries of this action, e.g. submission.accept")
def list_entries(limit: int, action: str | None) -> None:
    """The latest entries, newest first."""
    with db.session() as s:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action:
            query = query.where(AuditEntry.action == action)
        for e in s.exec(query):
            click.echo(f"{e.id:>6}  {e.at:%Y-%m-%d %H:%M:%S}  {e.actor:<28} {e.action:<28} {e.target or ''}")


COMMANDS = [audit_group]
