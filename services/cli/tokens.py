"""`marsad tokens`: local API tokens for the demo and sandboxes (production API clients use Keycloak)."""
from __future__ import annotations

import getpass

import click

from services import accounts, audit, db
from services.cli import EXIT_NOT_FOUND
from services.cli.common import ID
from services.config import settings
from services.identity import api_tokens


@click.group("tokens")
def tokens_group() -> None:
    """Local API tokens (demo and sandboxes only)."""


def _refuse_in_production() -> None:
    if settings().production:
        raise click.ClickException("production has no local API tokens: API clients authenticate with Keycloak "
                                   "client-credentials tokens")


@tokens_group.command("create")
@click.option("--user", "username", required=True, help="The local account the token acts as.")
@click.option("--label", default="", help="What the token is for, shown by `marsad tokens list`.")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Expire after this many days (default: never).")
def create(username: str, label: str, days: int | None) -> None:
    """Create a token acting as USER; it is printed once and only its hash is kept."""
    _refuse_in_production()
    with db.session() as s:
        account = accounts.find(s, username)
        if account is None or not account.active:
            click.echo(f"no active local account {username!r}", err=True)
            raise SystemExit(EXIT_NOT_FOUND)
        token, record = api_tokens.issue(s, username, label=label, days=days)
        audit.record(s, actor=f"operator:{getpass.getuser()}", institution=account.institution, action="api_token.create",
                     target=f"api_token:{record.id}", details={"user": username, "label": label, "days": days})
    click.echo(token)
    click.echo(f"token {record.id} for {username}: shown once, keep it now (only its hash is stored)", err=True)


@tokens_group.command("list")
@click.option("--user", "username", default=None)
def list_tokens(username: str | None) -> None:
    """Tokens and their state (never the tokens themselves)."""
    with db.session() as s:
        for t in api_tokens.listed(s, username):
            state = "revoked" if t.revoked_at else (f"expires {t.expires_at:%Y-%m-%d}" if t.expires_at else "active")
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
            click.echo(f"{t.id:>5}  {t.shown}…  {t.username:<28} {state:<18} {used:<18} {t.label}")


@tokens_group.command("revoke")
@click.argument("token_id", type=ID)
def revoke(token_id: int) -> None:
    """Revoke a token at once."""
    with db.session() as s:
        record = api_tokens.revoke(s, token_id)
        if record is None:
            click.echo(f"no token {token_id}", err=True)
            raise SystemExit(EXIT_NOT_FOUND)
        audit.record(s, actor=f"operator:{getpass.getuser()}", action="api_token.revoke", target=f"api_token:{token_id}",
                     details={"user": record.username})
    click.echo(f"token {token_id} revoked")


COMMANDS = [tokens_group]
