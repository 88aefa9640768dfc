"""What the command groups share: the operator principal and output helpers."""
from __future__ import annotations

import getpass
import json
import sys

import click

from services.languages import LANGUAGES
from services.policy import Principal

# Bounded integers: a number past what the database holds is a bad argument, not a driver's overflow.
ID = click.IntRange(1, 2**63 - 1)              # submissions, tokens, release versions
YEAR = click.IntRange(1900, 9999)
PORT = click.IntRange(1, 65535)

LANG_OPTION = click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True,
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
            from services.cli import EXIT_NOT_FOUND, Failure

            raise Failure(f"no local account {user!r}", EXIT_NOT_FOUND)
        return accounts.principal_of(account)
    return Principal(username=f"operator:{getpass.getuser()}", institution=institution, roles=frozenset({role}))


def emit_json(data) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
