"""What the command groups share: the operator principal and output helpers."""
from __future__ import annotations

import getpass
import json
import sys

import click

from services.policy import Principal

LANG_OPTION = click.option("--lang", type=click.Choice(["ar", "fr", "en"]), default="en", show_default=True,
                           help="Language of messages and reports.")


def operator(institution: str, role: str, user: str | None = None) -> Principal:
    """The principal a command acts as.

    With --user, a local account (demo and sandboxes). Otherwise the server's operator,
    acting for the institution and in the role the action needs; the policy decision
    still checks that this institution may do it, and the audit trail names the operator.
    """
    if user:
        from services import accounts, db

        with db.session() as s:
            account = accounts.find(s, user)
        if account is None:
            raise click.ClickException(f"no local account {user!r}")
        return accounts.principal_of(account)
    return Principal(username=f"operator:{getpass.getuser()}", institution=institution, roles=frozenset({role}))


def emit_json(data) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
